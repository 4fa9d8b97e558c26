import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { replayGroupId } from '../../src/cli/replay.js';
import { loadScorer } from '../../src/scoring/scorer.js';
import { versionEventMs } from '../../src/sinks/offer-record.js';
import { startInfra, type InfraEnv } from '../support/infra.js';
import { withMetadataEntry } from '../support/model-file.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import {
  CliProcess,
  ConsumerProcess,
  runCli,
  waitFor,
  type CliResult,
} from '../support/service.js';

const MODEL_FILE = 'model/offer_model.onnx';
const REPLAY_MODEL_VERSION = 'replay-test-2';

interface FinishedLine {
  msg: string;
  groupId: string;
  complete: boolean;
  scored: number;
  deadLettered: number;
  partitions: { partition: number; start: string; stop: string; scored: number }[];
}

/** The `replay finished` line of a replay's output; fails naming the output when it has none. */
function finishedLine(result: CliResult): FinishedLine {
  for (const line of result.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as FinishedLine;
    if (entry.msg === 'replay finished') return entry;
  }
  throw new Error(`no "replay finished" line:\n${result.stdout.slice(-3000)}\n${result.stderr}`);
}

/** A time in ms after every record sent so far, and before every record sent from now on. */
async function boundary(): Promise<number> {
  const at = Date.now() + 1;
  await waitFor('the clock to pass the boundary', () => Date.now() > at, 1_000, 2);
  return at;
}

async function send(
  fixture: PipelineFixture,
  firstId: number,
  count: number,
  seed: number,
  extra: readonly string[] = [],
): Promise<void> {
  const sent = await runCli(
    [
      'send',
      '--count',
      String(count),
      '--first-id',
      String(firstId),
      '--seed',
      String(seed),
      '--no-progress',
      ...extra,
    ],
    fixture.env(),
  );
  assert.equal(sent.code, 0, sent.stderr);
}

interface StoredState {
  model_version: string;
  version: string;
  offer: string;
  predicted_cost: number;
}

/** What both stores hold alike (ClickHouse keeps predictions as Float32, Redis as JSON numbers). */
function sameEvent(
  state: StoredState | undefined,
): Omit<StoredState, 'predicted_cost'> | undefined {
  if (state === undefined) return undefined;
  const { model_version, version, offer } = state;
  return { model_version, version, offer };
}

/** Per user: the FINAL row of ClickHouse and the Redis value (without when it was stored). */
async function storedState(
  fixture: PipelineFixture,
  users: number,
): Promise<{ rows: Map<number, StoredState>; redis: Map<number, StoredState> }> {
  const rows = await fixture.queryRows<StoredState & { user_id: string }>(
    `SELECT user_id, model_version, toString(version) AS version, offer, predicted_cost FROM default.${fixture.table} FINAL ORDER BY user_id`,
  );
  const ids = Array.from({ length: users }, (_, index) => index + 1);
  const values = await fixture.redisValues(ids.map((id) => `${fixture.keyPrefix}${id}`));
  const redis = new Map<number, StoredState>();
  for (const [index, value] of values.entries()) {
    if (value === null) continue;
    const stored = JSON.parse(value) as StoredState;
    redis.set(index + 1, {
      model_version: stored.model_version,
      version: stored.version,
      offer: stored.offer,
      predicted_cost: stored.predicted_cost,
    });
  }
  return {
    rows: new Map(
      rows.map((row) => [
        Number(row.user_id),
        {
          model_version: row.model_version,
          version: row.version,
          offer: row.offer,
          predicted_cost: row.predicted_cost,
        },
      ]),
    ),
    redis,
  };
}

