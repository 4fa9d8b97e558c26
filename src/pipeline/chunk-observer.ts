import { SpanKind, type Tracer } from '@opentelemetry/api';

import type { DecodeResult } from '../contract/decode.js';
import { errorMessage } from '../errors.js';
import type { InboundMessage } from '../kafka/kafka-adapter.js';
import type { Rejection } from '../sinks/dead-letter.js';
import type { Sink, SinkName } from '../sinks/sink.js';
import type { Logger } from '../telemetry/logger.js';
import { nowMs, traceChunk, withContext, type StageSpan } from '../telemetry/message-tracing.js';
import type { Metrics, StageName } from '../telemetry/metrics.js';
import { ATTR } from '../telemetry/semconv.js';

/**
 * Everything that watches one chunk on its way (stage timings, per-message spans, the
 * rejection log lines, the counters of what was acknowledged), behind one argument, so that
 * the batch path reads as the work alone. Without a tracer the spans cost nothing.
 */
export interface ChunkObserver {
  /** Runs the chunk's work so that its log lines carry the first sampled message's trace. */
  within<T>(work: () => Promise<T>): Promise<T>;
  /** Times a synchronous stage. */
  stage<T>(stage: StageName, work: () => T): T;
  /** Times an asynchronous stage. */
  stageAsync<T>(stage: StageName, work: () => Promise<T>): Promise<T>;
  /** Times the model run over the accepted messages; each traced one gets a `predict` span. */
  score<T>(modelVersion: string, rows: number, work: () => Promise<T>): Promise<T>;
  /** Times one sink's write within the `write` stage; its rows' messages get the sink's span. */
  sinkWrite<Row, T>(sink: Sink<Row>, rows: readonly Row[], work: () => Promise<T>): Promise<T>;
  /** Decodes message `index` with `decode`; the decode gets a span when the message is traced. */
  decode(
    index: number,
    message: InboundMessage,
    decode: (message: InboundMessage) => DecodeResult,
  ): DecodeResult;
  rejected(index: number, message: InboundMessage, rejection: Rejection): void;
  /** A write of `sink` failed and is tried again after `delayMs`. */
  retried(sink: SinkName, attempt: number, delayMs: number, error: unknown): void;
  /** Everything was stored and committed. */
  acknowledged(timestampsMs: readonly number[], rejections: readonly Rejection[]): void;
  /** Ends the chunk's spans, with the error that ended the chunk if any. */
  finish(error?: unknown): void;
}

interface BatchOrigin {
  readonly topic: string;
  readonly partition: number;
}

/** What watches the batch path: each chunk on its way, and the batches left uncommitted. */
export interface PipelineObserver {
  /** Starts the observation of one chunk of a partition's batch. */
  chunk(batch: BatchOrigin, chunk: readonly InboundMessage[]): ChunkObserver;
  /** A batch left uncommitted on purpose, to be redelivered (its partition moved). */
  abandoned(batch: BatchOrigin, error: unknown): void;
}

/** What the service watches the batch path with, given at wiring. */
export interface Observation {
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Per-message spans when set. */
  readonly tracer?: Tracer;
  /** The consumer group, named in every message's span. */
  readonly groupId: string;
  readonly now?: () => number;
}

const PREDICT: Omit<StageSpan, 'attributes'> = {
  key: 'predict',
  name: 'predict',
  kind: SpanKind.INTERNAL,
};

export function createPipelineObserver(deps: Observation): PipelineObserver {
  const { logger } = deps;
  return {
    chunk: (batch, chunk) => observeChunk(deps, batch, chunk),
    abandoned(batch, error) {
      logger.info(
        { topic: batch.topic, partition: batch.partition, err: errorMessage(error) },
        'batch abandoned uncommitted; it will be redelivered',
      );
    },
  };
}

