import type { Attributes, Tracer } from '@opentelemetry/api';

import { decodeRegistration, type DecodeResult } from '../contract/decode.js';
import type { Registration } from '../contract/registration.js';
import { errorMessage, OfferError } from '../errors.js';
import {
  isPermanentKafkaError,
  type BatchContext,
  type BatchHandler,
  type InboundBatch,
  type InboundMessage,
  type OutboundMessage,
} from '../kafka/kafka-adapter.js';
import type { Predictions } from '../scoring/predictions.js';
import type { RowOrigin } from '../sinks/clickhouse-sink.js';
import { buildOfferRecord, type OfferRecord } from '../sinks/offer-record.js';
import type { Logger } from '../telemetry/logger.js';
import { nowMs, traceChunk, withContext, type ChunkTrace } from '../telemetry/message-tracing.js';
import type { Metrics, StageName } from '../telemetry/metrics.js';
import { ATTR } from '../telemetry/semconv.js';
import { deadLetterMessage, sendGroups } from './dead-letter.js';
import { decideFailure } from './failure-policy.js';
import { writeUntilDone, type RetryContext } from './retry.js';
import type { SinkHealth } from './sink-health.js';

/** What the processor needs from its collaborators; the real ones are wired in offer-service.ts. */
export interface ProcessorDependencies {
  readonly scorer: {
    readonly modelVersion: string;
    score(batch: readonly Registration[]): Promise<Predictions[]>;
  };
  readonly clickhouse: { write(records: readonly OfferRecord[], origin: RowOrigin): Promise<void> };
  readonly redis: {
    write(records: readonly OfferRecord[]): Promise<number>;
    keyOf(userId: number): string;
  };
  readonly deadLetters: {
    send(topic: string, messages: readonly OutboundMessage[]): Promise<void>;
  };
  readonly health: SinkHealth;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Writes per-message spans when set; undefined when tracing is off. */
  readonly tracer?: Tracer;
  readonly settings: {
    readonly groupId: string;
    /** ClickHouse table, named in the insert spans. */
    readonly table: string;
    readonly dlqTopic: string;
    /** The DLQ topic's `max.message.bytes`: every dead letter, and every send of them, fits. */
    readonly dlqMaxMessageBytes: number;
    readonly messageMaxBytes: number;
    readonly batchMaxMessages: number;
    readonly retryInitialMs: number;
    readonly retryMaxMs: number;
  };
  /** Called once with a failure no retry can fix; the service then stops, uncommitted. */
  readonly onFatal: (error: unknown) => void;
  readonly now?: () => number;
}

/** Rejection details are quoted in logs, spans and DLQ headers: keep them short. */
function boundedDetail(detail: string): string {
  return detail.length <= 256 ? detail : `${detail.slice(0, 255)}…`;
}

function dlqError(error: unknown): OfferError {
  return new OfferError('DLQ_FAILED', `dead-letter write failed: ${errorMessage(error)}`, {
    // The DLQ lives on the cluster we consume from: an outage there (a missing topic
    // included) is waited out; a refusal no retry can change (no Write ACL, a record too
    // large for the topic) stops the service like any other permanent sink failure.
    retriable: !isPermanentKafkaError(error),
    cause: error,
  });
}

/**
 * Handles one Kafka batch: decode every message, score the valid ones in one model run,
 * write offers to ClickHouse and Redis and rejections to the DLQ concurrently, and only
 * when all three acknowledged, commit. Large batches are handled in chunks of
 * `batchMaxMessages`, each committed on its own.
 */
