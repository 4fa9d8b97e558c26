import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { startInfra } from '../support/infra.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, runCli, waitFor } from '../support/service.js';

const COUNT = 5_000;

describe('rebalancing between replicas', () => {
  let fixture: PipelineFixture;
  const consumers: ConsumerProcess[] = [];

  before(async () => {
    fixture = new PipelineFixture(await startInfra());
    // The first consumer creates the table itself (CLICKHOUSE_CREATE_TABLE=true).
    await fixture.setUp(6, { createTable: false });
  });

  after(async () => {
    for (const consumer of consumers) await consumer.stop('SIGKILL');
    await fixture.tearDown();
  });

  it('loses nothing when a second replica joins and the first leaves mid-stream', async () => {
    const env = fixture.env({ BATCH_MAX_MESSAGES: '100', CLICKHOUSE_CREATE_TABLE: 'true' });
    const first = await ConsumerProcess.start(env);
    consumers.push(first);
    await first.waitReady();

    // Half the users before the second replica joins, half (slowly) after: the second one
    // gets partitions while messages still arrive on them, however long it takes to start.
    const half = COUNT / 2;
    const before = await runCli(
      ['send', '--count', String(half), '--rate', '1000', '--no-progress'],
      env,
    );
    assert.equal(before.code, 0, before.stderr);
    await waitFor(
      'the first replica to store 500 offers',
      async () => (await first.metric('offers_scored_total')) >= 500,
    );

    const second = await ConsumerProcess.start(env);
    consumers.push(second);
    await second.waitReady();
    const sending = runCli(
      [
        'send',
        '--count',
        String(half),
        '--first-id',
        String(half + 1),
        '--rate',
        '250',
        '--no-progress',
      ],
      env,
    );
    await waitFor(
      'the second replica to take over partitions and store offers',
      async () => (await second.metric('offers_scored_total')) > 0,
      60_000,
    );
    assert.equal(await first.stop('SIGTERM'), 0, 'the first replica leaves cleanly');

    const sent = await sending;
    assert.equal(sent.code, 0, sent.stderr);
    await fixture.waitCommittedToEnd();

    const [stored] = await fixture.queryRows<{ final: string; users: string }>(
      `SELECT count() AS final, uniqExact(user_id) AS users FROM default.${fixture.table} FINAL`,
    );
    assert.equal(Number(stored?.users), COUNT, 'every user is in ClickHouse');
    assert.equal(Number(stored?.final), COUNT, 'redelivered rows collapse');
    assert.equal((await fixture.redisKeys()).length, COUNT, 'every user is in Redis');
    assert.equal(await second.stop('SIGTERM'), 0);
  });
});
