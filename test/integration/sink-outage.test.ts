import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';

import { startInfra, startService, stopService } from '../support/infra.js';
import { OtlpReceiver } from '../support/otlp-receiver.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, runCli, waitFor } from '../support/service.js';

const BEFORE_OUTAGE = 1_000;
const DURING_OUTAGE = 2_000;
const TOTAL = BEFORE_OUTAGE + DURING_OUTAGE;
const OUTAGE_MS = 4_000;

for (const sink of ['redis', 'clickhouse'] as const) {
  describe(`${sink} outage`, () => {
    let fixture: PipelineFixture;
    let consumer: ConsumerProcess | undefined;
    let receiver: OtlpReceiver;

    before(async () => {
      receiver = await OtlpReceiver.start();
      fixture = new PipelineFixture(await startInfra());
      await fixture.setUp(6);
    });

    after(async () => {
      await startService(sink);
      await consumer?.stop('SIGKILL');
      await fixture.tearDown();
      await receiver.close();
    });

    it(`pauses, reports not-ready, and delivers everything once ${sink} is back`, async () => {
      // Traced at a low ratio, as in production: retries must show up in sampled traces.
      consumer = await ConsumerProcess.start(
        fixture.env({
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
          OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
          OTEL_TRACES_SAMPLER_ARG: '0.1',
          OTEL_BSP_SCHEDULE_DELAY: '100',
        }),
      );
      const running = consumer;
      await running.waitReady();
      const send = async (count: number, firstId: number): Promise<void> => {
        const result = await runCli(
          ['send', '--count', String(count), '--first-id', String(firstId), '--no-progress'],
          fixture.env(),
        );
        assert.equal(result.code, 0, result.stderr);
      };

      await send(BEFORE_OUTAGE, 1);
      await waitFor(
        'the offers sent before the outage',
        async () => (await running.metric('offers_scored_total')) === BEFORE_OUTAGE,
      );

      await stopService(sink);
      await send(DURING_OUTAGE, BEFORE_OUTAGE + 1);
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
      // The outage lasts a fixed while on purpose: it is the fault being injected.
      await sleep(OUTAGE_MS);
      assert.equal(
        await running.metric('offers_scored_total'),
        BEFORE_OUTAGE,
        'nothing is acknowledged while a sink is down',
      );
      assert.ok(
        (await running.metric('offers_sink_retries_total')) > 0,
        'the failed writes are retried',
      );
      const committedDuringOutage = [...(await fixture.committedOffsets()).values()].reduce(
        (sum, offset) => sum + Math.max(0, Number(offset)),
        0,
      );
      assert.equal(
        committedDuringOutage,
        BEFORE_OUTAGE,
        'no offset is committed past what both sinks acknowledged',
      );
      await startService(sink);

      await waitFor(
        '/readyz to report ready again',
        async () => (await running.readiness()) === 200,
        60_000,
      );
      await fixture.waitCommittedToEnd();

      const [stored] = await fixture.queryRows<{ final: string; users: string }>(
        `SELECT count() AS final, uniqExact(user_id) AS users FROM default.${fixture.table} FINAL`,
      );
      assert.equal(Number(stored?.users), TOTAL, 'every user is in ClickHouse');
      assert.equal(Number(stored?.final), TOTAL);
      assert.equal((await fixture.redisKeys()).length, TOTAL, 'every user is in Redis');
      assert.equal(await running.metric('offers_scored_total'), TOTAL);
      assert.equal(await running.metric('offers_fetch_paused'), 0);
      assert.equal(await running.metric('offers_sink_up'), 3, 'every sink is up again');
      assert.equal(await running.stop('SIGTERM'), 0);

      const sinkSpan = sink === 'redis' ? 'EVALSHA' : `INSERT ${fixture.table}`;
      const retried = receiver.spans.filter(
        (span) => span.name === sinkSpan && span.events.some((event) => event.name === 'retry'),
      );
      assert.ok(retried.length > 0, `sampled ${sinkSpan} spans carry the retries as events`);
      const [first] = retried;
      assert.ok(first);
      assert.ok(
        first.events.every((event) => Number(event.attributes['offers.retry.attempt']) >= 1),
      );
    });
  });
}
