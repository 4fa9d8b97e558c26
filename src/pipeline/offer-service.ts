import { trace } from '@opentelemetry/api';

import type { ServiceConfig } from '../config/config.js';
import { errorMessage } from '../errors.js';
import { startHttpServer, type RunningHttpServer } from '../http/server.js';
import { createKafkaClients, type RegistrationConsumer } from '../kafka/kafka-adapter.js';
import { loadScorer } from '../scoring/scorer.js';
import { migrate } from '../sinks/clickhouse-schema.js';
import {
  ClickHouseOfferSink,
  createClickHouseClient,
  toClickHouseFailure,
} from '../sinks/clickhouse-sink.js';
import { createRedisClient, RedisOfferSink, toRedisFailure } from '../sinks/redis-sink.js';
import type { Logger } from '../telemetry/logger.js';
import { createMetrics, type Metrics } from '../telemetry/metrics.js';
import { TRACER_NAME } from '../telemetry/semconv.js';
import type { Tracing } from '../telemetry/tracing.js';
import { createBatchProcessor } from './batch-processor.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from './dead-letter.js';
import { SinkHealth } from './sink-health.js';

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
 * Start-up fails fast (model missing, Redis unreachable, topic missing); after start, sink
 * outages are waited out and only unrecoverable failures stop the service (exit code 1).
 */
