import type { Registration } from '../contract/registration.js';
import { OfferError } from '../errors.js';
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
import type { ChunkObserver, PipelineObserver } from './chunk-observer.js';
import { chunkBounds, decodeChunk, toStoredOffers } from './chunk-stages.js';
import { decideFailure } from './failure-policy.js';
import type { RetryPolicy } from './retry.js';
import { sinkWrite, writeAll } from './write-all.js';

/** A model as the processor uses it: who it is, and one run per batch. */
export interface BatchScorer {
  readonly modelVersion: string;
  readonly modelDigest: string;
  score(batch: readonly Registration[]): Promise<Predictions[]>;
}

/** What the processor works with; the real ones are wired in offer-service.ts. */
export interface ProcessorDependencies {
  readonly scorer: BatchScorer;
  /**
   * A candidate model (MODEL_SHADOW_PATH) scored on the same accepted registrations, its rows
   * written to its own table only, never to Redis. Its write is one more sink write of the
   * chunk: the chunk is committed only once the shadow rows are stored too.
   */
  readonly shadow?: {
    readonly scorer: BatchScorer;
    readonly sink: Sink<StoredOffer>;
  };
  readonly sinks: {
    readonly clickhouse: Sink<StoredOffer>;
    readonly redis: Sink<StoredOffer>;
    readonly deadLetters: Sink<RejectedMessage>;
  };
  readonly retry: RetryPolicy;
  readonly settings: {
    readonly messageMaxBytes: number;
    readonly batchMaxMessages: number;
    /**
     * Cut chunks at multiples of `batchMaxMessages` in offset space (see chunkBounds): with a
     * deduplicating ClickHouse cluster, a chunk written again is then the same insert block.
     */
    readonly alignChunksToOffsets: boolean;
  };
  /** Watches every chunk (timings, spans, log lines, counters) and every abandoned batch. */
  readonly observer: PipelineObserver;
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
  const { batchMaxMessages, alignChunksToOffsets } = deps.settings;
  return async (batch, context) => {
    const bounds = chunkBounds(batch.messages, batchMaxMessages, alignChunksToOffsets);
    for (const [start, end] of bounds) {
      const chunk = batch.messages.slice(start, end);
      try {
        await processChunk(deps, batch, chunk, context);
        // A heartbeat that finds the membership lost is a failure like any other: the rest
        // of the batch is abandoned uncommitted, not thrown to the Kafka client as a crash.
        if (end < batch.messages.length) await context.heartbeat();
      } catch (error) {
        switch (decideFailure(error)) {
          case 'abandon':
            deps.observer.abandoned(batch, error);
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
    }
  };
}

async function processChunk(
  deps: ProcessorDependencies,
  batch: InboundBatch,
  chunk: readonly InboundMessage[],
  context: BatchContext,
): Promise<void> {
  const obs = deps.observer.chunk(batch, chunk);
  try {
    await obs.within(() => handleChunk(deps, batch, chunk, context, obs));
  } catch (error) {
    obs.finish(error);
    throw error;
  }
  obs.finish();
}

/**
 * The live model's predictions and, with a shadow model, the shadow's, from runs at the same
 * time (each on its own worker threads when MODEL_WORKERS > 0).
 */
async function scoreWithShadow(
  deps: ProcessorDependencies,
  registrations: readonly Registration[],
): Promise<{ live: Predictions[]; shadow: Predictions[] }> {
  const [live, shadow] = await Promise.all([
    deps.scorer.score(registrations),
    deps.shadow === undefined ? [] : deps.shadow.scorer.score(registrations),
  ]);
  return { live, shadow };
}

/** One chunk's trip: decode, score, write to every sink, commit. */
async function handleChunk(
  deps: ProcessorDependencies,
  batch: InboundBatch,
  chunk: readonly InboundMessage[],
  context: BatchContext,
  obs: ChunkObserver,
): Promise<void> {
  const { scorer, sinks } = deps;
  const first = chunk[0];
  const last = chunk.at(-1);
  if (first === undefined || last === undefined) return;
  const { accepted, rejected } = obs.stage('decode', () =>
    decodeChunk(chunk, deps.settings.messageMaxBytes, obs),
  );
  const { live, shadow } =
    accepted.length === 0
      ? { live: [], shadow: [] }
      : await obs.score(scorer.modelVersion, accepted.length, () =>
          scoreWithShadow(
            deps,
            accepted.map(({ registration }) => registration),
          ),
        );
  const processedAtMs = (deps.now ?? Date.now)();
  const storedBy = (model: BatchScorer, predictions: readonly Predictions[]) =>
    toStoredOffers(
      batch.partition,
      accepted,
      predictions,
      { version: model.modelVersion, sha256: model.modelDigest },
      processedAtMs,
    );
  const offers = storedBy(scorer, live);
  const origin = {
    topic: batch.topic,
    partition: batch.partition,
    firstOffset: first.offset,
    lastOffset: last.offset,
  };
  const writes = [
    sinkWrite(sinks.clickhouse, offers),
    sinkWrite(sinks.redis, offers),
    sinkWrite(sinks.deadLetters, rejected),
    ...(deps.shadow === undefined
      ? []
      : [sinkWrite(deps.shadow.sink, storedBy(deps.shadow.scorer, shadow))]),
  ];
  await obs.stageAsync('write', () => writeAll(writes, origin, context, obs, deps.retry));
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
