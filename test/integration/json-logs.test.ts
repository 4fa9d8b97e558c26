import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { startInfra } from '../support/infra.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, fatalMessage, freePort } from '../support/service.js';

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
  // every failed request: most of the output was not JSON. Start-up retries it, then stops.
  it('are one JSON object per line, the ClickHouse client and the fatal line included', async () => {
    const closedPort = await freePort();
    const running = await ConsumerProcess.start(
      fixture.env({ CLICKHOUSE_URL: `http://127.0.0.1:${closedPort}`, STARTUP_TIMEOUT_MS: '4000' }),
    );
    consumer = running;
    assert.equal(await running.waitExit(), 1, running.output.slice(-2000));
    assert.ok(
      running.output.split('ClickHouse not ready at start; retrying').length > 3,
      'several start-up attempts, each logged',
    );
    assert.match(fatalMessage(running.output), /ClickHouse was not ready within 4 s/);
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
