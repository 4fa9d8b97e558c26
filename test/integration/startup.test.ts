import assert from 'node:assert/strict';
import { createConnection, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';

import { startInfra } from '../support/infra.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, fatalMessage, freePort, waitFor } from '../support/service.js';

/** A TCP forwarder to `target` that starts listening on `port` only when `open()` is called. */
function lateProxy(port: number, target: URL): { open: () => Promise<void>; close: () => void } {
  let server: Server | undefined;
  return {
    open: () =>
      new Promise((resolve) => {
        server = createServer((client) => {
          const upstream = createConnection(Number(target.port), target.hostname);
          client.pipe(upstream).pipe(client);
          client.on('error', () => upstream.destroy());
          upstream.on('error', () => client.destroy());
        });
        server.listen(port, '127.0.0.1', resolve);
      }),
    close: () => server?.close(),
  };
}

/** One start-up policy for every store: tried within STARTUP_TIMEOUT_MS, then exit 1 naming it. */
describe('start-up with a store that is not there', () => {
  let fixture: PipelineFixture;
  const running: ConsumerProcess[] = [];

  before(async () => {
    fixture = new PipelineFixture(await startInfra());
    await fixture.setUp(2);
  });

  after(async () => {
    await Promise.all(running.map((consumer) => consumer.stop('SIGKILL')));
    await fixture.tearDown();
  });

  const start = async (env: Record<string, string>): Promise<ConsumerProcess> => {
    const consumer = await ConsumerProcess.start(fixture.env(env));
    running.push(consumer);
    return consumer;
  };

  // Each failed attempt is logged: by the service for ClickHouse and Redis, by the Kafka
  // client for Kafka (whose own connection retries, about 8 s, make one attempt).
  for (const [store, variable, url, attemptLine] of [
    [
      'ClickHouse',
      'CLICKHOUSE_URL',
      (port: number) => `http://127.0.0.1:${port}`,
      'ClickHouse not ready at start; retrying',
    ],
    [
      'Redis',
      'REDIS_URL',
      (port: number) => `redis://127.0.0.1:${port}`,
      'Redis not ready at start; retrying',
    ],
    [
      'Kafka',
      'KAFKA_BROKERS',
      (port: number) => `127.0.0.1:${port}`,
      'Failed to connect to seed broker',
    ],
  ] as const) {
    it(`retries ${store} at an address nothing listens on, then exits 1 naming it`, async () => {
      const consumer = await start({
        [variable]: url(await freePort()),
        STARTUP_TIMEOUT_MS: '3000',
      });
      assert.equal(await consumer.exited, 1, consumer.output.slice(-2000));
      assert.ok(consumer.output.includes(attemptLine), `logged: ${attemptLine}`);
      assert.match(
        fatalMessage(consumer.output),
        new RegExp(`${store} was not ready within 3 s of start \\(STARTUP_TIMEOUT_MS\\)`),
      );
    });
  }

  it('waits for a topic that does not exist yet, then exits 1 naming it', async () => {
    const consumer = await start({
      KAFKA_TOPIC: 'no-such-topic-at-start',
      STARTUP_TIMEOUT_MS: '3000',
    });
    assert.equal(await consumer.exited, 1, consumer.output.slice(-2000));
    assert.match(
      fatalMessage(consumer.output),
      /Kafka topic no-such-topic-at-start does not exist/,
    );
  });

  it('starts once a store it could not reach at first answers within the window', async () => {
    const port = await freePort();
    const redis = lateProxy(port, new URL(fixture.env().REDIS_URL ?? ''));
    try {
      const consumer = await start({
        REDIS_URL: `redis://127.0.0.1:${port}`,
        STARTUP_TIMEOUT_MS: '60000',
      });
      await waitFor('a failed attempt on Redis', () =>
        consumer.output.includes('Redis not ready at start; retrying'),
      );
      await redis.open();
      await waitFor('the consumer to join its group', () =>
        consumer.output.includes('joined consumer group'),
      );
    } finally {
      redis.close();
    }
  });
});
