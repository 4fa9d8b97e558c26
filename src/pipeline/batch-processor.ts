import { decodeRegistration } from '../contract/decode.js';
import type { Registration } from '../contract/registration.js';
import { errorMessage, OfferError } from '../errors.js';
import type {
  BatchContext,
  BatchHandler,
  InboundBatch,
  InboundMessage,
  OutboundMessage,
} from '../kafka/kafka-adapter.js';
import type { Predictions } from '../scoring/predictions.js';
import type { RowOrigin } from '../sinks/clickhouse-sink.js';
import { buildOfferRecord, type OfferRecord } from '../sinks/offer-record.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics, StageName } from '../telemetry/metrics.js';
import { deadLetterMessage } from './dead-letter.js';
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
  readonly redis: { write(records: readonly OfferRecord[]): Promise<number> };
  readonly deadLetters: {
    send(topic: string, messages: readonly OutboundMessage[]): Promise<void>;
  };
  readonly health: SinkHealth;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly settings: {
    readonly groupId: string;
    readonly dlqTopic: string;
    readonly messageMaxBytes: number;
    readonly batchMaxMessages: number;
    readonly retryInitialMs: number;
    readonly retryMaxMs: number;
  };
  /** Called once with a failure no retry can fix; the service then stops, uncommitted. */
  readonly onFatal: (error: unknown) => void;
  readonly now?: () => number;
}

function dlqError(error: unknown): OfferError {
  return new OfferError('DLQ_FAILED', `dead-letter write failed: ${errorMessage(error)}`, {
    // The DLQ lives on the cluster we consume from: an outage there is waited out.
    retriable: true,
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

    const valid: { message: InboundMessage; registration: Registration }[] = [];
    const deadLetters: OutboundMessage[] = [];
    const rejectedReasons: string[] = [];
    const endDecode = metrics.stageSeconds.startTimer({ stage: 'decode' });
    for (const message of chunk) {
      const decoded = decodeRegistration(message.value, settings.messageMaxBytes);
      if (decoded.ok) {
        valid.push({ message, registration: decoded.registration });
      } else {
        rejectedReasons.push(decoded.reason);
        deadLetters.push(
          deadLetterMessage(
            message,
            { topic: batch.topic, partition: batch.partition, groupId: settings.groupId },
            decoded,
          ),
        );
      }
    }
    endDecode();

    const predictions =
      valid.length === 0
        ? []
        : await timed('score', () => deps.scorer.score(valid.map((entry) => entry.registration)));
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
      firstOffset: first.offset,
      lastOffset: last.offset,
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
    };
    const writes = [
      timed('clickhouse', () =>
        writeUntilDone('clickhouse', () => deps.clickhouse.write(records, origin), retry),
      ),
      timed('redis', () => writeUntilDone('redis', () => deps.redis.write(records), retry)),
      timed('dlq', () =>
        writeUntilDone(
          'dlq',
          () =>
            deps.deadLetters.send(settings.dlqTopic, deadLetters).catch((error: unknown) => {
              throw dlqError(error);
            }),
          retry,
        ),
      ),
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
    await timed('commit', () => context.commit(last.offset));

    metrics.scored.inc(records.length);
    for (const reason of rejectedReasons) metrics.deadLettered.inc({ reason });
    const acknowledgedAt = now();
    for (const entry of valid) {
      metrics.endToEndSeconds.observe(
        Math.max(0, acknowledgedAt - entry.message.timestampMs) / 1000,
      );
    }
    endBatch();
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
