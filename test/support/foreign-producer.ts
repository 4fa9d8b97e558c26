// Apache Kafka's own Java producer, driven from tests: records arrive exactly as Java clients
// write them, with their batching, compression codecs, headers and transaction markers. test/support/foreign-producer/ForeignProducer.java does the producing;
// this module runs it (built by foreign-producer-build.ts) with a plan on stdin and parses the
// JSON result it prints.
import { join } from 'node:path';

import { z } from 'zod';

import {
  compileJavaProducer,
  describeExit,
  JVM_FLAGS,
  MAIN_CLASS,
  runProcess,
  tail,
} from './foreign-producer-build.js';

export { compileJavaProducer };

const DEFAULT_TIMEOUT_MS = 180_000;

export type JavaCompression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

export interface JavaRecordHeader {
  readonly key: string;
  /** null is a header without a value (wire length -1), distinct from an empty one. */
  readonly value: string | Buffer | null;
}

export interface JavaProducerRecord {
  /** Explicit partition; the client's default partitioner chooses when undefined. */
  readonly partition?: number;
  /** Strings are sent as UTF-8; null or undefined is a null key. */
  readonly key?: string | Buffer | null;
  readonly value?: string | Buffer | null;
  /**
   * CreateTime in ms since the epoch; the client stamps the send time when undefined. A negative
   * value is refused by the client (the record's result then carries the error).
   */
  readonly timestamp?: number | bigint;
  /** In order; names may repeat. */
  readonly headers?: readonly JavaRecordHeader[];
}

/**
 * One step of a plan. The records of a `send` step go to the client at once (sharing batches and
 * compression as linger.ms/batch.size allow) and the step ends when all are acknowledged or failed.
 * With a transactionalId, sends are allowed between `begin` and `commit`/`abort` only.
 */
export type JavaProducerStep =
  | { readonly send: readonly JavaProducerRecord[] }
  | { readonly begin: true }
  | { readonly commit: true }
  | { readonly abort: true }
  | { readonly flush: true };

export interface JavaProducerPlan {
  readonly bootstrap: string | readonly string[];
  readonly topic: string;
  /** compression.type; default none. */
  readonly compression?: JavaCompression;
  readonly lingerMs?: number;
  readonly batchSize?: number;
  /** acks; default all. */
  readonly acks?: 'all' | '-1' | '0' | '1';
  /** enable.idempotence; the client's default (true) when undefined. */
  readonly idempotence?: boolean;
  /** Makes the producer transactional (initTransactions runs before the first step). */
  readonly transactionalId?: string;
  /** Any other producer property; null removes one the plan's fields set. */
  readonly extraConfig?: Readonly<Record<string, string | number | boolean | null>>;
  readonly steps: readonly JavaProducerStep[];
}

export interface JavaRecordAck {
  /** Index of the plan step that sent the record. */
  readonly step: number;
  /** Index into JavaProducerResult.transactions when sent inside a transaction. */
  readonly transaction?: number;
  readonly partition: number;
  readonly offset: number;
  /** The timestamp the broker stored (CreateTime as sent, or LogAppendTime). */
  readonly timestamp?: number;
  readonly serializedKeySize: number;
  readonly serializedValueSize: number;
}

export interface JavaRecordFailure {
  readonly step: number;
  readonly transaction?: number;
  /** Java exception class and message, e.g. "org.apache.kafka.common.errors.InvalidTimestampException: ...". */
  readonly error: string;
}

export type JavaRecordResult = JavaRecordAck | JavaRecordFailure;

export interface JavaTransactionResult {
  readonly beginStep: number;
  /** The commit/abort step; undefined when the plan ended with the transaction open. */
  readonly endStep?: number;
  readonly records: number;
  /**
   * "aborted" with `error` set: the commit failed and the transaction was aborted instead.
   * "open": the plan ended inside the transaction; closing the client aborts it (an abort marker
   * follows its records).
   */
  readonly outcome: 'committed' | 'aborted' | 'open';
  readonly error?: string;
}

export interface JavaProducerResult {
  /** One entry per record of every send step, in plan order. */
  readonly records: readonly JavaRecordResult[];
  readonly transactions: readonly JavaTransactionResult[];
  /** Time from creating the producer to closing it (JVM start-up not included). */
  readonly elapsedMs: number;
  /** Set when a step failed and the rest of the plan was skipped. */
  readonly error?: string;
}

