import type { Tracer } from '@opentelemetry/api';

import type { Registration } from '../contract/registration.js';
import { errorMessage, OfferError } from '../errors.js';
import type {
  BatchContext,
  BatchHandler,
  InboundBatch,
  InboundMessage,
} from '../kafka/kafka-adapter.js';
import type { Predictions } from '../scoring/predictions.js';
import type { RejectedMessage } from '../sinks/dead-letter-sink.js';
import type { StoredOffer } from '../sinks/offer-record.js';
import type { Sink } from '../sinks/sink.js';
import type { Logger } from '../telemetry/logger.js';
import { withContext } from '../telemetry/message-tracing.js';
import type { Metrics } from '../telemetry/metrics.js';
import { ATTR } from '../telemetry/semconv.js';
import { observeChunk, type ChunkObserver, type ObserverDependencies } from './chunk-observer.js';
import { chunkBounds, decodeChunk, toStoredOffers } from './chunk-stages.js';
import { decideFailure } from './failure-policy.js';
import type { SinkHealth } from './sink-health.js';
import { sinkWrite, writeAll, type RetrySettings } from './write-all.js';

/** What the processor needs from its collaborators; the real ones are wired in offer-service.ts. */
export interface ProcessorDependencies {
  readonly scorer: {
    readonly modelVersion: string;
    score(batch: readonly Registration[]): Promise<Predictions[]>;
  };
  readonly clickhouse: Sink<StoredOffer>;
  readonly redis: Sink<StoredOffer> & { keyOf(userId: number): string };
  readonly deadLetters: Sink<RejectedMessage> & { readonly topic: string };
  readonly health: SinkHealth;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Writes per-message spans when set; undefined when tracing is off. */
  readonly tracer?: Tracer;
  readonly settings: {
    readonly groupId: string;
    /** ClickHouse table, named in the insert spans. */
    readonly table: string;
    readonly messageMaxBytes: number;
    readonly batchMaxMessages: number;
    /**
     * Cut chunks at multiples of `batchMaxMessages` in offset space (see chunkBounds): with a
     * deduplicating ClickHouse cluster, a chunk written again is then the same insert block.
     */
    readonly alignChunksToOffsets?: boolean;
    readonly retryInitialMs: number;
    readonly retryMaxMs: number;
  };
  /** Called once with a failure no retry can fix; the service then stops, uncommitted. */
  readonly onFatal: (error: unknown) => void;
  readonly now?: () => number;
}

/**
 * Handles one Kafka batch: decode every message, score the valid ones in one model run,
 * write offers to ClickHouse and Redis and rejections to the DLQ concurrently, and only
 * when all three acknowledged, commit. Large batches are handled in chunks of
 * `batchMaxMessages`, each committed on its own.
 */
export function createBatchProcessor(deps: ProcessorDependencies): BatchHandler {
  const { settings, scorer } = deps;
  const now = deps.now ?? Date.now;
  const observation: ObserverDependencies = {
    metrics: deps.metrics,
    logger: deps.logger,
    ...(deps.tracer === undefined ? {} : { tracer: deps.tracer }),
    groupId: settings.groupId,
    table: settings.table,
    dlqTopic: deps.deadLetters.topic,
    now,
  };
  const retrying: RetrySettings = {
    initialMs: settings.retryInitialMs,
    maxMs: settings.retryMaxMs,
    health: deps.health,
    metrics: deps.metrics,
    logger: deps.logger,
  };

  async function handleChunk(
    batch: InboundBatch,
    chunk: readonly InboundMessage[],
    context: BatchContext,
    obs: ChunkObserver,
  ): Promise<void> {
    const first = chunk[0];
    const last = chunk.at(-1);
    if (first === undefined || last === undefined) return;
    const { accepted, rejected } = obs.stage('decode', () =>
      decodeChunk(chunk, settings.messageMaxBytes, obs),
    );
    const acceptedIndexes = accepted.map(({ index }) => index);
    const predictions =
      accepted.length === 0
        ? []
        : await obs.stageAsync(
            'score',
            () => scorer.score(accepted.map(({ registration }) => registration)),
            {
              name: 'predict',
              indexes: acceptedIndexes,
              attributes: {
                [ATTR.modelVersion]: scorer.modelVersion,
                [ATTR.batchSize]: accepted.length,
              },
            },
          );
    const offers = toStoredOffers(
      batch.partition,
      accepted,
      predictions,
      scorer.modelVersion,
      now(),
    );
    let userIds: Map<number, number> | undefined;
    const origin = {
      topic: batch.topic,
      partition: batch.partition,
      firstOffset: first.offset,
      lastOffset: last.offset,
    };
    await obs.stageAsync('write', () =>
      writeAll(
        [
          sinkWrite(deps.clickhouse, offers, acceptedIndexes),
          sinkWrite(deps.redis, offers, acceptedIndexes, (index) => {
            // Only sampled messages get here: the map is built for chunks that have one.
            userIds ??= new Map(accepted.map((entry) => [entry.index, entry.registration.userId]));
            return { [ATTR.redisKey]: deps.redis.keyOf(userIds.get(index) ?? 0) };
          }),
          sinkWrite(
            deps.deadLetters,
            rejected,
            rejected.map(({ index }) => index),
          ),
        ],
        origin,
        context,
        obs,
        retrying,
      ),
    );
    if (context.isStale()) {
      throw new OfferError('ABORTED', 'partition was moved; batch left uncommitted', {
        retriable: false,
      });
    }
    await obs.stageAsync('commit', () => context.commit(last.offset));
    obs.acknowledged(
      accepted.map(({ message }) => message.timestampMs),
      rejected.map(({ rejection }) => rejection),
    );
  }

  async function processChunk(
    batch: InboundBatch,
    chunk: readonly InboundMessage[],
    context: BatchContext,
  ): Promise<void> {
    const obs = observeChunk(observation, batch, chunk);
    try {
      await withContext(obs.context, () => handleChunk(batch, chunk, context, obs));
    } catch (error) {
      obs.finish(error);
      throw error;
    }
    obs.finish();
  }

  return async (batch, context) => {
    const bounds = chunkBounds(
      batch.messages,
      settings.batchMaxMessages,
      settings.alignChunksToOffsets ?? false,
    );
    for (const [start, end] of bounds) {
      const chunk = batch.messages.slice(start, end);
      try {
        await processChunk(batch, chunk, context);
      } catch (error) {
        switch (decideFailure(error)) {
          case 'abandon':
            deps.logger.info(
              { topic: batch.topic, partition: batch.partition, err: errorMessage(error) },
              'batch abandoned uncommitted; it will be redelivered',
            );
            return;
          case 'fatal':
            deps.onFatal(error);
            return;
          case 'retry':
          case 'redeliver':
            // Back to the Kafka client, which re-joins or restarts; nothing was committed.
            throw error;
        }
      }
      if (end < batch.messages.length) await context.heartbeat();
    }
  };
}
