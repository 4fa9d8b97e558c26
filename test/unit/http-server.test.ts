import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import {
  startHttpServer,
  type ReadinessReport,
  type RunningHttpServer,
} from '../../src/http/server.js';
import { Readiness } from '../../src/service/readiness.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createMetrics } from '../../src/telemetry/metrics.js';

describe('http endpoints', () => {
  let server: RunningHttpServer;
  let report: ReadinessReport = { ready: true, checks: { consumer_in_group: true } };
  const metrics = createMetrics();
  const url = (path: string) => `http://127.0.0.1:${server.port}${path}`;

  before(async () => {
    server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      registry: metrics.registry,
      readiness: () => report,
      logger: createLogger('silent'),
    });
  });
  after(() => server.close());

  it('/healthz answers 200 while the process runs', async () => {
    const response = await fetch(url('/healthz'));
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { status: 'ok' });
  });

  it('/readyz follows the readiness report, with its checks as JSON', async () => {
    const ready = await fetch(url('/readyz'));
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { consumer_in_group: true } });
    report = {
      ready: false,
      checks: { consumer_in_group: false, sinks: { redis: 'connection refused' } },
    };
    const notReady = await fetch(url('/readyz?verbose=1'));
    assert.equal(notReady.status, 503);
    // Failing sinks are an object, not JSON inside a string.
    assert.deepEqual(await notReady.json(), {
      status: 'not ready',
      checks: { consumer_in_group: false, sinks: { redis: 'connection refused' } },
    });
  });

  it('/readyz during start-up answers 503 naming the stores still awaited', async () => {
    report = {
      ready: false,
      awaiting: ['ClickHouse', 'Kafka'],
      checks: { ClickHouse: 'awaited at start-up', Kafka: 'awaited at start-up' },
    };
    const response = await fetch(url('/readyz'));
    assert.equal(response.status, 503);
    assert.deepEqual(await response.json(), {
      status: 'starting',
      reason: 'awaiting ClickHouse, Kafka',
      awaiting: ['ClickHouse', 'Kafka'],
      checks: { ClickHouse: 'awaited at start-up', Kafka: 'awaited at start-up' },
    });
    assert.equal((await fetch(url('/healthz'))).status, 200);
  });

  it('/readyz names the loaded model: its version and the SHA-256 of its file', async () => {
    const readiness = new Readiness(['model', 'Kafka']);
    readiness.modelLoaded({ version: '2.0.0', sha256: 'ab'.repeat(32) });
    report = readiness.report();
    const response = await fetch(url('/readyz'));
    assert.equal(response.status, 503);
    assert.deepEqual(await response.json(), {
      status: 'starting',
      reason: 'awaiting Kafka',
      model: { version: '2.0.0', sha256: 'ab'.repeat(32) },
      awaiting: ['Kafka'],
      checks: { Kafka: 'awaited at start-up' },
    });
  });

  it('/metrics serves the registry in Prometheus text', async () => {
    metrics.scored.inc(3);
    const response = await fetch(url('/metrics'));
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    assert.match(await response.text(), /^offers_scored_total 3$/m);
  });

  it('answers 404 to other paths and 405 to other methods', async () => {
    assert.equal((await fetch(url('/nope'))).status, 404);
    assert.equal((await fetch(url('/healthz'), { method: 'POST' })).status, 405);
  });
});
