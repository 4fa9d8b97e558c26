import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';

import { lastHeader, type MessageHeaders } from '../contract/headers.js';
import { ATTR } from './semconv.js';

/**
 * Per-message traces for work that happens per batch.
 *
 * Each sampled message gets a CONSUMER span `process <topic>` whose parent is the
 * producer's context from the message headers (W3C traceparent), or a new trace when the
 * message has none. The batch stages (predict, and each sink's write, named by the sink)
 * become child spans of every sampled message of the batch they concern, each carrying
 * the batch's real start and end times, the batch size and a shared `offers.batch.id`; so
 * one message's trace shows where its time went, and the batch id finds its neighbours.
 * Unsampled messages cost one header lookup and no span.
 */

export interface ChunkInfo {
  readonly topic: string;
  readonly partition: number;
  readonly groupId: string;
}

/** The child span a stage gives each traced message it concerns. */
export interface StageSpan {
  /** The retries told under this key become the span's events (a sink's name). */
  readonly key: string;
  readonly name: string;
  readonly kind: SpanKind;
  readonly attributes: Attributes;
}

export interface TracedMessage {
  readonly key: Buffer | null;
  readonly offset: string;
  readonly timestampMs: number;
  readonly headers: MessageHeaders;
}

export interface ChunkTrace {
  /** True when message `index` is recorded (sampled). */
  isRecording(index: number): boolean;
  /** Context for log lines about message `index` (carries its trace and span ids). */
  contextOf(index: number): Context;
  /** Context for log lines about the whole chunk: the first message's. */
  readonly chunkContext: Context;
  decoded(index: number, userId: number | null, startMs: number, endMs: number): void;
  rejected(index: number, reason: string, detail: string): void;
  /**
   * Gives the traced messages at `indexes` a child span of the stage; `perMessage(position)`
   * adds attributes of the message at `indexes[position]`.
   */
  stage(
    span: StageSpan,
    indexes: readonly number[],
    startMs: number,
    endMs: number,
    perMessage?: (position: number) => Attributes,
  ): void;
  retried(key: string, attempt: number, delayMs: number, error: unknown, atMs: number): void;
  finish(endMs: number, error?: unknown): void;
}

const headerGetter: TextMapGetter<MessageHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => lastHeader(carrier, key)?.toString('latin1'),
};

const NO_TRACE: ChunkTrace = {
  isRecording: () => false,
  contextOf: () => ROOT_CONTEXT,
  chunkContext: ROOT_CONTEXT,
  decoded: () => undefined,
  rejected: () => undefined,
  stage: () => undefined,
  retried: () => undefined,
  finish: () => undefined,
};

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : JSON.stringify(error);
}

/** Wall-clock milliseconds with sub-millisecond precision, for span times. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

function messageContext(message: TracedMessage): Context {
  // Malformed headers are ignored by the propagator: the message starts a new trace.
  return !Object.hasOwn(message.headers, 'traceparent')
    ? ROOT_CONTEXT
    : propagation.extract(ROOT_CONTEXT, message.headers, headerGetter);
}

interface MessageSpans {
  /** Each sampled message's `process` span; undefined where the message is not recorded. */
  readonly spans: (Span | undefined)[];
  /** Each message's context for log lines (its span's, or the producer's when unsampled). */
  readonly contexts: Context[];
  readonly chunkContext: Context;
}