export function createBatchProcessor(deps: ProcessorDependencies): BatchHandler {
  const { metrics, settings } = deps;
  const now = deps.now ?? Date.now;

  async function timed<T>(stage: StageName, work: () => Promise<T>): Promise<T> {
    const end = metrics.stageSeconds.startTimer({ stage });
    try {
      return await work();
    } finally {
      end();
    }
  }

  async function processChunk(
    batch: InboundBatch,
    chunk: readonly InboundMessage[],
    context: BatchContext,
  ): Promise<void> {
    const first = chunk[0];
    const last = chunk.at(-1);
    if (first === undefined || last === undefined) return;
    const endBatch = metrics.stageSeconds.startTimer({ stage: 'batch' });
    metrics.consumed.inc({ topic: batch.topic }, chunk.length);
    metrics.batchSize.observe(chunk.length);
    const tracing = traceChunk(
      deps.tracer,
      {
        topic: batch.topic,
        partition: batch.partition,
        groupId: settings.groupId,
        table: settings.table,
        dlqTopic: settings.dlqTopic,
      },
      chunk,
      nowMs(),
    );
    try {
      await withContext(tracing.chunkContext, () =>
        writeChunk(batch, chunk, context, tracing, first.offset, last.offset),
      );
    } catch (error) {
      tracing.finish(nowMs(), error);
      throw error;
    }
    tracing.finish(nowMs());
    endBatch();
  }

  async function writeChunk(
    batch: InboundBatch,
    chunk: readonly InboundMessage[],
    context: BatchContext,
    tracing: ChunkTrace,
    firstOffset: string,
    lastOffset: string,
  ): Promise<void> {
    const valid: { message: InboundMessage; registration: Registration; index: number }[] = [];
    const rejectedIndexes: number[] = [];
    const deadLetters: OutboundMessage[] = [];
    const rejectedReasons: string[] = [];
    const endDecode = metrics.stageSeconds.startTimer({ stage: 'decode' });
    for (const [index, message] of chunk.entries()) {
      const recording = tracing.isRecording(index);
      const decodeStart = recording ? nowMs() : 0;
      const decoded: DecodeResult =
        message.undecodable === undefined
          ? decodeRegistration(message.value, settings.messageMaxBytes)
          : { ok: false, reason: 'undecodable_batch', detail: boundedDetail(message.undecodable) };
      if (recording) {
        tracing.decoded(
          index,
          decoded.ok ? decoded.registration.userId : null,
          decodeStart,
          nowMs(),
        );
      }
      if (decoded.ok) {
        valid.push({ message, registration: decoded.registration, index });
        continue;
      }
      rejectedIndexes.push(index);
      rejectedReasons.push(decoded.reason);
      tracing.rejected(index, decoded.reason, decoded.detail);
      withContext(tracing.contextOf(index), () => {
        deps.logger.info(
          {
            topic: batch.topic,
            partition: batch.partition,
            offset: message.offset,
            reason: decoded.reason,
            detail: decoded.detail,
          },
          'message dead-lettered',
        );
      });
      deadLetters.push(
        deadLetterMessage(
          message,
          { topic: batch.topic, partition: batch.partition, groupId: settings.groupId },
          decoded,
          settings.dlqMaxMessageBytes,
        ),
      );
    }
    endDecode();
    const validIndexes = valid.map((entry) => entry.index);

    let predictions: Predictions[] = [];
    if (valid.length > 0) {
      const scoreStart = nowMs();
      predictions = await timed('score', () =>
        deps.scorer.score(valid.map((entry) => entry.registration)),
      );
      tracing.stage('predict', validIndexes, scoreStart, nowMs(), {
        [ATTR.modelVersion]: deps.scorer.modelVersion,
        [ATTR.batchSize]: valid.length,
      });
    }
    const processedAt = now();
    const records = valid.map((entry, index) => {
      const prediction = predictions[index];
      if (prediction === undefined) throw new Error('the scorer returned fewer rows than given');
      return buildOfferRecord(
        {
          userId: entry.registration.userId,
          partition: batch.partition,
          offset: entry.message.offset,
          timestampMs: entry.message.timestampMs,
        },
        prediction,
        deps.scorer.modelVersion,
        processedAt,
      );
    });
    const origin: RowOrigin = {
      topic: batch.topic,
      partition: batch.partition,
      firstOffset,
      lastOffset,
    };

    let givenUp = false;
    const retry: RetryContext = {
      initialMs: settings.retryInitialMs,
      maxMs: settings.retryMaxMs,
      health: deps.health,
      metrics,
      logger: deps.logger.child({ topic: batch.topic, partition: batch.partition }),
      checkpoint: () => context.heartbeat(),
      shouldStop: () => givenUp || context.isStale(),
      onRetry: (sink, attempt, delayMs, error) => {
        tracing.retried(sink, attempt, delayMs, error, nowMs());
      },
    };
    const traced = async (
      stage: 'clickhouse' | 'redis' | 'dlq',
      indexes: readonly number[],
      rows: number,
      write: () => Promise<unknown>,
      perMessage?: (index: number) => Attributes,
    ): Promise<void> => {
      // Nothing to write says nothing about the sink: an empty write must not mark a down
      // sink as recovered (which resumed fetching and flapped /readyz during an outage).
      if (rows === 0) return;
      const start = nowMs();
      await timed(stage, () => writeUntilDone(stage, write, retry));
      tracing.stage(stage, indexes, start, nowMs(), { [ATTR.dbBatchSize]: rows }, perMessage);
    };
    const userIds = new Map(valid.map((entry) => [entry.index, entry.registration.userId]));
    const writes = [
      traced('clickhouse', validIndexes, records.length, () =>
        deps.clickhouse.write(records, origin),
      ),
      traced(
        'redis',
        validIndexes,
        records.length,
        () => deps.redis.write(records),
        (index) => ({ [ATTR.redisKey]: deps.redis.keyOf(userIds.get(index) ?? 0) }),
      ),
      traced('dlq', rejectedIndexes, deadLetters.length, async () => {
        try {
          for (const group of sendGroups(deadLetters, settings.dlqMaxMessageBytes)) {
            await deps.deadLetters.send(settings.dlqTopic, group);
          }
        } catch (error) {
          throw dlqError(error);
        }
      }),
    ];
    try {
      await Promise.all(writes);
    } catch (error) {
      // One write gave up: stop the others' retry loops too, and leave the batch uncommitted.
      givenUp = true;
      await Promise.allSettled(writes);
      throw error;
    }

    if (context.isStale()) {
      throw new OfferError('ABORTED', 'partition was moved; batch left uncommitted', {
        retriable: false,
      });
    }
    await timed('commit', () => context.commit(lastOffset));

    metrics.scored.inc(records.length);
    for (const reason of rejectedReasons) metrics.deadLettered.inc({ reason });
    const acknowledgedAt = now();
    for (const entry of valid) {
      metrics.endToEndSeconds.observe(
        Math.max(0, acknowledgedAt - entry.message.timestampMs) / 1000,
      );
    }
  }

  return async (batch, context) => {
    for (let start = 0; start < batch.messages.length; start += settings.batchMaxMessages) {
      const chunk = batch.messages.slice(start, start + settings.batchMaxMessages);
      try {
        await processChunk(batch, chunk, context);
      } catch (error) {
        const action = decideFailure(error);
        if (action === 'abandon') {
          deps.logger.info(
            { topic: batch.topic, partition: batch.partition, err: errorMessage(error) },
            'batch abandoned uncommitted; it will be redelivered',
          );
          return;
        }
        if (error instanceof OfferError && action === 'fatal') {
          deps.onFatal(error);
          return;
        }
        // Anything else (a rebalance seen by heartbeat or commit, a scoring failure) goes
        // back to the Kafka client, which re-joins or restarts; nothing was committed.
        throw error;
      }
      if (start + settings.batchMaxMessages < batch.messages.length) await context.heartbeat();
    }
  };
}