function observeChunk(
  deps: Observation,
  batch: BatchOrigin,
  chunk: readonly InboundMessage[],
): ChunkObserver {
  const { metrics, logger, tracer, groupId } = deps;
  const now = deps.now ?? Date.now;
  const endChunk = metrics.chunkSeconds.startTimer();
  metrics.consumed.inc({ topic: batch.topic }, chunk.length);
  metrics.batchSize.observe(chunk.length);
  const tracing = traceChunk(
    tracer,
    { topic: batch.topic, partition: batch.partition, groupId },
    chunk,
    nowMs(),
  );
  // Which messages the rows of each sink line up with; kept only when messages are traced.
  const traced = tracer !== undefined;
  const messagesOf = { accepted: [] as number[], rejected: [] as number[] };
  return {
    within: (work) => withContext(tracing.chunkContext, work),
    stage(stage, work) {
      const end = metrics.stageSeconds.startTimer({ stage });
      try {
        return work();
      } finally {
        end();
      }
    },
    stageAsync(stage, work) {
      return timed(metrics.stageSeconds.startTimer({ stage }), work);
    },
    score(modelVersion, rows, work) {
      return timed(metrics.stageSeconds.startTimer({ stage: 'score' }), work, (start, end) => {
        const attributes = { [ATTR.modelVersion]: modelVersion, [ATTR.batchSize]: rows };
        tracing.stage({ ...PREDICT, attributes }, messagesOf.accepted, start, end);
      });
    },
    sinkWrite(sink, rows, work) {
      return timed(metrics.sinkWriteSeconds.startTimer({ sink: sink.name }), work, (start, end) => {
        const { span } = sink;
        const { rowAttributes } = span;
        tracing.stage(
          {
            key: sink.name,
            name: span.name,
            kind: span.kind,
            attributes: { ...span.attributes, [ATTR.dbBatchSize]: rows.length },
          },
          messagesOf[span.rowsOf],
          start,
          end,
          rowAttributes === undefined
            ? undefined
            : (position) => {
                const row = rows[position];
                return row === undefined ? {} : rowAttributes(row);
              },
        );
      });
    },
    decode(index, message, decode) {
      if (!tracing.isRecording(index)) {
        const result = decode(message);
        if (traced && result.ok) messagesOf.accepted.push(index);
        return result;
      }
      const start = nowMs();
      const result = decode(message);
      tracing.decoded(index, result.ok ? result.registration.userId : null, start, nowMs());
      if (result.ok) messagesOf.accepted.push(index);
      return result;
    },
    rejected(index, message, rejection) {
      if (traced) messagesOf.rejected.push(index);
      tracing.rejected(index, rejection.reason, rejection.detail);
      withContext(tracing.contextOf(index), () => {
        logger.info(
          {
            topic: batch.topic,
            partition: batch.partition,
            offset: message.offset,
            reason: rejection.reason,
            detail: rejection.detail,
          },
          'message dead-lettered',
        );
      });
    },
    retried(sink, attempt, delayMs, error) {
      logger.warn(
        {
          topic: batch.topic,
          partition: batch.partition,
          sink,
          attempt,
          delayMs,
          err: errorMessage(error),
        },
        'sink write failed; retrying',
      );
      tracing.retried(sink, attempt, delayMs, error, nowMs());
    },
    acknowledged(timestampsMs, rejections) {
      metrics.scored.inc(timestampsMs.length);
      for (const { reason } of rejections) metrics.deadLettered.inc({ reason });
      const acknowledgedAt = now();
      for (const timestampMs of timestampsMs) {
        metrics.endToEndSeconds.observe(Math.max(0, acknowledgedAt - timestampMs) / 1000);
      }
    },
    finish(error) {
      tracing.finish(nowMs(), error);
      if (error === undefined) endChunk();
    },
  };

  /** Runs `work` with a timer; `traceStage` gets its start and end once it succeeded. */
  async function timed<T>(
    end: () => void,
    work: () => Promise<T>,
    traceStage?: (startMs: number, endMs: number) => void,
  ): Promise<T> {
    const start = nowMs();
    try {
      const result = await work();
      if (traced && traceStage !== undefined) traceStage(start, nowMs());
      return result;
    } finally {
      end();
    }
  }
}
