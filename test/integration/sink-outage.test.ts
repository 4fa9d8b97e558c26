import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';

import { startInfra, startService, stopService } from '../support/infra.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, runCli, waitFor } from '../support/service.js';

const COUNT = 3_000;
const OUTAGE_MS = 4_000;

for (const sink of ['redis', 'clickhouse'] as const) {
  describe(`${sink} outage`, () => {
    let fixture: PipelineFixture;
    let consumer: ConsumerProcess | undefined;

    before(async () => {
      fixture = new PipelineFixture(await startInfra());
      await fixture.setUp(6);
    });

    after(async () => {
      await startService(sink);
      await consumer?.stop('SIGKILL');
      await fixture.tearDown();
    });

    it(`pauses, reports not-ready, and delivers everything once ${sink} is back`, async () => {
      consumer = await ConsumerProcess.start(fixture.env());
      const running = consumer;
      await running.waitReady();
      const sending = runCli(
        ['send', '--count', String(COUNT), '--rate', '1000', '--no-progress'],
        fixture.env(),
      );
      await waitFor(
        'some offers stored before the outage',
        async () => (await running.metric('offers_scored_total')) >= 300,
      );

      await stopService(sink);
      await waitFor(
        '/readyz to report not ready',
        async () => (await running.readiness()) === 503,
        30_000,
      );
      await waitFor(
        'fetching to pause',
        async () => (await running.metric('offers_fetch_paused')) === 1,
        30_000,
      );
      const scoredDuringOutage = await running.metric('offers_scored_total');
      // The outage lasts a fixed while on purpose: it is the fault being injected.
      await sleep(OUTAGE_MS);
      assert.equal(
        await running.metric('offers_scored_total'),
        scoredDuringOutage,
        'nothing is acknowledged while a sink is down',
      );
      assert.ok(
        (await running.metric('offers_sink_retries_total')) > 0,
        'the failed writes are retried',
      );
      await startService(sink);

      await waitFor(
        '/readyz to report ready again',
        async () => (await running.readiness()) === 200,
        60_000,
      );
      const sent = await sending;
      assert.equal(sent.code, 0, sent.stderr);
      await fixture.waitCommittedToEnd();

      const [stored] = await fixture.queryRows<{ final: string; users: string }>(
        `SELECT count() AS final, uniqExact(user_id) AS users FROM default.${fixture.table} FINAL`,
      );
      assert.equal(Number(stored?.users), COUNT, 'every user is in ClickHouse');
      assert.equal(Number(stored?.final), COUNT);
      assert.equal((await fixture.redisKeys()).length, COUNT, 'every user is in Redis');
      assert.equal(await running.metric('offers_scored_total'), COUNT);
      assert.equal(await running.metric('offers_fetch_paused'), 0);
      assert.equal(await running.stop('SIGTERM'), 0);
    });
  });
}
