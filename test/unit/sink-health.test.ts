import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SinkHealth } from '../../src/pipeline/sink-health.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createMetrics } from '../../src/telemetry/metrics.js';

function health(): { health: SinkHealth; events: string[] } {
  const events: string[] = [];
  return {
    events,
    health: new SinkHealth({
      metrics: createMetrics(),
      logger: createLogger('silent'),
      onPause: () => events.push('pause'),
      onResume: () => events.push('resume'),
    }),
  };
}

describe('sink health', () => {
  it('pauses while a write waits for a down sink and resumes when it recovers', () => {
    const { health: h, events } = health();
    h.markDown('redis', 'connection refused');
    h.retryStarted();
    assert.deepEqual(events, ['pause']);
    assert.equal(h.healthy, false);
    h.markUp('redis');
    h.retryEnded();
    assert.deepEqual(events, ['pause', 'resume']);
    assert.equal(h.healthy, true);
    assert.equal(h.paused, false);
  });

  it('resumes fetching, still unhealthy, when every waiting write was given up', () => {
    const { health: h, events } = health();
    h.markDown('dlq', 'unknown topic');
    h.retryStarted();
    h.retryStarted();
    h.retryEnded();
    assert.deepEqual(events, ['pause'], 'one write still waits');
    h.retryEnded();
    assert.deepEqual(events, ['pause', 'resume'], 'nobody waits: redelivered batches must probe');
    assert.equal(h.healthy, false, 'the sink stays down until a write succeeds');
    h.markDown('dlq', 'unknown topic');
    h.retryStarted();
    assert.deepEqual(events, ['pause', 'resume', 'pause']);
  });
});
