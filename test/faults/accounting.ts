// The exact accounting every fault scenario ends with: each valid user's offer in ClickHouse
// and Redis as the model scores it, each invalid message in the DLQ with its reason, and
// nothing else; rendered as a table and written as JSON and Markdown.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { lastHeader } from '../../src/kafka/kafka-adapter.js';
import { DLQ_HEADERS } from '../../src/sinks/dead-letter.js';
import { PREDICTION_NAMES, type Predictions } from '../../src/scoring/predictions.js';
import { loadScorer, type Scorer } from '../../src/scoring/scorer.js';
import { MODEL_PATH } from '../../tools/dev/paths.js';
import type { PipelineFixture } from '../support/pipeline-fixture.js';
import { insertLog, readWholeTopic } from './observation.js';
import type { PlannedMessage } from './traffic.js';

let scorerLoading: Promise<Scorer> | undefined;

/** The real model, in the test process, to check every stored offer against. */
export function referenceScorer(): Promise<Scorer> {
  scorerLoading ??= loadScorer(MODEL_PATH);
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
  // A cluster has no insert log (see FaultSuite.fixture): its raw rows are counted in the
  // Distributed table before merges, a lower bound of what was written.
  const log = fixture.clickhouseCluster === '' ? insertLog(fixture) : table;
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
