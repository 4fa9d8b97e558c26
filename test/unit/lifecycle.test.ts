import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createShutdown, GroupMembership, type StopSteps } from '../../src/service/lifecycle.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createMetrics } from '../../src/telemetry/metrics.js';

function steps(journal: string[], drain: () => Promise<void> = () => Promise.resolve()): StopSteps {
  return {
    drain: async () => {
      journal.push('drain');
      await drain();
    },
    flush: () => journal.push('flush'),
    close: [
      () => Promise.resolve(journal.push('close producer')),
      () => Promise.reject(new Error('already closed')),
    ],
    flushTelemetry: () => {
      journal.push('telemetry');
      return Promise.resolve();
    },
  };
}

const logger = createLogger('silent');

describe('shutdown', () => {
  it('drains, flushes, closes, exports telemetry last, and exits 0', async () => {
    const journal: string[] = [];
    const shutdown = createShutdown({ graceMs: 5_000, logger, steps: steps(journal) });
    assert.equal(shutdown.stopping, false);
    const first = shutdown.stop('SIGTERM');
    assert.equal(shutdown.stopping, true);
    assert.equal(shutdown.stop('SIGINT'), first, 'a second signal joins the same stop');
    assert.equal(await first, 0);
    assert.equal(await shutdown.stopped, 0);
    assert.deepEqual(journal, ['drain', 'flush', 'close producer', 'telemetry']);
  });

  it('exits 1 after a fatal error, still stopping in order', async () => {
    const journal: string[] = [];
    const shutdown = createShutdown({ graceMs: 5_000, logger, steps: steps(journal) });
    assert.equal(await shutdown.stop('fatal error', 1), 1);
    assert.deepEqual(journal, ['drain', 'flush', 'close producer', 'telemetry']);
  });

  it('exits 1 when the consumer does not drain cleanly', async () => {
    const journal: string[] = [];
    const shutdown = createShutdown({
      graceMs: 5_000,
      logger,
      steps: steps(journal, () => Promise.reject(new Error('leave group failed'))),
    });
    assert.equal(await shutdown.stop('SIGTERM'), 1);
  });

  it('gives up with exit 1 when draining outlasts the grace period', async () => {
    const journal: string[] = [];
    const shutdown = createShutdown({
      graceMs: 20,
      logger,
      // A batch waiting on a sink that stays down: draining never ends.
      steps: steps(journal, () => new Promise<void>(() => undefined)),
    });
    // The grace timer does not hold the process open (a stopping service must not be kept
    // alive by it): this one holds the test's event loop meanwhile.
    const alive = setTimeout(() => undefined, 5_000);
    void shutdown.stop('SIGTERM');
    assert.equal(await shutdown.stopped, 1);
    clearTimeout(alive);
    assert.deepEqual(journal, ['drain']);
  });

  it('runs onStopping first', async () => {
    const journal: string[] = [];
    const shutdown = createShutdown({
      graceMs: 5_000,
      logger,
      steps: steps(journal),
      onStopping: () => journal.push('stopping'),
    });
    await shutdown.stop('SIGTERM');
    assert.equal(journal[0], 'stopping');
  });
});

describe('group membership', () => {
  it('is in the group once joined and while the brokers answered within the session', async () => {
    const metrics = createMetrics();
    let now = 100_000;
    let lastContact = 0;
    const group = new GroupMembership({ sessionTimeoutMs: 6_000, now: () => now });
    const inGroup = () => group.status(lastContact).inGroup;
    metrics.membership.use(() => group.status(lastContact));
    assert.equal(inGroup(), false, 'not before joining');
    lastContact = now;
    group.joined();
    assert.equal(inGroup(), true);
    assert.match(await metrics.registry.metrics(), /offers_kafka_in_group 1/);
    now += 6_000;
    assert.equal(inGroup(), true, 'exactly a session timeout is still in time');
    now += 1;
    assert.equal(inGroup(), false, 'silent for longer than the session timeout');
    const text = await metrics.registry.metrics();
    assert.match(text, /offers_kafka_in_group 0/);
    assert.match(text, /offers_kafka_last_contact_age_seconds 6.001/);
    lastContact = now;
    assert.equal(inGroup(), true, 'back once the brokers answer again');
    group.left();
    assert.equal(inGroup(), false, 'not while the client restarts');
  });
});
