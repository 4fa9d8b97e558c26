// Shared machinery of the fault-injection suite: its own services, a paced producer that
// keeps sending through faults, and the exact accounting every scenario ends with.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import { generateMessages, INVALID_SAMPLES } from '../../src/cli/registration-generator.js';
import { decodeRegistration, type RejectReason } from '../../src/contract/decode.js';
import type { Registration } from '../../src/contract/registration.js';
import {
  lastHeader,
  type InboundMessage,
  type MessageProducer,
} from '../../src/kafka/kafka-adapter.js';
import { DLQ_HEADERS } from '../../src/sinks/dead-letter.js';
import { PREDICTION_NAMES, type Predictions } from '../../src/scoring/predictions.js';
import { loadScorer, type Scorer } from '../../src/scoring/scorer.js';
import { infraDir, readInfraEnv, type InfraEnv, type ServiceName } from '../support/infra.js';
import type { PipelineFixture } from '../support/pipeline-fixture.js';
import { waitFor, type ConsumerProcess } from '../support/service.js';

const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const SCRIPTS = join(REPO_ROOT, 'scripts', 'infra');

/**
 * The suite kills and restarts services, so it never uses the services other test runs
 * share: its state dir sits next to theirs (`<INFRA_DIR>-faults`).
 */
export const FAULTS_INFRA_DIR = process.env.FAULTS_INFRA_DIR ?? `${infraDir()}-faults`;

function runScript(
  dir: string,
  script: string,
  args: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      'bash',
      [join(SCRIPTS, script), ...args],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, ...env, INFRA_DIR: dir },
        timeout: 10 * 60_000,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) {
          const tail = stderr.split('\n').slice(-40).join('\n');
          reject(new Error(`scripts/infra/${[script, ...args].join(' ')} failed\n${tail}`));
          return;
        }
        resolvePromise(stdout);
      },
    );
  });
}

/** Local Kafka, Redis and ClickHouse in a state dir of their own. */
export class Services {
  readonly dir: string;
  readonly #env: Record<string, string>;

  constructor(dir: string, env: Record<string, string> = {}) {
    this.dir = dir;
    this.#env = env;
  }

