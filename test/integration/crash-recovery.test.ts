import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { startInfra } from '../support/infra.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, runCli, waitFor } from '../support/service.js';

const COUNT = 5_000;

describe('crash recovery', () => {
  let fixture: PipelineFixture;
  const consumers: ConsumerProcess[] = [];

  before(async () => {
    fixture = new PipelineFixture(await startInfra());
    await fixture.setUp(6);
  });

  after(async () => {
    for (const consumer of consumers) await consumer.stop('SIGKILL');
    await fixture.tearDown();
  });

  it('loses no user when the consumer is SIGKILLed mid-stream and restarted; duplicates collapse', async () => {
    // Small chunks so that many commits happen and the kill lands between some of them.
    const env = fixture.env({ BATCH_MAX_MESSAGES: '50' });
    const first = await ConsumerProcess.start(env);
    consumers.push(first);
    await first.waitReady();

    // Paced sending keeps the stream flowing while the consumer is killed.
    const sending = runCli(
      ['send', '--count', String(COUNT), '--rate', '1500', '--no-progress'],
      env,
    );
    await waitFor(
      'the first consumer to store 1,000 offers',
      async () => (await first.metric('offers_scored_total')) >= 1_000,
    );
    assert.equal(await first.stop('SIGKILL'), null, 'killed by a signal, not exited');
    const committedAtKill = [...(await fixture.committedOffsets()).values()].reduce(
      (sum, offset) => sum + Math.max(0, Number(offset)),
      0,
    );
    assert.ok(
      committedAtKill < COUNT,
      `killed mid-stream (committed ${committedAtKill} of ${COUNT})`,
    );

    const second = await ConsumerProcess.start(env);
    consumers.push(second);
    await second.waitReady();
    const sent = await sending;
    assert.equal(sent.code, 0, sent.stderr);
    await fixture.waitCommittedToEnd();

    const [stored] = await fixture.queryRows<{ raw: string; final: string; users: string }>(
      `SELECT (SELECT count() FROM default.${fixture.table}) AS raw,
              (SELECT count() FROM default.${fixture.table} FINAL) AS final,
              (SELECT uniqExact(user_id) FROM default.${fixture.table}) AS users`,
    );
    assert.equal(Number(stored?.users), COUNT, 'every user is in ClickHouse');
    assert.equal(Number(stored?.final), COUNT, 'redelivered rows collapse to one per user');
    assert.ok(Number(stored?.raw) >= COUNT);
    assert.equal((await fixture.redisKeys()).length, COUNT, 'every user is in Redis');

    await fixture.clickhouse.command({ query: `OPTIMIZE TABLE default.${fixture.table} FINAL` });
    const [merged] = await fixture.queryRows<{ rows: string }>(
      `SELECT count() AS rows FROM default.${fixture.table}`,
    );
    assert.equal(
      Number(merged?.rows),
      COUNT,
      'after a merge, duplicates are gone from storage too',
    );

    assert.equal(await second.stop('SIGTERM'), 0);
  });
});
