import type { Attributes, Tracer } from '@opentelemetry/api';

import { decodeRegistration, type DecodeResult } from '../contract/decode.js';
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
import { buildOfferRecord, type OfferRecord } from '../sinks/offer-record.js';
import type { RowOrigin, Sink } from '../sinks/sink.js';
import type { Logger } from '../telemetry/logger.js';
import { withContext } from '../telemetry/message-tracing.js';
import type { Metrics } from '../telemetry/metrics.js';
import { ATTR } from '../telemetry/semconv.js';
import { observeChunk, type ChunkObserver, type ObserverDependencies } from './chunk-observer.js';
import { decideFailure } from './failure-policy.js';
import { writeUntilDone, type RetryContext } from './retry.js';
import type { SinkHealth } from './sink-health.js';

/** What the processor needs from its collaborators; the real ones are wired in offer-service.ts. */
export interface ProcessorDependencies {
  readonly scorer: {
    readonly modelVersion: string;
    score(batch: readonly Registration[]): Promise<Predictions[]>;
  };
  readonly clickhouse: Sink<OfferRecord>;
  readonly redis: Sink<OfferRecord> & { keyOf(userId: number): string };
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
    readonly retryInitialMs: number;
    readonly retryMaxMs: number;
  };
  /** Called once with a failure no retry can fix; the service then stops, uncommitted. */
  readonly onFatal: (error: unknown) => void;
  readonly now?: () => number;
}

interface Accepted {
  readonly index: number;
  readonly message: InboundMessage;
  readonly registration: Registration;
}

interface Decoded {
  readonly accepted: readonly Accepted[];
  readonly rejected: readonly (RejectedMessage & { readonly index: number })[];
}

/** Rejection details are quoted in logs, spans and DLQ headers: keep them short. */
function boundedDetail(detail: string): string {
  return detail.length <= 256 ? detail : `${detail.slice(0, 255)}…`;
}

function decodeChunk(
  chunk: readonly InboundMessage[],
  maxBytes: number,
  obs: ChunkObserver,
): Decoded {
  const accepted: Accepted[] = [];
  const rejected: (RejectedMessage & { index: number })[] = [];
  for (const [index, message] of chunk.entries()) {
    const decoded = obs.decode(index, (): DecodeResult =>
      message.undecodable === undefined
        ? decodeRegistration(message.value, maxBytes)
        : { ok: false, reason: 'undecodable_batch', detail: boundedDetail(message.undecodable) },
    );
    if (decoded.ok) {
      accepted.push({ index, message, registration: decoded.registration });
      continue;
    }
    const rejection = { reason: decoded.reason, detail: decoded.detail };
    rejected.push({ index, message, rejection });
    obs.rejected(index, message, rejection);
  }
  return { accepted, rejected };
}

function toOfferRecords(
  partition: number,
  accepted: readonly Accepted[],
  predictions: readonly Predictions[],
  modelVersion: string,
  processedAtMs: number,
): OfferRecord[] {
  return accepted.map(({ message, registration }, index) => {
    const prediction = predictions[index];
    if (prediction === undefined) throw new Error('the scorer returned fewer rows than given');
    const source = {
      userId: registration.userId,
      partition,
      offset: message.offset,
      timestampMs: message.timestampMs,
    };
    return buildOfferRecord(source, prediction, modelVersion, processedAtMs);
  });
}

/** One sink's share of a chunk: the rows, and which messages of the chunk they come from. */
interface SinkWrite {
  readonly sink: Sink<never>;
  readonly rows: readonly unknown[];
  readonly indexes: readonly number[];
  readonly perMessage?: (index: number) => Attributes;
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

  /**
   * Every sink must acknowledge before the commit: each write is retried while its failure
   * is retriable (fetching paused meanwhile); one that gives up stops the others and leaves
   * the chunk uncommitted.
   */
  async function writeAll(
    writes: readonly SinkWrite[],
    origin: RowOrigin,
    context: BatchContext,
    obs: ChunkObserver,
  ): Promise<void> {
    let givenUp = false;
    const retry: RetryContext = {
      initialMs: settings.retryInitialMs,
      maxMs: settings.retryMaxMs,
      health: deps.health,
      metrics: deps.metrics,
      logger: deps.logger.child({ topic: origin.topic, partition: origin.partition }),
      checkpoint: () => context.heartbeat(),
      shouldStop: () => givenUp || context.isStale(),
      onRetry: (sink, attempt, delayMs, error) => {
        obs.retried(sink, attempt, delayMs, error);
      },
    };
    // Nothing to write says nothing about a sink: an empty write must not mark a down sink
    // as recovered (which resumed fetching and flapped /readyz during an outage).
    const pending = writes
      .filter(({ rows }) => rows.length > 0)
      .map(({ sink, rows, indexes, perMessage }) =>
        obs.stageAsync(
          sink.name,
          () => writeUntilDone(sink.name, () => sink.write(rows as never[], origin), retry),
          {
            name: sink.name,
            indexes,
            attributes: { [ATTR.dbBatchSize]: rows.length },
            ...(perMessage === undefined ? {} : { perMessage }),
          },
        ),
      );
    try {
      await Promise.all(pending);
    } catch (error) {
      givenUp = true;
      await Promise.allSettled(pending);
      throw error;
    }
  }

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
    const offers = toOfferRecords(
      batch.partition,
      accepted,
      predictions,
      scorer.modelVersion,
      now(),
    );
    const userIds = new Map(
      accepted.map(({ index, registration }) => [index, registration.userId]),
    );
    const origin = {
      topic: batch.topic,
      partition: batch.partition,
      firstOffset: first.offset,
      lastOffset: last.offset,
    };
    await writeAll(
      [
        { sink: deps.clickhouse, rows: offers, indexes: acceptedIndexes },
        {
          sink: deps.redis,
          rows: offers,
          indexes: acceptedIndexes,
          perMessage: (index) => ({ [ATTR.redisKey]: deps.redis.keyOf(userIds.get(index) ?? 0) }),
        },
        { sink: deps.deadLetters, rows: rejected, indexes: rejected.map(({ index }) => index) },
      ],
      origin,
      context,
      obs,
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
    for (let start = 0; start < batch.messages.length; start += settings.batchMaxMessages) {
      const chunk = batch.messages.slice(start, start + settings.batchMaxMessages);
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
      if (start + settings.batchMaxMessages < batch.messages.length) await context.heartbeat();
    }
  };
}