export async function startOfferService(
  config: ServiceConfig,
  logger: Logger,
  tracing: Tracing,
): Promise<OfferService> {
  const metrics = createMetrics(tracing.stats);
  const scorer = await loadScorer(config.model.path, { intraOpThreads: config.model.threads });
  logger.info({ modelVersion: scorer.modelVersion, path: config.model.path }, 'model loaded');

  const clickhouseClient = createClickHouseClient(config.clickhouse);
  // A wrong user or password stops start-up here rather than at the first insert (until
  // which /readyz would report ready); an unreachable server is left to the write retries.
  await clickhouseClient.query({ query: 'SELECT 1', format: 'JSONEachRow' }).then(
    (result) => result.json(),
    (error: unknown) => {
      const failure = toClickHouseFailure(error, 'start-up check');
      if (!failure.retriable) throw failure;
      logger.warn(
        { err: errorMessage(failure) },
        'ClickHouse not reachable at start; writes will retry',
      );
    },
  );
  if (config.clickhouse.createTable) {
    await migrate(clickhouseClient, config.clickhouse.database, config.clickhouse.table).catch(
      (error: unknown) => {
        throw toClickHouseFailure(error, 'table creation');
      },
    );
  }
  const clickhouse = new ClickHouseOfferSink(clickhouseClient, {
    database: config.clickhouse.database,
    table: config.clickhouse.table,
    windowMs: config.clickhouse.insertWindowMs,
    maxRows: config.clickhouse.insertMaxRows,
    deduplicationToken: config.clickhouse.deduplicationToken,
  });

  const redisClient = createRedisClient(config.redis.url);
  let lastRedisError = '';
  redisClient.on('error', (error: unknown) => {
    lastRedisError = errorMessage(error);
    logger.debug({ err: lastRedisError }, 'redis connection error');
  });
  await redisClient.connect().catch((error: unknown) => {
    // ioredis rejects with "Connection is closed." and reports the cause (WRONGPASS, NOAUTH,
    // ECONNREFUSED) only as an error event: name the cause.
    const cause = lastRedisError === '' ? '' : ` (${lastRedisError})`;
    throw toRedisFailure(new Error(`${errorMessage(error)}${cause}`), 'connection');
  });
  const redis = new RedisOfferSink(redisClient, {
    keyPrefix: config.redis.keyPrefix,
    ttlSeconds: config.redis.ttlSeconds,
  });

  const kafka = createKafkaClients(config.kafka, logger);
  const admin = await kafka.admin();
  let dlqMaxMessageBytes: number;
  try {
    const missing = await admin.missingTopics([config.kafka.topic, config.kafka.dlqTopic]);
    if (missing.length > 0) {
      throw new Error(
        `Kafka topic(s) ${missing.join(', ')} do not exist or this client may not see them (Describe ACL); create them first (realtime-offers topics, or the chart's KafkaTopic resources)`,
      );
    }
    // Dead letters are cut to fit the DLQ topic's record limit, so one never blocks a partition.
    dlqMaxMessageBytes = await admin
      .topicConfig(config.kafka.dlqTopic, 'max.message.bytes')
      .then((value) => {
        const bytes = Number(value);
        if (!Number.isInteger(bytes) || bytes <= 0) throw new Error(`unexpected value ${value}`);
        return bytes;
      })
      .catch((error: unknown) => {
        logger.warn(
          {
            topic: config.kafka.dlqTopic,
            assumedBytes: DEFAULT_MAX_MESSAGE_BYTES,
            err: errorMessage(error),
          },
          "could not read the DLQ topic's max.message.bytes (DescribeConfigs ACL); dead letters are cut to the broker default",
        );
        return DEFAULT_MAX_MESSAGE_BYTES;
      });
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer();
  await producer.connect();

  let joined = false;
  let stopping = false;
  let resolveStopped: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((resolve) => {
    resolveStopped = resolve;
  });

  const consumer: RegistrationConsumer = kafka.consumer(
    {
      groupId: config.kafka.groupId,
      topic: config.kafka.topic,
      fromBeginning: config.kafka.fromBeginning,
      partitionsConcurrency: config.kafka.partitionsConcurrency,
      maxBytesPerPartition: config.kafka.maxBytesPerPartition,
      sessionTimeoutMs: config.kafka.sessionTimeoutMs,
      heartbeatIntervalMs: config.kafka.heartbeatIntervalMs,
      metadataMaxAgeMs: config.kafka.metadataMaxAgeMs,
    },
    {
      onGroupJoin: (memberId, partitions) => {
        joined = true;
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
          joined = false;
          return;
        }
        logger.fatal({ err: errorMessage(error) }, 'kafka consumer crashed and will not restart');
        void stop('kafka consumer crashed', 1);
      },
    },
  );
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

  // Joined once is not enough: a member that heard nothing from the brokers for a whole
  // session timeout (network cut, brokers down) has lost its partitions to the others.
  const kafkaInGroup = (): boolean => {
    const ageMs = Date.now() - consumer.lastContactMs();
    const inGroup = joined && ageMs <= config.kafka.sessionTimeoutMs;
    metrics.kafkaInGroup.set(inGroup ? 1 : 0);
    metrics.kafkaContactAgeSeconds.set(consumer.lastContactMs() === 0 ? 0 : ageMs / 1000);
    return inGroup;
  };
  const contactWatch = setInterval(kafkaInGroup, 1_000);
  contactWatch.unref();

  const http: RunningHttpServer = await startHttpServer({
    host: config.http.host,
    port: config.http.port,
    registry: metrics.registry,
    logger,
    readiness: () => {
      const inGroup = kafkaInGroup();
      const checks = {
        model: true,
        consumer_in_group: inGroup,
        redis_connected: redis.ready,
        sinks: health.healthy ? true : JSON.stringify(health.failures),
        stopping,
      };
      return {
        ready: inGroup && redis.ready && health.healthy && !stopping,
        checks,
      };
    },
  });

  let stopPromise: Promise<number> | undefined;
  const stop = (reason: string, exitCode = 0): Promise<number> => {
    stopPromise ??= (async () => {
      stopping = true;
      clearInterval(contactWatch);
      logger.info({ reason }, 'stopping: finishing in-flight batches');
      let code = exitCode;
      const grace = setTimeout(() => {
        logger.error(
          { graceMs: config.shutdownGraceMs },
          'shutdown grace period elapsed; exiting with uncommitted batches (they will be redelivered)',
        );
        resolveStopped(1);
      }, config.shutdownGraceMs);
      grace.unref();
      try {
        // Waits for running batches, which commit as they finish; the ClickHouse window
        // timer still fires, so no write waits for more rows that will never come.
        await consumer.stop();
      } catch (error) {
        logger.error({ err: errorMessage(error) }, 'consumer did not stop cleanly');
        code = 1;
      }
      clickhouse.flushNow();
      await Promise.allSettled([
        producer.disconnect(),
        redisClient.quit(),
        clickhouseClient.close(),
        http.close(),
        scorer.close(),
      ]);
      // Last, so the spans of the final batches are exported.
      await tracing.shutdown();
      clearTimeout(grace);
      logger.info({ code }, 'stopped');
      resolveStopped(code);
      return code;
    })();
    return stopPromise;
  };

  const processor = createBatchProcessor({
    scorer,
    clickhouse,
    redis,
    deadLetters: producer,
    ...(tracing.enabled ? { tracer: trace.getTracer(TRACER_NAME) } : {}),
    health,
    metrics,
    logger,
    settings: {
      groupId: config.kafka.groupId,
      table: config.clickhouse.table,
      dlqTopic: config.kafka.dlqTopic,
      dlqMaxMessageBytes,
      messageMaxBytes: config.messageMaxBytes,
      batchMaxMessages: config.batchMaxMessages,
      retryInitialMs: config.sinkRetry.initialMs,
      retryMaxMs: config.sinkRetry.maxMs,
    },
    onFatal: (error) => {
      logger.fatal({ err: errorMessage(error) }, 'unrecoverable failure; stopping without commit');
      void stop('fatal error', 1);
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
    stopped,
    stop: (reason) => stop(reason),
  };
}