  async up(): Promise<InfraEnv> {
    await runScript(this.dir, 'up.sh', [], this.#env);
    return readInfraEnv(this.dir);
  }

  /** SIGKILL: the service crashes. */
  async kill(service: ServiceName): Promise<void> {
    await runScript(this.dir, 'service.sh', ['kill', service], this.#env);
  }

  /** SIGTERM, SIGKILL after the infra's stop timeout: a graceful restart's first half. */
  async stop(service: ServiceName): Promise<void> {
    await runScript(this.dir, 'service.sh', ['stop', service], this.#env);
  }

  /** Starts it again on its port and waits until it answers. */
  async start(service: ServiceName): Promise<void> {
    await runScript(this.dir, 'service.sh', ['start', service], this.#env);
  }

  async down(): Promise<void> {
    await runScript(this.dir, 'down.sh', [], this.#env);
  }
}

/** What a produced message must become: an offer of `userId`, or a dead letter with `reason`. */
export type Expectation =
  | { readonly kind: 'valid'; readonly userId: number; readonly registration: Registration }
  | { readonly kind: 'invalid'; readonly reason: RejectReason };

export interface PlannedMessage {
  readonly key: string;
  readonly value: string | Buffer | null;
  readonly expect: Expectation;
  /**
   * `partition/offset` of the record, for dead letters that cannot carry its key (the records
   * of a batch the consumer could not decode): they are found by their source position.
   */
  readonly at?: string;
}

/**
 * `count` seeded registrations (users `firstUserId..`) in the three wire shapes, with one
 * of the producer-caused invalid samples after every `invalidEvery` of them.
 */
export function planMessages(options: {
  readonly count: number;
  readonly firstUserId?: number;
  readonly invalidEvery?: number;
  readonly seed?: number;
}): PlannedMessage[] {
  const planned: PlannedMessage[] = [];
  let invalid = 0;
  for (const message of generateMessages({
    count: options.count,
    firstUserId: options.firstUserId ?? 1,
    seed: options.seed ?? 7,
  })) {
    const decoded = decodeRegistration(Buffer.from(message.value), 1 << 20);
    if (!decoded.ok) throw new Error(`generated message ${message.key} does not decode`);
    planned.push({
      key: message.key,
      value: message.value,
      expect: { kind: 'valid', userId: message.userId, registration: decoded.registration },
    });
    if (options.invalidEvery !== undefined && planned.length % options.invalidEvery === 0) {
      const sample = INVALID_SAMPLES[invalid % INVALID_SAMPLES.length];
      if (sample === undefined) throw new Error('no invalid samples');
      planned.push({
        key: `invalid-${invalid}`,
        value: sample.value,
        expect: { kind: 'invalid', reason: sample.reason as RejectReason },
      });
      invalid += 1;
    }
  }
  return planned;
}

/**
 * Sends planned messages at a steady rate and keeps going through faults: a batch the broker
 * did not acknowledge is sent again until it is (so a broker outage only delays the stream;
 * a retried batch may land twice, which the accounting counts as a duplicate).
 */
export class PacedProducer {
  #acked = 0;
  #failedAttempts = 0;
  #stopped = false;
  #running: Promise<void> | undefined;
  readonly #producer: MessageProducer;
  readonly #topic: string;
  readonly #messages: readonly PlannedMessage[];
  readonly #rate: number;

  constructor(
    producer: MessageProducer,
    topic: string,
    messages: readonly PlannedMessage[],
    ratePerSecond: number,
  ) {
    this.#producer = producer;
    this.#topic = topic;
    this.#messages = messages;
    this.#rate = ratePerSecond;
  }

  get acked(): number {
    return this.#acked;
  }

  get failedAttempts(): number {
    return this.#failedAttempts;
  }

  get total(): number {
    return this.#messages.length;
  }

  start(): this {
    this.#running ??= this.#run();
    return this;
  }

  /** Gives up on what is not sent yet (a failed test must not leave it retrying). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
  }

  /** Resolves once every message is acknowledged. */
  async finished(timeoutMs = 180_000): Promise<void> {
    this.start();
    await waitFor('the producer to finish', () => this.#acked === this.total, timeoutMs, 50);
    await this.#running;
  }

  async waitAcked(count: number, timeoutMs = 120_000): Promise<void> {
    await waitFor(`${count} messages acknowledged`, () => this.#acked >= count, timeoutMs, 20);
  }

  async #run(): Promise<void> {
    const batchSize = this.#rate > 0 ? Math.max(1, Math.ceil(this.#rate / 20)) : 500;
    const started = performance.now();
    while (this.#acked < this.total && !this.#stopped) {
      const batch = this.#messages.slice(this.#acked, this.#acked + batchSize);
      try {
        await this.#producer.send(
          this.#topic,
          batch.map((message) => ({ key: message.key, value: message.value })),
        );
      } catch {
        this.#failedAttempts += 1;
        await sleep(250);
        continue;
      }
      this.#acked += batch.length;
      if (this.#rate > 0) {
        const due = (this.#acked / this.#rate) * 1000 - (performance.now() - started);
        if (due > 0) await sleep(due);
      }
    }
  }
}

let scorerLoading: Promise<Scorer> | undefined;

/** The real model, in the test process, to check every stored offer against. */
export function referenceScorer(): Promise<Scorer> {
  scorerLoading ??= loadScorer(join(REPO_ROOT, 'model', 'offer_model.onnx'));
  return scorerLoading;
}

/** Each valid user's expected offer; a user planned twice expects the later message's. */
export async function expectedPredictions(
  messages: readonly PlannedMessage[],
): Promise<Map<number, Predictions>> {
  const valid = messages.flatMap((message) =>
    message.expect.kind === 'valid' ? [message.expect] : [],
  );
  const scorer = await referenceScorer();
  const predictions = await scorer.score(valid.map((entry) => entry.registration));
  return new Map(valid.map((entry, index) => [entry.userId, predictionAt(predictions, index)]));
}

function predictionAt(predictions: readonly Predictions[], index: number): Predictions {
  const prediction = predictions[index];
  if (prediction === undefined) throw new Error(`no prediction for row ${index}`);
  return prediction;
}

/** One sample of a Prometheus metric, chosen by a label matcher such as `sink="dlq"`. */
export async function metricSample(
  consumer: ConsumerProcess,
  name: string,
  labels: string,
): Promise<number | undefined> {
  const response = await fetch(`http://127.0.0.1:${consumer.httpPort}/metrics`);
  const text = await response.text();
  const line = text
    .split('\n')
    .find((candidate) => candidate.startsWith(`${name}{`) && candidate.includes(labels));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

/** The table that keeps a copy of every row inserted into the fixture's offer table. */
export function insertLog(fixture: PipelineFixture): string {
  return `default.${fixture.table}_inserts`;
}

/**
 * Keeps every inserted row's position in a plain MergeTree through a materialized view:
 * background merges of the ReplacingMergeTree collapse redelivered rows out of sight (and
 * stopping them leaves too many parts for FINAL), the log counts every write.
 */
export async function recordInserts(fixture: PipelineFixture): Promise<void> {
  await fixture.clickhouse.command({
    query: `CREATE MATERIALIZED VIEW ${insertLog(fixture)}
      ENGINE = MergeTree ORDER BY (kafka_partition, kafka_offset)
      AS SELECT user_id, kafka_partition, kafka_offset FROM default.${fixture.table}`,
  });
}

/** Committed offsets summed over partitions (unset counts as 0). */
export async function committedTotal(fixture: PipelineFixture): Promise<number> {
  return [...(await fixture.committedOffsets()).values()].reduce(
    (sum, offset) => sum + Math.max(0, Number(offset)),
    0,
  );
}

/**
 * Seconds from `sinceMs` until the group has committed everything that was in the topic
 * when this is called: the backlog a fault left behind is gone.
 */
export async function drainSeconds(
  fixture: PipelineFixture,
  sinceMs: number,
  timeoutMs = 120_000,
): Promise<number> {
  let target = new Map<number, string>();
  // The broker may have just come back: the first requests can fail while clients reconnect.
  await waitFor('the end offsets', async () => {
    target = await fixture.endOffsets();
    return target.size > 0;
  });
  await waitFor(
    'the backlog left by the fault to be committed',
    async () => {
      const committed = await fixture.committedOffsets();
      return [...target].every(
        ([partition, end]) => Number(committed.get(partition) ?? -1) >= Number(end),
      );
    },
    timeoutMs,
    100,
  );
  return (Date.now() - sinceMs) / 1000;
}

export interface TopicRecord {
  readonly partition: number;
  readonly message: InboundMessage;
}

/** Reads a whole topic as it is now (up to its current end offsets); a missing topic is empty. */
export async function readWholeTopic(
  fixture: PipelineFixture,
  topic: string,
  timeoutMs = 60_000,
): Promise<TopicRecord[]> {
  const ends = await fixture.endOffsets(topic).catch((error: unknown) => {
    if (String(error).includes('does not host this topic-partition'))
      return new Map<number, string>();
    throw error;
  });
  const pending = new Map([...ends].filter(([, end]) => Number(end) > 0));
  const received: TopicRecord[] = [];
  if (pending.size === 0) return received;
  const consumer = fixture.kafka.consumer({
    groupId: `reader-${fixture.id}-${Date.now()}`,
    topic,
    fromBeginning: true,
    partitionsConcurrency: 1,
    maxBytesPerPartition: 1_048_576,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 1_000,
  });
  await consumer.start(async (batch) => {
    for (const message of batch.messages) {
      const end = pending.get(batch.partition);
      if (end === undefined || Number(message.offset) >= Number(end)) continue;
      received.push({ partition: batch.partition, message });
      if (Number(message.offset) + 1 >= Number(end)) pending.delete(batch.partition);
    }
    await Promise.resolve();
  });
  try {
    await waitFor(`the whole of ${topic}`, () => pending.size === 0, timeoutMs);
  } finally {
    await consumer.stop();
  }
  return received;
}

const isInvalidKey = (key: string): boolean => key.startsWith('invalid-');

export interface CommitsSince {
  /** Valid messages created after the moment, and how many of them are committed. */
  readonly valid: { readonly produced: number; readonly committed: number };
  readonly invalid: { readonly produced: number; readonly committed: number };
}

/**
 * Which messages created after `sinceMs` (their Kafka CreateTime) the group has committed.
 * While a sink is down, no valid message created after it went down can be stored there, so
 * none of them may be committed; while the DLQ is down, no invalid one.
 */
export async function commitsSince(
  fixture: PipelineFixture,
  sinceMs: number,
): Promise<CommitsSince> {
  const committed = await fixture.committedOffsets();
  const input = await readWholeTopic(fixture, fixture.topic);
  const counts = { valid: { produced: 0, committed: 0 }, invalid: { produced: 0, committed: 0 } };
  for (const { partition, message } of input) {
    if (message.timestampMs <= sinceMs) continue;
    const kind = isInvalidKey(message.key?.toString() ?? '') ? counts.invalid : counts.valid;
    kind.produced += 1;
    if (Number(message.offset) < Number(committed.get(partition) ?? -1)) kind.committed += 1;
  }
  return counts;
}

/** One line of the accounting table. */
export interface AccountingRow {
  readonly scenario: string;
  /** Distinct messages produced (valid + invalid). */
  readonly produced: number;
  /** Distinct users among the valid messages: a user sent twice has one offer, the newest. */
  readonly valid: number;
  readonly invalid: number;
  /** Users in ClickHouse (FINAL) with the right offer. */
  readonly stored: number;
  /** Users in Redis with the right offer. */
  readonly redis: number;
  /** Distinct invalid messages in the DLQ with the right reason. */
  readonly deadLettered: number;
  /** Valid users missing from a sink or wrong there, plus invalid messages missing from the DLQ. */
  readonly lost: number;
  /** Rows written to ClickHouse beyond one per user: count() - count() FINAL before merges. */
  readonly duplicates: number;
  /** Of those, rows of a Kafka message stored more than once: redelivered batches. */
  readonly redelivered: number;
  /** Extra copies in the DLQ (redelivered dead letters). */
  readonly dlqDuplicates: number;
  /** Seconds from the end of the fault until its backlog was committed. */
  readonly recoverySeconds: number;
  readonly notes: string;
}

export interface AccountingDetail {
  readonly row: AccountingRow;
  /** Human-readable problems; empty when the accounting is exact. */
  readonly problems: readonly string[];
}

const FLOAT32_TOLERANCE = 1e-5;

function close(actual: unknown, expected: number): boolean {
  const value = Number(actual);
  return (
    Number.isFinite(value) &&
    Math.abs(value - expected) <= FLOAT32_TOLERANCE * Math.max(1, Math.abs(expected))
  );
}

function predictionProblems(
  where: string,
  userId: number,
  stored: Record<string, unknown>,
  expected: Predictions,
): string[] {
  const wrong = PREDICTION_NAMES.filter((name) => !close(stored[name], expected[name]));
  return wrong.length === 0
    ? []
    : [
        `${where} user ${userId}: ${wrong.map((name) => `${name}=${String(stored[name])} (expected ${expected[name]})`).join(', ')}`,
      ];
}

/**
 * The exact accounting of a scenario, once the group has committed everything: every valid
 * user once in ClickHouse (FINAL) and in Redis with the model's predictions, every invalid
 * message in the DLQ with its reason, and nothing else anywhere.
 */
export async function account(
  fixture: PipelineFixture,
  scenario: {
    readonly name: string;
    readonly messages: readonly PlannedMessage[];
    readonly recoverySeconds: number;
    readonly notes?: string;
  },
): Promise<AccountingDetail> {
  const problems: string[] = [];
  const expected = await expectedPredictions(scenario.messages);
  const modelVersion = (await referenceScorer()).modelVersion;
  const valid = scenario.messages.filter((message) => message.expect.kind === 'valid');
  const invalid = scenario.messages.filter((message) => message.expect.kind === 'invalid');

  const table = `default.${fixture.table}`;
  const log = insertLog(fixture);
  const [counts] = await fixture.queryRows<{ raw: string; final: string; messages: string }>(
    `SELECT (SELECT count() FROM ${log}) AS raw, (SELECT count() FROM ${table} FINAL) AS final,
            (SELECT uniqExact(kafka_partition, kafka_offset) FROM ${log}) AS messages`,
  );
  const raw = Number(counts?.raw ?? 0);
  const final = Number(counts?.final ?? 0);
  const messagesStored = Number(counts?.messages ?? 0);
  const rows = await fixture.queryRows<Record<string, unknown>>(
    `SELECT user_id, model_version, ${PREDICTION_NAMES.join(', ')} FROM ${table} FINAL`,
  );
  const lostUsers = new Set<number>();
  const inClickHouse = new Set<number>();
  for (const row of rows) {
    const userId = Number(row.user_id);
    const prediction = expected.get(userId);
    if (prediction === undefined) {
      problems.push(`ClickHouse has user ${userId}, which was never produced`);
      continue;
    }
    const wrong = predictionProblems('ClickHouse', userId, row, prediction);
    if (row.model_version !== modelVersion)
      wrong.push(`ClickHouse user ${userId}: model_version ${String(row.model_version)}`);
    if (wrong.length > 0) {
      problems.push(...wrong);
      lostUsers.add(userId);
      continue;
    }
    inClickHouse.add(userId);
  }
  if (final !== rows.length) problems.push(`count() FINAL ${final} but ${rows.length} rows read`);
  for (const userId of expected.keys()) {
    if (!inClickHouse.has(userId)) lostUsers.add(userId);
  }
  const missingInClickHouse = [...expected.keys()].filter((userId) => !inClickHouse.has(userId));
  if (missingInClickHouse.length > 0) {
    problems.push(
      `ClickHouse misses ${missingInClickHouse.length} users, e.g. ${missingInClickHouse.slice(0, 5).join(', ')}`,
      ...(await whereAreThey(fixture, missingInClickHouse.slice(0, 5))),
    );
  }

  const keys = await fixture.redisKeys();
  const expectedKeys = new Set(
    [...expected.keys()].map((userId) => `${fixture.keyPrefix}${userId}`),
  );
  const strayKeys = keys.filter((key) => !expectedKeys.has(key));
  if (strayKeys.length > 0)
    problems.push(
      `Redis has ${strayKeys.length} unexpected keys, e.g. ${strayKeys.slice(0, 3).join(', ')}`,
    );
  let inRedis = 0;
  const userIds = [...expected.keys()];
  for (let start = 0; start < userIds.length; start += 1_000) {
    const slice = userIds.slice(start, start + 1_000);
    const values = await fixture.redisValues(
      slice.map((userId) => `${fixture.keyPrefix}${userId}`),
    );
    for (const [index, text] of values.entries()) {
      const userId = slice[index] ?? 0;
      const prediction = expected.get(userId);
      if (text === null || prediction === undefined) {
        lostUsers.add(userId);
        continue;
      }
      let offer: Record<string, unknown>;
      try {
        offer = JSON.parse(text) as Record<string, unknown>;
      } catch {
        problems.push(`Redis value of user ${userId} is not JSON`);
        lostUsers.add(userId);
        continue;
      }
      const wrong = predictionProblems('Redis', userId, offer, prediction);
      if (offer.user_id !== userId)
        wrong.push(`Redis key of user ${userId} holds user_id ${String(offer.user_id)}`);
      if (offer.model_version !== modelVersion)
        wrong.push(`Redis user ${userId}: model_version ${String(offer.model_version)}`);
      if (wrong.length > 0) {
        problems.push(...wrong);
        lostUsers.add(userId);
        continue;
      }
      inRedis += 1;
    }
  }
  if (inRedis !== expected.size) problems.push(`Redis holds ${inRedis} of ${expected.size} offers`);

  const deadLetters = await readWholeTopic(fixture, fixture.dlqTopic);
  const identity = (message: PlannedMessage): string => message.at ?? message.key;
  const invalidById = new Map(invalid.map((message) => [identity(message), message]));
  const seen = new Map<string, number>();
  for (const { message: letter } of deadLetters) {
    const position = `${String(lastHeader(letter.headers, DLQ_HEADERS.partition))}/${String(lastHeader(letter.headers, DLQ_HEADERS.offset))}`;
    const key = invalidById.has(position) ? position : (letter.key?.toString() ?? '');
    const planned = invalidById.get(key);
    const reason = lastHeader(letter.headers, DLQ_HEADERS.reason)?.toString();
    if (planned === undefined) {
      problems.push(`the DLQ holds message ${JSON.stringify(key)}, which is not an invalid one`);
      continue;
    }
    if (planned.expect.kind !== 'invalid' || reason !== planned.expect.reason) {
      problems.push(
        `dead letter ${key} has reason ${String(reason)}, expected ${planned.expect.kind === 'invalid' ? planned.expect.reason : 'none'}`,
      );
      continue;
    }
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  const missingDeadLetters = invalid.filter((message) => !seen.has(identity(message)));
  if (missingDeadLetters.length > 0) {
    problems.push(
      `the DLQ misses ${missingDeadLetters.length} invalid messages, e.g. ${missingDeadLetters
        .slice(0, 3)
        .map((m) => m.key)
        .join(', ')}`,
    );
  }
  const dlqCopies = [...seen.values()].reduce((sum, copies) => sum + copies, 0);

  return {
    problems,
    row: {
      scenario: scenario.name,
      produced: valid.length + invalid.length,
      valid: expected.size,
      invalid: invalid.length,
      stored: inClickHouse.size,
      redis: inRedis,
      deadLettered: seen.size,
      lost: lostUsers.size + missingDeadLetters.length,
      duplicates: raw - final,
      redelivered: raw - messagesStored,
      dlqDuplicates: dlqCopies - seen.size,
      recoverySeconds: scenario.recoverySeconds,
      notes: scenario.notes ?? '',
    },
  };
}

/**
 * Where missing users' messages are in the input topic, against the group's committed
 * offsets: tells a message Kafka never kept from one the consumer skipped.
 */
async function whereAreThey(
  fixture: PipelineFixture,
  userIds: readonly number[],
): Promise<string[]> {
  const committed = await fixture.committedOffsets();
  const input = await readWholeTopic(fixture, fixture.topic);
  return userIds.map((userId) => {
    const found = input.filter(({ message }) => message.key?.toString() === String(userId));
    if (found.length === 0) return `user ${userId}: not in the input topic`;
    return `user ${userId}: ${found
      .map(
        ({ partition, message }) =>
          `partition ${partition} offset ${message.offset} (committed ${committed.get(partition) ?? 'none'})`,
      )
      .join('; ')}`;
  });
}

const COLUMNS: readonly [string, (row: AccountingRow) => string][] = [
  ['scenario', (row) => row.scenario],
  ['produced', (row) => String(row.produced)],
  ['valid', (row) => String(row.valid)],
  ['stored (CH FINAL)', (row) => String(row.stored)],
  ['Redis', (row) => String(row.redis)],
  ["DLQ'd", (row) => `${row.deadLettered}/${row.invalid}`],
  ['lost', (row) => String(row.lost)],
  ['dup rows', (row) => String(row.duplicates)],
  ['redelivered', (row) => String(row.redelivered)],
  ['dup DLQ', (row) => String(row.dlqDuplicates)],
  ['recovery s', (row) => row.recoverySeconds.toFixed(1)],
  ['notes', (row) => row.notes],
];

/** The accounting as a Markdown table. */
export function renderTable(rows: readonly AccountingRow[]): string {
  const cells = [
    COLUMNS.map(([title]) => title),
    ...rows.map((row) => COLUMNS.map(([, cell]) => cell(row))),
  ];
  const widths = COLUMNS.map((_, column) =>
    Math.max(...cells.map((line) => (line[column] ?? '').length)),
  );
  const line = (values: readonly string[]): string =>
    `| ${values.map((value, column) => value.padEnd(widths[column] ?? 0)).join(' | ')} |`;
  const [header, ...body] = cells;
  return [
    line(header ?? []),
    `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}

export async function writeAccounting(
  dir: string,
  rows: readonly AccountingRow[],
): Promise<string> {
  const file = join(dir, 'accounting.json');
  await writeFile(file, `${JSON.stringify(rows, null, 2)}\n`);
  await writeFile(join(dir, 'accounting.md'), `${renderTable(rows)}\n`);
  return file;
}
