import type { ServiceConfig } from '../config/config.js';
import { errorMessage } from '../errors.js';
import { startHttpServer, type RunningHttpServer } from '../http/server.js';
import {
  groupPositions,
  type ConsumerEvents,
  type GroupPositions,
  type KafkaClients,
} from '../kafka/kafka-adapter.js';
import type { Logger } from '../telemetry/logger.js';
import { createMetrics, type Metrics } from '../telemetry/metrics.js';
import type { Tracing } from '../telemetry/tracing.js';
import { createShutdown, GroupMembership } from './lifecycle.js';
import {
  clickhouseFlush,
  closeShadow,
  openParts,
  partsProcessor,
  startupChecks,
  type Parts,
} from './parts.js';
import { Readiness } from './readiness.js';
import { networkPolicyHint, runStartupChecks, StartupWindow } from './startup.js';

export interface OfferService {
  readonly httpPort: number;
  readonly metrics: Metrics;
  /** Resolves with the exit code once the service has stopped, for whatever reason. */
  readonly stopped: Promise<number>;
  /** Stops fetching, finishes and commits in-flight batches, disconnects. */
  stop(reason: string): Promise<number>;
}

/** What the service runs with from its first second: metrics, `/healthz`, `/readyz`. */
interface Base {
  readonly config: ServiceConfig;
  readonly logger: Logger;
  readonly tracing: Tracing;
  readonly metrics: Metrics;
  readonly readiness: Readiness;
  readonly http: RunningHttpServer;
}

/**
 * Starts the service in three phases: open the parts (model, sinks, Kafka clients), check
 * them through one start-up list, then wire consumer -> processor -> lifecycle. The HTTP
 * server listens first, so that /healthz answers from the first second and /readyz says
 * which parts start-up still awaits. Start-up fails fast (model missing, a refusal, the
 * table not writable) or after the start-up window (a store that never answered); after
 * start, sink outages are waited out and only unrecoverable failures stop the service
 * (exit code 1).
 */
export async function startOfferService(
  config: ServiceConfig,
  logger: Logger,
  tracing: Tracing,
): Promise<OfferService> {
  const metrics = createMetrics(tracing.stats, { shadow: config.model.shadow !== undefined });
  const readiness = new Readiness(['model', 'ClickHouse', 'Redis', 'Kafka']);
  const http = await startHttpServer({
    host: config.http.host,
    port: config.http.port,
    registry: metrics.registry,
    logger,
    readiness: () => readiness.report(),
  });
  const base: Base = { config, logger, tracing, metrics, readiness, http };
  try {
    const parts = await openParts(config, logger, metrics);
    readiness.modelLoaded({ version: parts.scorer.modelVersion, sha256: parts.scorer.modelDigest });
    const window = new StartupWindow(
      config.startupTimeoutMs,
      logger,
      {},
      config.networkPolicy ? networkPolicyHint : undefined,
    );
    await runStartupChecks(window, startupChecks(config, parts, logger), (part) => {
      readiness.started(part);
    });
    return await wirePipeline(base, parts);
  } catch (error) {
    await http.close();
    throw error;
  }
}

/** The consumer's group events: membership, log lines, and a stop when it will not restart. */
function consumerEvents(
  { logger, metrics }: Base,
  group: GroupMembership,
  requestStop: (reason: string) => void,
): ConsumerEvents {
  return {
    onGroupJoin: (memberId, partitions) => {
      group.joined();
      logger.info({ memberId, partitions }, 'joined consumer group');
    },
    onRebalancing: () => {
      logger.info('consumer group is rebalancing');
    },
    onMembershipLost: (reason) => {
      metrics.kafkaMembershipLost.inc();
      logger.warn({ reason }, 'the group no longer accepts this member; re-joining');
    },
    onCrash: (error, willRestart) => {
      if (willRestart) {
        logger.warn({ err: errorMessage(error) }, 'kafka consumer crashed; it restarts itself');
        group.left();
        return;
      }
      logger.fatal({ err: errorMessage(error) }, 'kafka consumer crashed and will not restart');
      requestStop('kafka consumer crashed');
    },
  };
}

/** The group's lag, end and committed offsets on /metrics, read from Kafka when scraped. */
function scrapeGroupPositions({ config, metrics }: Base, kafka: KafkaClients): GroupPositions {
  const { topic, groupId } = config.kafka;
  const positions = groupPositions(() => kafka.admin(), groupId, topic);
  metrics.groupPositions.use(async () =>
    (await positions.read()).map((position) => ({ ...position, topic })),
  );
  return positions;
}

async function wirePipeline(base: Base, parts: Parts): Promise<OfferService> {
  const { config, logger, tracing, metrics, readiness, http } = base;
  const { scorer, clickhouse, redis, kafka, producer } = parts;
  const { topic, groupId, dlqTopic } = config.kafka;
  metrics.consumed.inc({ topic }, 0);
  const positions = scrapeGroupPositions(base, kafka);

  // A stop the parts ask for (a consumer that will not restart, a failure no retry can fix),
  // carried out by the shutdown below.
  const stopRequest = new AbortController();
  const requestStop = (reason: string) => {
    stopRequest.abort(reason);
  };
  const group = new GroupMembership({ sessionTimeoutMs: config.kafka.sessionTimeoutMs });
  const consumer = kafka.consumer(config.kafka, consumerEvents(base, group, requestStop));
  const membership = () => group.status(consumer.lastContactMs());
  metrics.membership.use(membership);
  const { processor, health } = partsProcessor(config, parts, {
    metrics,
    logger,
    tracing,
    consumer,
    onFatal: (error) => {
      logger.fatal({ err: errorMessage(error) }, 'unrecoverable failure; stopping without commit');
      requestStop('fatal error');
    },
  });
  const shutdown = createShutdown({
    graceMs: config.shutdownGraceMs,
    logger,
    steps: {
      drain: () => consumer.stop(),
      flush: clickhouseFlush(parts),
      close: [
        () => producer.disconnect(),
        () => redis.close(),
        () => clickhouse.close(),
        // The offsets' admin client after the HTTP server: a scrape would connect it again.
        () => http.close().then(() => positions.close()),
        () => scorer.close(),
        () => closeShadow(parts),
      ],
      flushTelemetry: () => tracing.shutdown(),
    },
  });
  const stopOnRequest = () => void shutdown.stop(String(stopRequest.signal.reason), 1);
  stopRequest.signal.addEventListener('abort', stopOnRequest, { once: true });
  readiness.running({
    inGroup: () => membership().inGroup,
    redisConnected: () => redis.ready,
    sinks: () => (health.healthy ? true : health.failures),
    stopping: () => shutdown.stopping,
  });

  await consumer.start(processor);
  logger.info({ topic, groupId, dlqTopic }, 'consuming');
  return {
    httpPort: http.port,
    metrics,
    stopped: shutdown.stopped,
    stop: (reason) => shutdown.stop(reason),
  };
}
