import type { Attributes, Context, Tracer } from '@opentelemetry/api';

import type { DecodeResult } from '../contract/decode.js';
import type { InboundMessage } from '../kafka/kafka-adapter.js';
import type { Rejection } from '../sinks/dead-letter.js';
import type { SinkName } from '../sinks/sink.js';
import type { Logger } from '../telemetry/logger.js';
import { nowMs, traceChunk, withContext, type TracedStage } from '../telemetry/message-tracing.js';
import type { Metrics, StageName } from '../telemetry/metrics.js';

/**
 * Everything that watches one chunk on its way (stage timings, per-message spans, the
 * rejection log lines, the counters of what was acknowledged), behind one argument, so that
 * the batch path reads as the work alone. Without a tracer the spans cost nothing.
 */
export interface ChunkObserver {
  /** The context log lines about the chunk carry (the first sampled message's trace). */
  readonly context: Context;
  /** Times a synchronous stage. */
  stage<T>(stage: StageName, work: () => T): T;
  /**
   * Times an asynchronous stage; with `span`, the messages at `indexes` get a child span
   * for it (`perMessage` adds attributes of each message).
   */
  stageAsync<T>(stage: StageName, work: () => Promise<T>, span?: StageSpan): Promise<T>;
  /** Times one sink's write within the `write` stage, with the same optional spans. */
  sinkWrite<T>(sink: SinkName, work: () => Promise<T>, span?: StageSpan): Promise<T>;
  /** Decodes message `index` with `decode`; the decode gets a span when the message is traced. */
  decode(
    index: number,
    message: InboundMessage,
    decode: (message: InboundMessage) => DecodeResult,
  ): DecodeResult;
  rejected(index: number, message: InboundMessage, rejection: Rejection): void;
  retried(sink: SinkName, attempt: number, delayMs: number, error: unknown): void;
  /** Everything was stored and committed. */
  acknowledged(timestampsMs: readonly number[], rejections: readonly Rejection[]): void;
  /** Ends the chunk's spans, with the error that ended the chunk if any. */
  finish(error?: unknown): void;
}

/** The child span an asynchronous step gives each traced message at `indexes`. */
export interface StageSpan {
  readonly name: TracedStage;
  readonly indexes: readonly number[];
  readonly attributes: Attributes;
  /** Attributes of each message. */
  readonly perMessage?: (index: number) => Attributes;
}

export interface ObserverDependencies {
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Per-message spans when set. */
  readonly tracer?: Tracer;
  readonly groupId: string;
  /** ClickHouse table and DLQ topic, named in spans. */
  readonly table: string;
  readonly dlqTopic: string;
  readonly now: () => number;
}

export function observeChunk(
  deps: ObserverDependencies,
  batch: { readonly topic: string; readonly partition: number },
  chunk: readonly InboundMessage[],
): ChunkObserver {
  const { metrics, logger } = deps;
  const endChunk = metrics.chunkSeconds.startTimer();
  metrics.consumed.inc({ topic: batch.topic }, chunk.length);
  metrics.batchSize.observe(chunk.length);
  const tracing = traceChunk(
    deps.tracer,
    {
      topic: batch.topic,
      partition: batch.partition,
      groupId: deps.groupId,
      table: deps.table,
      dlqTopic: deps.dlqTopic,
    },
    chunk,
    nowMs(),
  );
  const timed = async <T>(
    end: () => void,
    work: () => Promise<T>,
    span: StageSpan | undefined,
  ): Promise<T> => {
    const start = nowMs();
    try {
      const result = await work();
      if (span !== undefined) {
        tracing.stage(span.name, span.indexes, start, nowMs(), span.attributes, span.perMessage);
      }
      return result;
    } finally {
      end();
    }
  };
  return {
    context: tracing.chunkContext,
    stage(stage, work) {
      const end = metrics.stageSeconds.startTimer({ stage });
      try {
        return work();
      } finally {
        end();
      }
    },
    stageAsync(stage, work, span) {
      return timed(metrics.stageSeconds.startTimer({ stage }), work, span);
    },
    sinkWrite(sink, work, span) {
      return timed(metrics.sinkWriteSeconds.startTimer({ sink }), work, span);
    },
    decode(index, message, decode) {
      if (!tracing.isRecording(index)) return decode(message);
      const start = nowMs();
      const result = decode(message);
      tracing.decoded(index, result.ok ? result.registration.userId : null, start, nowMs());
      return result;
    },
    rejected(index, message, rejection) {
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
      tracing.retried(sink, attempt, delayMs, error, nowMs());
    },
    acknowledged(timestampsMs, rejections) {
      metrics.scored.inc(timestampsMs.length);
      for (const { reason } of rejections) metrics.deadLettered.inc({ reason });
      const acknowledgedAt = deps.now();
      for (const timestampMs of timestampsMs) {
        metrics.endToEndSeconds.observe(Math.max(0, acknowledgedAt - timestampMs) / 1000);
      }
    },
    finish(error) {
      tracing.finish(nowMs(), error);
      if (error === undefined) endChunk();
    },
  };
}