describe('replay: a time range re-scored with another model, beside the live consumer', () => {
  let infra: InfraEnv;
  let modelDir: string;
  let replayModel: string;
  let liveModelVersion: string;
  const fixtures: PipelineFixture[] = [];
  const consumers: ConsumerProcess[] = [];

  before(async () => {
    infra = await startInfra();
    modelDir = await mkdtemp(join(tmpdir(), 'replay-model-'));
    replayModel = join(modelDir, 'retrained.onnx');
    await writeFile(
      replayModel,
      withMetadataEntry(await readFile(MODEL_FILE), 'model_version', REPLAY_MODEL_VERSION),
    );
    const scorer = await loadScorer(MODEL_FILE);
    liveModelVersion = scorer.modelVersion;
    await scorer.close();
    assert.notEqual(liveModelVersion, REPLAY_MODEL_VERSION);
  });

  after(async () => {
    for (const consumer of consumers) await consumer.stop('SIGKILL');
    for (const fixture of fixtures) await fixture.tearDown();
    await rm(modelDir, { recursive: true, force: true });
  });

  async function setUp(): Promise<{ fixture: PipelineFixture; consumer: ConsumerProcess }> {
    const fixture = new PipelineFixture(infra);
    fixtures.push(fixture);
    await fixture.setUp(3);
    const consumer = await ConsumerProcess.start(fixture.env());
    consumers.push(consumer);
    await consumer.waitReady();
    return { fixture, consumer };
  }

  it('re-scores exactly the range, leaves the live offsets alone, and a rerun stores the same', async () => {
    const { fixture, consumer } = await setUp();
    await send(fixture, 1, 300, 1);
    const from = await boundary();
    await send(fixture, 301, 300, 2, ['--invalid', '10']);
    const to = await boundary();
    await send(fixture, 601, 100, 3);
    const ends = await fixture.waitCommittedToEnd();
    assert.equal(await consumer.stop('SIGTERM'), 0, consumer.output.slice(-2000));
    const liveOffsets = await fixture.committedOffsets();
    const before = await storedState(fixture, 700);
    assert.equal(before.rows.size, 700);
    assert.ok([...before.rows.values()].every((row) => row.model_version === liveModelVersion));

    const args = ['replay', '--from', String(from), '--to', new Date(to).toISOString()];
    const env = fixture.env({ MODEL_PATH: replayModel });
    const started = Date.now();
    const replay = await runCli([...args, '--progress-interval', '1'], env);
    const firstRunMs = Date.now() - started;
    assert.equal(replay.code, 0, `${replay.stdout.slice(-3000)}\n${replay.stderr}`);
    const finished = finishedLine(replay);
    assert.equal(finished.groupId, replayGroupId(fixture.groupId, from, to));
    assert.equal(finished.complete, true);
    assert.equal(finished.scored, 300);
    assert.equal(finished.deadLettered, 10);
    assert.equal(
      finished.partitions.reduce((sum, p) => sum + Number(p.stop) - Number(p.start), 0),
      310,
      'the plan covers the 310 records of the range',
    );
    assert.match(replay.stdout, /"msg":"replay planned"/);

    // Exactly the range's users carry the new model, in both sinks; nobody else changed.
    const after = await storedState(fixture, 700);
    assert.equal(after.rows.size, 700);
    for (let user = 1; user <= 700; user += 1) {
      const row = after.rows.get(user);
      const stored = after.redis.get(user);
      assert.ok(row, `row of user ${user}`);
      const inRange = user > 300 && user <= 600;
      assert.equal(
        row.model_version,
        inRange ? REPLAY_MODEL_VERSION : liveModelVersion,
        `row ${user}`,
      );
      assert.deepEqual(sameEvent(stored), sameEvent(row), `Redis and ClickHouse, user ${user}`);
      // The same event: same version, refreshed by the new model.
      assert.equal(row.version, before.rows.get(user)?.version, `version of user ${user}`);
      if (!inRange) assert.deepEqual(row, before.rows.get(user), `user ${user} untouched`);
    }

    // The live group is where it was; the replay's group ends at the range's end.
    assert.deepEqual(await fixture.committedOffsets(), liveOffsets);
    assert.deepEqual(liveOffsets, ends);
    const admin = await fixture.kafka.admin();
    try {
      const replayOffsets = await admin.committedOffsets(finished.groupId, fixture.topic);
      for (const { partition, stop } of finished.partitions) {
        assert.equal(replayOffsets.get(partition), stop, `replay group, partition ${partition}`);
      }
      assert.ok(
        finished.partitions.some((p) => BigInt(p.stop) < BigInt(ends.get(p.partition) ?? '0')),
        'records after the range were left unreplayed',
      );
    } finally {
      await admin.disconnect();
    }

    // A rerun re-scores the same records into the same state.
    const rerun = await runCli(args, env);
    assert.equal(rerun.code, 0, `${rerun.stdout.slice(-3000)}\n${rerun.stderr}`);
    const again = finishedLine(rerun);
    assert.deepEqual(
      { scored: again.scored, deadLettered: again.deadLettered, partitions: again.partitions },
      { scored: 300, deadLettered: 10, partitions: finished.partitions },
    );
    assert.deepEqual(await storedState(fixture, 700), after);
    assert.deepEqual(await fixture.committedOffsets(), liveOffsets);
    console.log(`replay of 310 records: ${firstRunMs} ms (process start included)`);
  });

  it('never replaces a newer live event with an older replayed one', async () => {
    const users = 2_000;
    const half = users / 2;
    const { fixture, consumer } = await setUp();
    await send(fixture, 1, users, 11);
    const from = 0;
    const to = await boundary();
    // Newer events for the first half, stored before the replay starts.
    await send(fixture, 1, half, 12);
    await fixture.waitCommittedToEnd();

    // The replay of the older events races newer ones for the second half.
    const replay = new CliProcess(
      ['replay', '--from', String(from), '--to', String(to)],
      fixture.env({ MODEL_PATH: replayModel }),
    );
    await send(fixture, half + 1, half, 13, ['--rate', '400']);
    const result = await replay.exited;
    assert.equal(result.code, 0, `${result.stdout.slice(-3000)}\n${result.stderr}`);
    assert.equal(finishedLine(result).scored, users, 'the replay wrote every older event');
    await fixture.waitCommittedToEnd();
    assert.equal(await consumer.stop('SIGTERM'), 0, consumer.output.slice(-2000));

    const { rows, redis } = await storedState(fixture, users);
    assert.equal(rows.size, users);
    for (let user = 1; user <= users; user += 1) {
      const row = rows.get(user);
      assert.ok(row, `row of user ${user}`);
      assert.ok(versionEventMs(row.version) >= to, `user ${user} holds the newest event`);
      assert.equal(row.model_version, liveModelVersion, `user ${user}: the live consumer's offer`);
      assert.deepEqual(sameEvent(redis.get(user)), sameEvent(row), `Redis, user ${user}`);
    }
  });
});
