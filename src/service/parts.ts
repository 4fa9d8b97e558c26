import { trace } from '@opentelemetry/api';

import type { ServiceConfig } from '../config/config.js';
import { errorMessage, OfferError } from '../errors.js';
import {
  createKafkaClients,
  refusalsAreFinal,
  requireTopics,
  type BatchHandler,
  type KafkaClients,
  type MessageProducer,
} from '../kafka/kafka-adapter.js';
import { createBatchProcessor } from '../pipeline/batch-processor.js';
import { createPipelineObserver } from '../pipeline/chunk-observer.js';
import { SinkHealth } from '../pipeline/sink-health.js';
import { loadScorer, type Scorer } from '../scoring/scorer.js';
import { openClickHouseSink, type ClickHouseOfferSink } from '../sinks/clickhouse-sink.js';
import { DeadLetterSink } from '../sinks/dead-letter-sink.js';
import { openRedisSink, type RedisOffers } from '../sinks/redis-offer-sinks.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { TRACER_NAME } from '../telemetry/semconv.js';
import type { Tracing } from '../telemetry/tracing.js';
import type { StartupCheck } from './startup.js';
import { SERVICE_VERSION } from './version.js';

// The first two phases of start-up: open the parts from their factories, then the list of
// checks they pass before the service consumes.

/** A candidate model scored on the same batches, and the table of its rows (never Redis). */
export interface ShadowParts {
  readonly scorer: Scorer;
  /** The shadow table's sink (`clickhouse_shadow`). */
  readonly sink: ClickHouseOfferSink;
}

/** The parts of the pipeline, opened but not yet checked or connected to each other. */
export interface Parts {
  readonly scorer: Scorer;
  /** Present when MODEL_SHADOW_PATH is set. */
  readonly shadow?: ShadowParts;
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
  // The live model's worker threads would keep a process that cannot start alive.
  const shadow = await openShadow(config, logger, metrics).catch(async (error: unknown) => {
    await scorer.close();
    throw error;
  });
  const kafka = createKafkaClients(config.kafka, logger);
  const producer = kafka.producer();
  return {
    scorer,
    ...(shadow === undefined ? {} : { shadow }),
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

/**
 * The shadow model, loaded like the live one (same threads and workers), and its table's
 * sink; undefined when MODEL_SHADOW_PATH is empty. A model that cannot be used stops start-up
 * naming MODEL_SHADOW_PATH.
 */
async function openShadow(
  config: ServiceConfig,
  logger: Logger,
  metrics: Metrics,
): Promise<ShadowParts | undefined> {
  const { shadow } = config.model;
  if (shadow === undefined) return undefined;
  let scorer: Scorer;
  try {
    scorer = await loadScorer(shadow.path, {
      intraOpThreads: config.model.threads,
      workers: config.model.workers,
      expectedSha256: shadow.sha256,
      sha256Variable: 'MODEL_SHADOW_SHA256',
      observer: (layout) => metrics.model.shadowObserver(layout),
    });
  } catch (error) {
    throw new OfferError(
      'MODEL_INVALID',
      `MODEL_SHADOW_PATH (${shadow.path}) is not a model the service can score with: ${errorMessage(error)}; deliver the file or leave MODEL_SHADOW_PATH empty (no shadow scoring)`,
      { retriable: false, cause: error },
    );
  }
  logger.info(
    {
      modelVersion: scorer.modelVersion,
      modelSha256: scorer.modelDigest,
      path: shadow.path,
      table: config.clickhouse.shadowTable,
    },
    'shadow model loaded',
  );
  return {
    scorer,
    sink: openClickHouseSink(config.clickhouse, logger, SERVICE_VERSION, 'shadow'),
  };
}

/** The batch processor's `shadow` dependency: there only with a shadow model. */
export function shadowScoring(parts: Parts): { shadow?: ShadowParts } {
  return parts.shadow === undefined ? {} : { shadow: parts.shadow };
}

/** What sends the ClickHouse writes waiting for their window now: the offers', and the shadow's. */
export function clickhouseFlush(parts: Parts): () => void {
  return () => {
    parts.clickhouse.flushNow();
    parts.shadow?.sink.flushNow();
  };
}

/** Closes the shadow table's client, then the shadow model (after its running batches). */
export async function closeShadow(parts: Parts): Promise<void> {
  if (parts.shadow === undefined) return;
  await parts.shadow.sink.close();
  await parts.shadow.scorer.close();
}

/** What start-up checks, in order, before the service consumes. */
export function startupChecks(config: ServiceConfig, parts: Parts, logger: Logger): StartupCheck[] {
  const { kafka, shadow } = parts;
  return [
    // With CLICKHOUSE_CREATE_TABLE, the migration first; then what writing needs.
    { part: 'ClickHouse', check: () => parts.clickhouse.healthcheck() },
    ...(shadow === undefined
      ? []
      : [{ part: 'ClickHouse', check: () => shadow.sink.healthcheck() }]),
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

/** What the batch processor over the parts reports to, and pauses. */
export interface ProcessorWiring {
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly tracing: Tracing;
  readonly consumer: { pauseFetching(): void; resumeFetching(): void };
  readonly onAcknowledged?: (partition: number, scored: number, deadLettered: number) => void;
  readonly onFatal: (error: unknown) => void;
}

/**
 * The batch processor over the open parts (the live model and its shadow, the three sinks),
 * with the sinks' health pausing the consumer's fetching: the service's and the replay's.
 */
export function partsProcessor(
  config: ServiceConfig,
  parts: Parts,
  { metrics, logger, tracing, consumer, onAcknowledged, onFatal }: ProcessorWiring,
): { processor: BatchHandler; health: SinkHealth } {
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
  const processor = createBatchProcessor({
    scorer: parts.scorer,
    ...shadowScoring(parts),
    sinks: { clickhouse: parts.clickhouse, redis: parts.redis, deadLetters: parts.deadLetters },
    retry: { ...config.sinkRetry, health, metrics },
    settings: {
      messageMaxBytes: config.messageMaxBytes,
      batchMaxMessages: config.batchMaxMessages,
      alignChunksToOffsets: config.clickhouse.cluster !== '',
    },
    observer: createPipelineObserver({
      metrics,
      logger,
      ...(tracing.enabled ? { tracer: trace.getTracer(TRACER_NAME) } : {}),
      groupId: config.kafka.groupId,
      ...(onAcknowledged === undefined ? {} : { onAcknowledged }),
    }),
    onFatal,
  });
  return { processor, health };
}