export interface JavaProducerOptions {
  /** Kills the JVM after this long; default 180 s. */
  readonly timeoutMs?: number;
}

/** The Java producer failed; `result` holds what it did before, when it got that far. */
export class JavaProducerError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly result?: JavaProducerResult,
  ) {
    super(message);
    this.name = 'JavaProducerError';
  }
}

export function isAck(record: JavaRecordResult): record is JavaRecordAck {
  return !('error' in record);
}

// What ForeignProducer.java prints; checked so that a change on either side fails loudly.
const ackSchema = z.object({
  step: z.number().int(),
  transaction: z.number().int().optional(),
  partition: z.number().int(),
  offset: z.number().int(),
  // Up to Long.MAX_VALUE: beyond the safe integers, so not checked as one.
  timestamp: z.number().optional(),
  serializedKeySize: z.number().int(),
  serializedValueSize: z.number().int(),
});
const failureSchema = z.object({
  step: z.number().int(),
  transaction: z.number().int().optional(),
  error: z.string(),
});
const resultSchema = z.object({
  records: z.array(z.union([failureSchema, ackSchema])),
  transactions: z.array(
    z.object({
      beginStep: z.number().int(),
      endStep: z.number().int().optional(),
      records: z.number().int(),
      outcome: z.enum(['committed', 'aborted', 'open']),
      error: z.string().optional(),
    }),
  ),
  elapsedMs: z.number(),
  error: z.string().optional(),
}) satisfies z.ZodType<JavaProducerResult>;

function parseResult(stdout: string): JavaProducerResult | undefined {
  const line = stdout
    .split('\n')
    .map((text) => text.trim())
    .findLast((text) => text.startsWith('{'));
  if (line === undefined) return undefined;
  const parsed = resultSchema.safeParse(JSON.parse(line));
  if (!parsed.success) throw new Error(`unexpected result from the Java producer: ${line}`);
  return parsed.data;
}

function bytesField(
  name: 'key' | 'value',
  value: string | Buffer | null | undefined,
): Record<string, string | null> {
  if (Buffer.isBuffer(value)) return { [`${name}Base64`]: value.toString('base64') };
  return { [name]: value ?? null };
}

/** The plan as ForeignProducer.java reads it: Buffers as base64, bigints as decimal strings. */
function planJson(plan: JavaProducerPlan): string {
  const { bootstrap, steps, ...rest } = plan;
  const wire = {
    ...rest,
    bootstrap: typeof bootstrap === 'string' ? bootstrap : bootstrap.join(','),
    steps: steps.map((step) =>
      'send' in step
        ? {
            send: step.send.map((record) => ({
              partition: record.partition,
              timestamp:
                typeof record.timestamp === 'bigint'
                  ? record.timestamp.toString()
                  : record.timestamp,
              ...bytesField('key', record.key),
              ...bytesField('value', record.value),
              headers: (record.headers ?? []).map((header) => ({
                key: header.key,
                ...bytesField('value', header.value),
              })),
            })),
          }
        : step,
    ),
  };
  return JSON.stringify(wire);
}

/**
 * Runs `plan` with Kafka's Java KafkaProducer (compiling it first if needed) and returns what the
 * client reported per record and transaction. Rejects with a JavaProducerError (stderr's tail in
 * the message) when the JVM fails or a step fails; records that fail individually do not reject.
 */
export async function produceWithJavaClient(
  plan: JavaProducerPlan,
  options: JavaProducerOptions = {},
): Promise<JavaProducerResult> {
  const { classesDir, libsDir } = await compileJavaProducer();
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const outcome = await runProcess(
    'java',
    [...JVM_FLAGS, '-cp', `${join(libsDir, '*')}:${classesDir}`, MAIN_CLASS],
    planJson(plan),
    timeoutMs,
  );
  let result: JavaProducerResult | undefined;
  try {
    result = parseResult(outcome.stdout);
  } catch (error) {
    throw new JavaProducerError(
      `${error instanceof Error ? error.message : String(error)}\n${tail(outcome.stderr)}`,
      outcome.code,
      outcome.stderr,
    );
  }
  if (outcome.code === 0 && result !== undefined) return result;
  const reason = result?.error ?? describeExit(outcome, timeoutMs);
  throw new JavaProducerError(
    `Java producer failed on topic ${plan.topic}: ${reason}\n${tail(outcome.stderr)}`,
    outcome.code,
    outcome.stderr,
    result,
  );
}
