import { trace } from '@opentelemetry/api';
import { Redis } from 'ioredis';

import type { ServiceConfig } from '../config/config.js';
import { errorMessage, OfferError } from '../errors.js';
import { startHttpServer, type ReadinessReport, type RunningHttpServer } from '../http/server.js';
import {
  createKafkaClients,
  groupPositions,
  kafkaRefusal,
  type RegistrationConsumer,
} from '../kafka/kafka-adapter.js';
import { loadScorer } from '../scoring/scorer.js';
import { migrate } from '../sinks/clickhouse-migration.js';
import { ClickHouseOfferSink, createClickHouseClient } from '../sinks/clickhouse-sink.js';
import { DeadLetterSink } from '../sinks/dead-letter-sink.js';
import { createRedisClusterClient, RedisClusterOfferSink } from '../sinks/redis-cluster-sink.js';
import { createRedisClient, RedisOfferSink } from '../sinks/redis-sink.js';
import type { Logger } from '../telemetry/logger.js';
import { createMetrics, type Metrics } from '../telemetry/metrics.js';
import { TRACER_NAME } from '../telemetry/semconv.js';
import type { Tracing } from '../telemetry/tracing.js';
import { createBatchProcessor } from '../pipeline/batch-processor.js';
import { SinkHealth } from '../pipeline/sink-health.js';
import { createShutdown, GroupMembership } from './lifecycle.js';
import { networkPolicyHint, StartupWindow } from './startup.js';
import { SERVICE_VERSION } from './version.js';

/** A Kafka call at start whose refusals (SASL, TLS certificates, authorization) end start-up at once. */
async function refusalsAreFinal<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof OfferError) throw error;
    throw kafkaRefusal(error) ?? error;
  }
}

export interface OfferService {
  readonly httpPort: number;
  readonly metrics: Metrics;
  /** Resolves with the exit code once the service has stopped, for whatever reason. */
  readonly stopped: Promise<number>;
  /** Stops fetching, finishes and commits in-flight batches, disconnects. */
  stop(reason: string): Promise<number>;
}

/**
 * Wires the pipeline: model, sinks, Kafka consumer and DLQ producer, HTTP endpoints.
 * The HTTP server listens first, so that /healthz answers from the first second and /readyz
 * says which stores start-up still awaits. Start-up fails fast (model missing, a refusal,
 * the table not writable) or after the start-up window (a store that never answered); after
 * start, sink outages are waited out and only unrecoverable failures stop the service
 * (exit code 1).
 */
export async function startOfferService(
  config: ServiceConfig,
  logger: Logger,
  tracing: Tracing,
): Promise<OfferService> {
  const metrics = createMetrics(tracing.stats);
  const awaiting = new Set(['model', 'ClickHouse', 'Redis', 'Kafka']);
  let readiness = (): ReadinessReport => ({
    ready: false,
    awaiting: [...awaiting],
    checks: Object.fromEntries([...awaiting].map((part) => [part, 'awaited at start-up'])),
  });
  const http = await startHttpServer({
    host: config.http.host,
    port: config.http.port,
    registry: metrics.registry,
    logger,
    readiness: () => readiness(),
  });
  try {
    return await startPipeline(config, logger, tracing, {
      metrics,
      http,
      started: (part) => awaiting.delete(part),
      ready: (report) => {
        readiness = report;
      },
    });
  } catch (error) {
    await http.close();
    throw error;
  }
}

interface StartupHooks {
  readonly metrics: Metrics;
  readonly http: RunningHttpServer;
  /** A part start-up awaited has answered. */
  readonly started: (part: string) => void;
  /** Start-up is done: readiness from now on. */
  readonly ready: (report: () => ReadinessReport) => void;
}

