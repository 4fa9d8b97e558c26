import { SpanKind, type Tracer } from '@opentelemetry/api';

import type { DecodeResult } from '../contract/decode.js';
import { errorMessage } from '../errors.js';
import type { InboundMessage } from '../kafka/kafka-adapter.js';
import type { Rejection } from '../sinks/dead-letter.js';
import type { Sink, SinkName } from '../sinks/sink.js';
import type { Logger } from '../telemetry/logger.js';
import {
  nowMs,
  traceChunk,
  withContext,
  type ChunkTrace,
  type StageSpan,
} from '../telemetry/message-tracing.js';
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
  /** Told what each chunk stored: a replay counts it per partition for its final report. */
  readonly onAcknowledged?: (partition: number, scored: number, deadLettered: number) => void;
}

const PREDICT: Omit<StageSpan, 'attributes'> = {
  key: 'predict',
  name: 'predict',
  kind: SpanKind.INTERNAL,
};

export function createPipelineObserver(deps: Observation): PipelineObserver {
  return {
    chunk: (batch, chunk) => new ChunkWatch(deps, batch, chunk),
    abandoned(batch, error) {
      deps.logger.info(
        { topic: batch.topic, partition: batch.partition, err: errorMessage(error) },
        'batch abandoned uncommitted; it will be redelivered',
      );
    },
  };
}

/** The observation of one chunk, from its first message taken to its commit. */
class ChunkWatch implements ChunkObserver {
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #batch: BatchOrigin;
  readonly #onAcknowledged: Observation['onAcknowledged'];
  readonly #tracing: ChunkTrace;
  readonly #endChunk: () => void;
  /** Which messages the rows of each sink line up with; kept only when messages are traced. */
  readonly #traced: boolean;
  readonly #messagesOf = { accepted: [] as number[], rejected: [] as number[] };

  constructor(deps: Observation, batch: BatchOrigin, chunk: readonly InboundMessage[]) {
    const { metrics, tracer, groupId } = deps;
    this.#metrics = metrics;
    this.#logger = deps.logger;
    this.#now = deps.now ?? Date.now;
    this.#batch = batch;
    this.#onAcknowledged = deps.onAcknowledged;
    this.#endChunk = metrics.chunkSeconds.startTimer();
    metrics.consumed.inc({ topic: batch.topic }, chunk.length);
    metrics.batchSize.observe(chunk.length);
    const info = { topic: batch.topic, partition: batch.partition, groupId };
    this.#tracing = traceChunk(tracer, info, chunk, nowMs());
    this.#traced = tracer !== undefined;
  }

  within<T>(work: () => Promise<T>): Promise<T> {
    return withContext(this.#tracing.chunkContext, work);
  }

  stage<T>(stage: StageName, work: () => T): T {
    const end = this.#metrics.stageSeconds.startTimer({ stage });
    try {
      return work();
    } finally {
      end();
    }
  }

  stageAsync<T>(stage: StageName, work: () => Promise<T>): Promise<T> {
    return this.#timed(this.#metrics.stageSeconds.startTimer({ stage }), work);
  }

  score<T>(modelVersion: string, rows: number, work: () => Promise<T>): Promise<T> {
    const end = this.#metrics.stageSeconds.startTimer({ stage: 'score' });
    return this.#timed(end, work, (start, finish) => {
      const attributes = { [ATTR.modelVersion]: modelVersion, [ATTR.batchSize]: rows };
      this.#tracing.stage({ ...PREDICT, attributes }, this.#messagesOf.accepted, start, finish);
    });
  }

  sinkWrite<Row, T>(sink: Sink<Row>, rows: readonly Row[], work: () => Promise<T>): Promise<T> {
    const end = this.#metrics.sinkWriteSeconds.startTimer({ sink: sink.name });
    return this.#timed(end, work, (start, finish) => {
      const { span } = sink;
      const { rowAttributes } = span;
      const stage = {
        key: sink.name,
        name: span.name,
        kind: span.kind,
        attributes: { ...span.attributes, [ATTR.dbBatchSize]: rows.length },
      };
      const perMessage =
        rowAttributes === undefined
          ? undefined
          : (position: number) => {
              const row = rows[position];
              return row === undefined ? {} : rowAttributes(row);
            };
      this.#tracing.stage(stage, this.#messagesOf[span.rowsOf], start, finish, perMessage);
    });
  }

  decode(
    index: number,
    message: InboundMessage,
    decode: (message: InboundMessage) => DecodeResult,
  ): DecodeResult {
    if (!this.#tracing.isRecording(index)) {
      const result = decode(message);
      if (this.#traced && result.ok) this.#messagesOf.accepted.push(index);
      return result;
    }
    const start = nowMs();
    const result = decode(message);
    this.#tracing.decoded(index, result.ok ? result.registration.userId : null, start, nowMs());
    if (result.ok) this.#messagesOf.accepted.push(index);
    return result;
  }

  rejected(index: number, message: InboundMessage, rejection: Rejection): void {
    if (this.#traced) this.#messagesOf.rejected.push(index);
    this.#tracing.rejected(index, rejection.reason, rejection.detail);
    const { topic, partition } = this.#batch;
    const { reason, detail } = rejection;
    withContext(this.#tracing.contextOf(index), () => {
      this.#logger.info(
        { topic, partition, offset: message.offset, reason, detail },
        'message dead-lettered',
      );
    });
  }

  retried(sink: SinkName, attempt: number, delayMs: number, error: unknown): void {
    const { topic, partition } = this.#batch;
    this.#logger.warn(
      { topic, partition, sink, attempt, delayMs, err: errorMessage(error) },
      'sink write failed; retrying',
    );
    this.#tracing.retried(sink, attempt, delayMs, error, nowMs());
  }

  acknowledged(timestampsMs: readonly number[], rejections: readonly Rejection[]): void {
    this.#metrics.scored.inc(timestampsMs.length);
    for (const { reason } of rejections) this.#metrics.deadLettered.inc({ reason });
    const acknowledgedAt = this.#now();
    for (const timestampMs of timestampsMs) {
      this.#metrics.endToEndSeconds.observe(Math.max(0, acknowledgedAt - timestampMs) / 1000);
    }
    this.#onAcknowledged?.(this.#batch.partition, timestampsMs.length, rejections.length);
  }

  finish(error?: unknown): void {
    this.#tracing.finish(nowMs(), error);
    if (error === undefined) this.#endChunk();
  }

  /** Runs `work` with a timer; `traceStage` gets its start and end once it succeeded. */
  async #timed<T>(
    end: () => void,
    work: () => Promise<T>,
    traceStage?: (startMs: number, endMs: number) => void,
  ): Promise<T> {
    const start = nowMs();
    try {
      const result = await work();
      if (this.#traced && traceStage !== undefined) traceStage(start, nowMs());
      return result;
    } finally {
      end();
    }
  }
}
