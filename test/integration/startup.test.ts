import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';

import { createClient } from '@clickhouse/client';

import { startInfra, type InfraEnv } from '../support/infra.js';
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

/** The consumer's exit code, or 'still running' after `ms`. */
function exitWithin(
  consumer: ConsumerProcess,
  ms: number,
): Promise<number | null | 'still running'> {
  return Promise.race([consumer.exited, sleep(ms).then(() => 'still running' as const)]);
}

/** One start-up policy for every store: tried within STARTUP_TIMEOUT_MS, then exit 1 naming it. */
describe('start-up with a store that is not there', () => {
  let fixture: PipelineFixture;
  let infra: InfraEnv;
  const running: ConsumerProcess[] = [];

  before(async () => {
    infra = await startInfra();
    fixture = new PipelineFixture(infra);
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
      assert.equal(await consumer.waitExit(), 1, consumer.output.slice(-2000));
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
    assert.equal(await consumer.waitExit(), 1, consumer.output.slice(-2000));
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
      // The HTTP server listens from the start: alive, and not ready naming what it awaits.
      const base = `http://127.0.0.1:${consumer.httpPort}`;
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      const readyz = await fetch(`${base}/readyz`);
      assert.equal(readyz.status, 503);
      assert.deepEqual(
        ((await readyz.json()) as { status: string; reason: string; awaiting: string[] }).awaiting,
        ['Redis', 'Kafka'],
      );
      await redis.open();
      await waitFor('the consumer to join its group', () =>
        consumer.output.includes('joined consumer group'),
      );
    } finally {
      redis.close();
    }
  });

  it('waits for a table that does not exist, then exits 1 naming it and the fix', async () => {
    const consumer = await start({
      CLICKHOUSE_TABLE: 'no_such_table_at_start',
      STARTUP_TIMEOUT_MS: '3000',
    });
    assert.equal(await consumer.waitExit(), 1, consumer.output.slice(-2000));
    assert.match(
      fatalMessage(consumer.output),
      /ClickHouse table default\.no_such_table_at_start does not exist .*: create it with `realtime-offers migrate`/,
    );
  });

  it('stops at once when the table lacks a column, naming it', async () => {
    const client = createClient({ url: infra.clickhouseUrl });
    const table = `${fixture.table}_short`;
    try {
      await client.command({
        query: `CREATE TABLE default.${table} AS default.${fixture.table}`,
      });
      await client.command({ query: `ALTER TABLE default.${table} DROP COLUMN offer` });
      const consumer = await start({ CLICKHOUSE_TABLE: table, STARTUP_TIMEOUT_MS: '60000' });
      // At once: well within the 60 s window a missing store would be retried for.
      assert.equal(await exitWithin(consumer, 30_000), 1, consumer.output.slice(-2000));
      assert.match(
        fatalMessage(consumer.output),
        new RegExp(
          `ClickHouse table default\\.${table} does not fit the rows the service writes: no column offer\\. Run \`realtime-offers migrate\``,
        ),
      );
    } finally {
      await client.command({ query: `DROP TABLE IF EXISTS default.${table}` });
      await client.close();
    }
  });

  it('stops at once when its ClickHouse user may not insert into the table, naming the grant', async () => {
    // ClickHouse 18.16 has no GRANT: a user whose profile is read-only, in a users.d file the
    // server reads again by itself.
    const user = `reader_${fixture.id}`;
    const usersDir = join(infra.dir, 'clickhouse', 'users.d');
    const file = join(usersDir, `${user}.xml`);
    await mkdir(usersDir, { recursive: true });
    await writeFile(
      file,
      `<?xml version="1.0"?>
<yandex>
    <profiles><${user}><readonly>2</readonly></${user}></profiles>
    <users>
        <${user}>
            <password>reader-pw</password>
            <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
            <profile>${user}</profile>
            <quota>default</quota>
        </${user}>
    </users>
</yandex>
`,
    );
    const reader = createClient({
      url: infra.clickhouseUrl,
      username: user,
      password: 'reader-pw',
    });
    try {
      await waitFor(
        `ClickHouse to load user ${user}`,
        async () => {
          await (await reader.query({ query: 'SELECT 1', format: 'JSONEachRow' })).json();
          return true;
        },
        30_000,
        250,
      );
      const consumer = await start({
        CLICKHOUSE_USER: user,
        CLICKHOUSE_PASSWORD: 'reader-pw',
        STARTUP_TIMEOUT_MS: '60000',
      });
      // At once: well within the 60 s window a missing store would be retried for.
      assert.equal(await exitWithin(consumer, 30_000), 1, consumer.output.slice(-2000));
      assert.match(
        fatalMessage(consumer.output),
        new RegExp(
          `ClickHouse user ${user} may not insert into default\\.${fixture.table} \\(.*\\): GRANT INSERT ON default\\.${fixture.table} TO ${user}`,
        ),
      );
    } finally {
      await reader.close();
      await rm(file, { force: true });
    }
  });
});
