import type { ServiceConfig } from '../config/config.js';
import {
  createKafkaClients,
  refusalsAreFinal,
  requireTopics,
  type KafkaClients,
  type MessageProducer,
} from '../kafka/kafka-adapter.js';
import { loadScorer, type Scorer } from '../scoring/scorer.js';
import { openClickHouseSink, type ClickHouseOfferSink } from '../sinks/clickhouse-sink.js';
import { DeadLetterSink } from '../sinks/dead-letter-sink.js';
import { openRedisSink, type RedisOffers } from '../sinks/redis-offer-sinks.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { StartupCheck } from './startup.js';
import { SERVICE_VERSION } from './version.js';

// The first two phases of start-up: open the parts from their factories, then the list of
// checks they pass before the service consumes.

/** The parts of the pipeline, opened but not yet checked or connected to each other. */
export interface Parts {
  readonly scorer: Scorer;
  readonly clickhouse: ClickHouseOfferSink;
  readonly redis: RedisOffers;
  readonly kafka: KafkaClients;
  readonly producer: MessageProducer;
  readonly deadLetters: DeadLetterSink;
}

/** Opens the parts: loads the model (and names it in offers_build_info), makes the clients. */
export async function openParts(
  config: ServiceConfig,
  logger: Logger,
  metrics: Metrics,
): Promise<Parts> {
  const scorer = await loadScorer(config.model.path, {
    intraOpThreads: config.model.threads,
    workers: config.model.workers,
    expectedSha256: config.model.sha256,
    observer: (layout) => metrics.model.observer(layout),
  });
  logger.info(
    { modelVersion: scorer.modelVersion, modelSha256: scorer.modelDigest, path: config.model.path },
    'model loaded',
  );
  metrics.buildInfo.set(
    {
      version: SERVICE_VERSION,
      model_version: scorer.modelVersion,
      model_sha256: scorer.modelDigest,
      node_version: process.version,
    },
    1,
  );
  const kafka = createKafkaClients(config.kafka, logger);
  const producer = kafka.producer();
  return {
    scorer,
    clickhouse: openClickHouseSink(config.clickhouse, logger, SERVICE_VERSION),
    redis: openRedisSink(config.redis, logger),
    kafka,
    producer,
    deadLetters: new DeadLetterSink({
      kafka,
      producer,
      topic: config.kafka.dlqTopic,
      groupId: config.kafka.groupId,
      logger,
    }),
  };
}

/** What start-up checks, in order, before the service consumes. */
export function startupChecks(config: ServiceConfig, parts: Parts, logger: Logger): StartupCheck[] {
  const { kafka } = parts;
  return [
    // With CLICKHOUSE_CREATE_TABLE, the migration first; then what writing needs.
    { part: 'ClickHouse', check: () => parts.clickhouse.healthcheck() },
    {
      part: 'Redis',
      check: async () => {
        await parts.redis.healthcheck();
        logger.info({ mode: config.redis.mode }, 'redis connected');
      },
    },
    {
      part: 'Kafka',
      check: () =>
        refusalsAreFinal(async () => {
          // One try per attempt: the start-up window retries, and a refusal ends it at once.
          const admin = await kafka.admin({ attempts: 1 });
          try {
            await requireTopics(admin, [config.kafka.topic, config.kafka.dlqTopic]);
          } finally {
            await admin.disconnect();
          }
        }),
    },
    { part: 'Kafka', check: () => refusalsAreFinal(() => parts.producer.connect()) },
    { part: 'Kafka', check: () => refusalsAreFinal(() => parts.deadLetters.healthcheck()) },
  ];
}
