// Apache Kafka's own Java producer, driven from tests: records arrive exactly as Java clients
// write them, with their batching, compression codecs, headers and transaction markers. test/support/foreign-producer/ForeignProducer.java does the producing;
// this module compiles it once against the Kafka jars that scripts/infra/install.sh resolves,
// runs it with a plan on stdin and parses the JSON result it prints.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { z } from 'zod';

import { parseEnvFile } from '../../tools/dev/local-env.js';
import { INFRA_SCRIPTS_DIR, REPO_ROOT } from '../../tools/dev/paths.js';

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

const SOURCE_DIR = join(REPO_ROOT, 'test', 'support', 'foreign-producer');
const SOURCE_FILE = join(SOURCE_DIR, 'ForeignProducer.java');
const LOG_CONFIG_FILE = join(SOURCE_DIR, 'log4j2.properties');
const MAIN_CLASS = 'ForeignProducer';
const JAVA_RELEASE = '17';
const DEFAULT_TIMEOUT_MS = 180_000;
const COMPILE_TIMEOUT_MS = 120_000;
const STDERR_TAIL_LINES = 40;
// Short-lived client JVM: small heap, no parallel GC threads, C1 only (faster start-up on a
// shared 2-core machine than tiered C2).
const JVM_FLAGS = [
  '-Xms16m',
  '-Xmx256m',
  '-XX:+UseSerialGC',
  '-XX:TieredStopAtLevel=1',
  '-Djava.awt.headless=true',
  `-Dlog4j2.configurationFile=${LOG_CONFIG_FILE}`,
];

interface KafkaLibs {
  readonly version: string;
  readonly cacheDir: string;
  readonly libsDir: string;
  /** Contents of install.sh's completion marker (a fingerprint of what the jars came from). */
  readonly fingerprint: string;
}

/** Where scripts/infra/install.sh puts the jars: $INFRA_CACHE_DIR/kafka/<version>/libs. */
async function kafkaLibs(): Promise<KafkaLibs> {
  const versionsFile = join(INFRA_SCRIPTS_DIR, 'versions.env');
  const version = parseEnvFile(await readFile(versionsFile, 'utf8')).KAFKA_VERSION;
  if (version === undefined || version === '')
    throw new Error(`${versionsFile} has no KAFKA_VERSION`);
  const fromEnv = process.env.INFRA_CACHE_DIR;
  const cacheDir =
    fromEnv !== undefined && fromEnv !== '' ? resolve(fromEnv) : join(REPO_ROOT, '.cache');
  const home = join(cacheDir, 'kafka', version);
  let fingerprint: string;
  try {
    fingerprint = (await readFile(join(home, '.complete'), 'utf8')).trim();
  } catch {
    throw new Error(
      `Kafka ${version} jars are not in ${home}/libs: run scripts/infra/install.sh (make deps)`,
    );
  }
  return { version, cacheDir, libsDir: join(home, 'libs'), fingerprint };
}

interface ProcessOutcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

function runProcess(
  command: string,
  args: readonly string[],
  input: string,
  timeoutMs: number,
): Promise<ProcessOutcome> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${error.message}`, { cause: error }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
        timedOut,
      });
    });
    // A JVM that dies early closes stdin under us; its exit status tells what happened.
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

function tail(text: string, lines = STDERR_TAIL_LINES): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function describeExit(outcome: ProcessOutcome, timeoutMs: number): string {
  if (outcome.timedOut) return `timed out after ${timeoutMs} ms`;
  return outcome.signal !== null ? `killed by ${outcome.signal}` : `exit code ${outcome.code}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

interface CompiledProducer {
  readonly classesDir: string;
  readonly libsDir: string;
  /** True when this call ran javac (false: the classes were cached). */
  readonly compiled: boolean;
}

let compiling: Promise<CompiledProducer> | undefined;

/**
 * Compiles ForeignProducer.java into <cache>/foreign-producer/<hash>/ unless it is there already.
 * The hash covers the source, the Kafka version and jars, and the target release. Test processes
 * may compile at the same time: each writes its own temporary dir and renames it into place; the
 * first rename wins and the others drop their copy.
 */
export function compileJavaProducer(): Promise<CompiledProducer> {
  compiling ??= compile().catch((error: unknown) => {
    compiling = undefined;
    throw error;
  });
  return compiling;
}

async function compile(): Promise<CompiledProducer> {
  const libs = await kafkaLibs();
  const source = await readFile(SOURCE_FILE);
  const hash = createHash('sha256')
    .update(source)
    .update(`\0kafka=${libs.version}\0jars=${libs.fingerprint}\0release=${JAVA_RELEASE}`)
    .digest('hex')
    .slice(0, 20);
  const cacheRoot = join(libs.cacheDir, 'foreign-producer');
  const classesDir = join(cacheRoot, hash);
  const mainClass = join(classesDir, `${MAIN_CLASS}.class`);
  if (await exists(mainClass)) return { classesDir, libsDir: libs.libsDir, compiled: false };

  await mkdir(cacheRoot, { recursive: true });
  const tmp = join(cacheRoot, `${hash}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const javac = await runProcess(
      'javac',
      [
        '--release',
        JAVA_RELEASE,
        '-Xlint:all,-options',
        '-encoding',
        'UTF-8',
        '-cp',
        join(libs.libsDir, '*'),
        '-d',
        tmp,
        SOURCE_FILE,
      ],
      '',
      COMPILE_TIMEOUT_MS,
    ).catch((error: unknown) => {
      throw new Error(
        `${error instanceof Error ? error.message : String(error)} (the foreign producer needs a JDK: apt-get install openjdk-17-jdk-headless)`,
      );
    });
    if (javac.code !== 0) {
      throw new Error(
        `javac ${SOURCE_FILE} failed (${describeExit(javac, COMPILE_TIMEOUT_MS)}):\n${tail(javac.stderr + javac.stdout)}`,
      );
    }
    try {
      await rename(tmp, classesDir);
    } catch (error) {
      // Another process renamed its copy first (the target exists and is not empty).
      if (!(await exists(mainClass))) throw error;
    }
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
  return { classesDir, libsDir: libs.libsDir, compiled: true };
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
