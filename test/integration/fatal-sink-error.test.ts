import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { startInfra } from '../support/infra.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, runCli } from '../support/service.js';

describe('a sink failure no retry can fix', () => {
  let fixture: PipelineFixture;
  let consumer: ConsumerProcess | undefined;

  before(async () => {
    fixture = new PipelineFixture(await startInfra());
    await fixture.setUp(3);
  });

  after(async () => {
    await consumer?.stop('SIGKILL');
    await fixture.tearDown();
  });

  it('stops the consumer with exit code 1 and commits nothing', async () => {
    consumer = await ConsumerProcess.start(fixture.env());
    await consumer.waitReady();
    // Start-up checks the table; dropped afterwards, it is a failure no retry can fix.
    await fixture.clickhouse.command({ query: `DROP TABLE default.${fixture.table}` });
    const sent = await runCli(['send', '--count', '20', '--no-progress'], fixture.env());
    assert.equal(sent.code, 0, sent.stderr);

    assert.equal(await consumer.waitExit(), 1, consumer.output.slice(-2000));
    assert.match(consumer.output, /unrecoverable failure; stopping without commit/);
    assert.match(consumer.output, new RegExp(fixture.table));
    const committed = [...(await fixture.committedOffsets()).values()];
    assert.ok(
      committed.every((offset) => Number(offset) <= 0),
      `no offsets committed, got ${committed.join(',')}`,
    );
  });
});
