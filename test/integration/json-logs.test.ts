import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { startInfra } from '../support/infra.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, freePort, runCli, waitFor } from '../support/service.js';

describe('logs', () => {
  let fixture: PipelineFixture;
  let consumer: ConsumerProcess | undefined;

  before(async () => {
    fixture = new PipelineFixture(await startInfra());
    await fixture.setUp(2);
  });

  after(async () => {
    await consumer?.stop('SIGKILL');
    await fixture.tearDown();
  });

  // ClickHouse unreachable is the case where its client used to print multi-line text for
  // every failed insert: most of the output was not JSON.
  it('are one JSON object per line, the ClickHouse client included, with a store down', async () => {
    const closedPort = await freePort();
    const running = await ConsumerProcess.start(
      fixture.env({
        CLICKHOUSE_URL: `http://127.0.0.1:${closedPort}`,
        SINK_RETRY_INITIAL_MS: '50',
        SINK_RETRY_MAX_MS: '200',
      }),
    );
    consumer = running;
    await waitFor('the consumer to join its group', () =>
      running.output.includes('joined consumer group'),
    );
    const sent = await runCli(['send', '--count', '20', '--no-progress'], fixture.env());
    assert.equal(sent.code, 0, sent.stderr);
    await waitFor(
      'several failed inserts',
      () => running.output.split('sink write failed').length > 4,
    );
    await running.stop('SIGKILL');
    const lines = running.output.split('\n').filter((line) => line.trim() !== '');
    const notJson = lines.filter((line) => {
      try {
        return typeof JSON.parse(line) !== 'object';
      } catch {
        return true;
      }
    });
    assert.deepEqual(notJson, [], 'every line is a JSON object');
    assert.ok(
      lines.some((line) => line.includes('"component":"clickhouse-client"')),
      "the ClickHouse client's own lines are among them",
    );
  });
});