async function startPipeline(
  config: ServiceConfig,
  logger: Logger,
  tracing: Tracing,
  { metrics, http, started, ready }: StartupHooks,
): Promise<OfferService> {
  const scorer = await loadScorer(config.model.path, {
    intraOpThreads: config.model.threads,
    workers: config.model.workers,
  });
  started('model');
  logger.info({ modelVersion: scorer.modelVersion, path: config.model.path }, 'model loaded');

  const clickhouseClient = createClickHouseClient(config.clickhouse, logger);
  // The config's sub-objects are the components' options.
  const clickhouse = new ClickHouseOfferSink(clickhouseClient, config.clickhouse);
  const startup = new StartupWindow(
    config.startupTimeoutMs,
    logger,
    {},
    config.networkPolicy ? networkPolicyHint : undefined,
  );
  if (config.clickhouse.createTable) {
    const migration = await startup.ready('ClickHouse', () =>
      migrate(clickhouseClient, config.clickhouse, { serviceVersion: SERVICE_VERSION }),
    );
    logger.info(
      { applied: migration.applied, server: migration.server.text },
      'clickhouse table migrated',
    );
  }
  await startup.ready('ClickHouse', () => clickhouse.healthcheck());
  started('ClickHouse');

  metrics.buildInfo.set(
    { version: SERVICE_VERSION, model_version: scorer.modelVersion, node_version: process.version },
    1,
  );
  metrics.consumed.inc({ topic: config.kafka.topic }, 0);

  const redisClient =
    config.redis.mode === 'cluster'
      ? createRedisClusterClient(config.redis.nodes, {
          ...(config.redis.tls === undefined ? {} : { tls: config.redis.tls }),
        })
      : createRedisClient(config.redis.url, config.redis.tls);
  redisClient.on('error', (error: unknown) => {
    logger.debug({ err: errorMessage(error) }, 'redis connection error');
  });
  const redis =
    redisClient instanceof Redis
      ? new RedisOfferSink(redisClient, config.redis)
      : new RedisClusterOfferSink(redisClient, config.redis);
  await startup.ready('Redis', () => redis.healthcheck());
  started('Redis');
  logger.info({ mode: config.redis.mode }, 'redis connected');

  const kafka = createKafkaClients(config.kafka, logger);
  await startup.ready('Kafka', () =>
    refusalsAreFinal(async () => {
      // One try per attempt: the start-up window retries, and a refusal ends it at once.
      const admin = await kafka.admin({ attempts: 1 });
      try {
        if ((await admin.missingTopics([config.kafka.topic])).length > 0) {
          throw new Error(
            `Kafka topic ${config.kafka.topic} does not exist or this client may not see it (Describe ACL); create it first (realtime-offers topics, or the chart's KafkaTopic resources)`,
          );
        }
      } finally {
        await admin.disconnect();
      }
    }),
  );
  const positions = groupPositions(() => kafka.admin(), config.kafka.groupId, config.kafka.topic);
  metrics.groupPositions.use(async () =>
    (await positions.read()).map((position) => ({ ...position, topic: config.kafka.topic })),
  );
  const producer = kafka.producer();
  await startup.ready('Kafka', () => refusalsAreFinal(() => producer.connect()));
  const deadLetters = new DeadLetterSink({
    kafka,
    producer,
    topic: config.kafka.dlqTopic,
    groupId: config.kafka.groupId,
    logger,
  });
  await startup.ready('Kafka', () => refusalsAreFinal(() => deadLetters.healthcheck()));
  started('Kafka');

  const group = new GroupMembership({
    sessionTimeoutMs: config.kafka.sessionTimeoutMs,
    // Read only once the consumer below exists.
    lastContactMs: () => consumer.lastContactMs(),
    metrics,
  });

  const consumer: RegistrationConsumer = kafka.consumer(config.kafka, {
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
      void shutdown.stop('kafka consumer crashed', 1);
    },
  });
  const health = new SinkHealth({
    metrics,
    logger,
    onPause: () => {
      consumer.pauseFetching();
    },
    onResume: () => {
      consumer.resumeFetching();
    },
  });

  const contactWatch = setInterval(() => group.inGroup, 1_000);
  contactWatch.unref();

  const shutdown = createShutdown({
    graceMs: config.shutdownGraceMs,
    logger,
    onStopping: () => {
      clearInterval(contactWatch);
    },
    steps: {
      drain: () => consumer.stop(),
      flush: () => {
        clickhouse.flushNow();
      },
      close: [
        () => producer.disconnect(),
        () => redisClient.quit(),
        () => clickhouseClient.close(),
        // The offsets' admin client after the HTTP server: a scrape would connect it again.
        () => http.close().then(() => positions.close()),
        () => scorer.close(),
      ],
      flushTelemetry: () => tracing.shutdown(),
    },
  });

  ready(() => {
    const inGroup = group.inGroup;
    const stopping = shutdown.stopping;
    const checks = {
      model: true,
      consumer_in_group: inGroup,
      redis_connected: redis.ready,
      sinks: health.healthy ? true : health.failures,
      stopping,
    };
    return {
      ready: inGroup && redis.ready && health.healthy && !stopping,
      checks,
    };
  });

  const processor = createBatchProcessor({
    scorer,
    clickhouse,
    redis,
    deadLetters,
    ...(tracing.enabled ? { tracer: trace.getTracer(TRACER_NAME) } : {}),
    health,
    metrics,
    logger,
    settings: {
      groupId: config.kafka.groupId,
      table: config.clickhouse.table,
      messageMaxBytes: config.messageMaxBytes,
      batchMaxMessages: config.batchMaxMessages,
      alignChunksToOffsets: config.clickhouse.cluster !== '',
      retryInitialMs: config.sinkRetry.initialMs,
      retryMaxMs: config.sinkRetry.maxMs,
    },
    onFatal: (error) => {
      logger.fatal({ err: errorMessage(error) }, 'unrecoverable failure; stopping without commit');
      void shutdown.stop('fatal error', 1);
    },
  });

  await consumer.start(processor);
  logger.info(
    { topic: config.kafka.topic, groupId: config.kafka.groupId, dlqTopic: config.kafka.dlqTopic },
    'consuming',
  );

  return {
    httpPort: http.port,
    metrics,
    stopped: shutdown.stopped,
    stop: (reason) => shutdown.stop(reason),
  };
}