/** The `process <topic>` span of every sampled message of a chunk, children of the producer's. */
function startMessageSpans(
  tracer: Tracer,
  info: ChunkInfo,
  messages: readonly TracedMessage[],
  startMs: number,
): MessageSpans {
  const first = messages[0];
  const last = messages.at(-1);
  const batchId = `${info.topic}/${info.partition}/${first?.offset ?? ''}-${last?.offset ?? ''}`;
  const spans: (Span | undefined)[] = new Array<Span | undefined>(messages.length);
  const contexts: Context[] = new Array<Context>(messages.length);
  let chunkContext: Context | undefined;

  for (const [index, message] of messages.entries()) {
    const parent = messageContext(message);
    const parentSpan = trace.getSpanContext(parent);
    if (parentSpan !== undefined && (parentSpan.traceFlags & TraceFlags.SAMPLED) === 0) {
      // The producer decided not to sample this trace; parent-based sampling agrees.
      contexts[index] = parent;
      chunkContext ??= parent;
      continue;
    }
    const span = tracer.startSpan(
      `process ${info.topic}`,
      {
        kind: SpanKind.CONSUMER,
        startTime: startMs,
        attributes: {
          [ATTR.messagingSystem]: 'kafka',
          [ATTR.messagingOperationType]: 'process',
          [ATTR.messagingOperationName]: 'process',
          [ATTR.messagingDestination]: info.topic,
          [ATTR.messagingConsumerGroup]: info.groupId,
          [ATTR.messagingPartition]: String(info.partition),
          [ATTR.kafkaOffset]: Number(message.offset),
          ...(message.key === null ? {} : { [ATTR.kafkaMessageKey]: message.key.toString() }),
          [ATTR.messagingBatchCount]: messages.length,
          [ATTR.batchId]: batchId,
          'offers.kafka.wait_ms': Math.max(0, Math.round(startMs - message.timestampMs)),
        },
      },
      parent,
    );
    const spanContext = trace.setSpan(parent, span);
    contexts[index] = spanContext;
    chunkContext ??= spanContext;
    if (span.isRecording()) spans[index] = span;
  }
  return { spans, contexts, chunkContext: chunkContext ?? ROOT_CONTEXT };
}

/** Starts the traces of one chunk of messages; `tracer` undefined means tracing is off. */
export function traceChunk(
  tracer: Tracer | undefined,
  info: ChunkInfo,
  messages: readonly TracedMessage[],
  startMs: number,
): ChunkTrace {
  if (tracer === undefined || messages.length === 0) return NO_TRACE;
  const { spans, contexts, chunkContext } = startMessageSpans(tracer, info, messages, startMs);
  const retries: { key: string; attributes: Attributes; atMs: number }[] = [];

  const child = (
    index: number,
    name: string,
    kind: SpanKind,
    start: number,
    attributes: Attributes,
  ): Span | undefined => {
    const parent = spans[index];
    if (parent === undefined) return undefined;
    return tracer.startSpan(
      name,
      { kind, startTime: start, attributes },
      trace.setSpan(ROOT_CONTEXT, parent),
    );
  };

  return {
    isRecording: (index) => spans[index] !== undefined,
    contextOf: (index) => contexts[index] ?? ROOT_CONTEXT,
    chunkContext,
    decoded(index, userId, start, end) {
      const span = spans[index];
      if (span === undefined) return;
      if (userId !== null) span.setAttribute(ATTR.userId, String(userId));
      child(index, 'decode', SpanKind.INTERNAL, start, {})?.end(end);
    },
    rejected(index, reason, detail) {
      const span = spans[index];
      if (span === undefined) return;
      span.setAttributes({ [ATTR.rejectionReason]: reason, [ATTR.errorType]: reason });
      span.setStatus({ code: SpanStatusCode.ERROR, message: `${reason}: ${detail}` });
    },
    stage(spec, indexes, start, end, perMessage) {
      for (const [position, index] of indexes.entries()) {
        if (spans[index] === undefined) continue;
        const span = child(index, spec.name, spec.kind, start, {
          ...spec.attributes,
          ...perMessage?.(position),
        });
        if (span === undefined) continue;
        for (const retry of retries) {
          if (retry.key === spec.key) span.addEvent('retry', retry.attributes, retry.atMs);
        }
        span.end(end);
      }
    },
    retried(key, attempt, delayMs, error, atMs) {
      retries.push({
        key,
        atMs,
        attributes: {
          [ATTR.retryAttempt]: attempt,
          [ATTR.retryDelayMs]: delayMs,
          'exception.message': describeError(error),
          'exception.type': error instanceof Error ? error.name : typeof error,
        },
      });
    },
    finish(end, error) {
      for (const span of spans) {
        if (span === undefined) continue;
        if (error !== undefined) {
          const exception = error instanceof Error ? error : new Error(describeError(error));
          span.recordException(exception, end);
          span.setStatus({ code: SpanStatusCode.ERROR, message: exception.message });
        }
        span.end(end);
      }
    },
  };
}

/** Runs `work` with `ctx` active, so log lines written inside carry its trace ids. */
export function withContext<T>(ctx: Context, work: () => T): T {
  return ctx === ROOT_CONTEXT ? work() : context.with(ctx, work);
}
