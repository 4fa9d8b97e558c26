import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { createClient, type ClickHouseClient } from '@clickhouse/client';

import { migrate, SchemaRefusedError } from '../../src/sinks/clickhouse-migration.js';
import { MIGRATIONS_TABLE } from '../../src/sinks/clickhouse-migrations-table.js';
import { parseServerVersion, schemaStatements } from '../../src/sinks/clickhouse-schema.js';
import { createChdbClient } from '../support/chdb.js';
import { startInfra, type InfraEnv } from '../support/infra.js';
import { freePort, runCli } from '../support/service.js';

/**
 * `migrate` against real servers: Debian's ClickHouse 18.16 through the CLI (what the hook
 * Job runs), and chDB (a current ClickHouse, in-process) for the TTL and the current column
 * types. The 2x2 cluster is test/integration/clickhouse-cluster.test.ts.
 */

const newTable = (): string => `migrated_${randomUUID().replaceAll('-', '').slice(0, 12)}`;

async function describeTable(client: ClickHouseClient, table: string): Promise<string[]> {
  const result = await client.query({
    query: `DESCRIBE TABLE default.${table}`,
    format: 'JSONEachRow',
  });
  return (await result.json<{ name: string; type: string }>()).map((c) => `${c.name} ${c.type}`);
}

async function records(
  client: ClickHouseClient,
  table: string,
): Promise<{ version: number; settings: string; statements: string[] }[]> {
  const result = await client.query({
    query: `SELECT version, settings, statements FROM default.${MIGRATIONS_TABLE} WHERE table_name = '${table}' ORDER BY applied_ms`,
    format: 'JSONEachRow',
  });
  return result.json();
}

describe('migrate on ClickHouse 18.16, one server (the CLI, as the hook Job runs it)', () => {
  let infra: InfraEnv;
  let client: ClickHouseClient;
  const tables: string[] = [];
  const env = (table: string, extra: Record<string, string> = {}) => ({
    CLICKHOUSE_URL: infra.clickhouseUrl,
    CLICKHOUSE_USER: infra.clickhouseUser,
    CLICKHOUSE_PASSWORD: infra.clickhousePassword,
    CLICKHOUSE_TABLE: table,
    ...extra,
  });
  const table = (): string => {
    const name = newTable();
    tables.push(name);
    return name;
  };

  before(async () => {
    infra = await startInfra();
    client = createClient({
      url: infra.clickhouseUrl,
      username: infra.clickhouseUser,
      password: infra.clickhousePassword,
    });
  });

  after(async () => {
    for (const name of tables) {
      await client.command({ query: `DROP TABLE IF EXISTS default.${name}` });
      await client
        .command({
          query: `ALTER TABLE default.${MIGRATIONS_TABLE} DELETE WHERE table_name = '${name}'`,
        })
        .catch(() => undefined);
    }
    await client.close();
  });

  it('a dry run changes nothing; a fresh install creates and records; a re-run is a no-op', async () => {
    const name = table();
    const dry = await runCli(['migrate', '--dry-run'], env(name));
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /schema version 2, recorded: none/);
    assert.match(
      dry.stdout,
      new RegExp(
        `would apply:\\n  - table default\\.${name} is missing\\n    CREATE TABLE IF NOT EXISTS default\\.${name}\\n`,
      ),
    );
    assert.match(dry.stdout, /dry run: nothing was changed/);
    assert.deepEqual(await describeTable(client, name).catch(() => []), []);

    const fresh = await runCli(['migrate'], env(name));
    assert.equal(fresh.code, 0, fresh.stderr);
    assert.match(fresh.stdout, /recorded schema version 2 and its settings/);
    assert.ok((await describeTable(client, name)).includes("event_time DateTime('UTC')"));

    const again = await runCli(['migrate'], env(name));
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /schema version 2, recorded: 2 at .* UTC by /);
    assert.match(again.stdout, /the schema matches the settings: nothing to change/);
    assert.doesNotMatch(again.stdout, /recorded schema version/);
    const recorded = await records(client, name);
    const [record, ...more] = recorded;
    assert.ok(record);
    assert.equal(more.length, 0);
    assert.equal(record.version, 2);
    assert.equal(record.settings, '{"cluster":"","ttlDays":0,"columnSet":"legacy"}');
    assert.equal(record.statements.length, 1);
  });

  it('adds a column a release added (one dropped here) after the column before it', async () => {
    const name = table();
    assert.equal((await runCli(['migrate'], env(name))).code, 0);
    await client.command({ query: `ALTER TABLE default.${name} DROP COLUMN model_version` });
    const result = await runCli(['migrate'], env(name));
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`default\\.${name} has no column model_version`));
    assert.match(result.stdout, /ADD COLUMN model_version String AFTER offer/);
    const columns = await describeTable(client, name);
    assert.equal(columns[columns.indexOf('offer String') + 1], 'model_version String');
    assert.equal((await records(client, name)).length, 2);
  });

  it('two migrations at once both succeed: a fresh install, then the same column added twice', async () => {
    const name = table();
    const options = { database: 'default', table: name, cluster: '', ttlDays: 0 };
    const second = createClient({
      url: infra.clickhouseUrl,
      username: infra.clickhouseUser,
      password: infra.clickhousePassword,
    });
    try {
      const fresh = await Promise.all([migrate(client, options), migrate(second, options)]);
      assert.ok(fresh.every((result) => result.plan.refusals.length === 0));
      await client.command({ query: `ALTER TABLE default.${name} DROP COLUMN kafka_offset` });
      const added = await Promise.all([migrate(client, options), migrate(second, options)]);
      assert.ok(
        added.some((result) => result.applied.length === 1),
        JSON.stringify(added.map((r) => r.applied)),
      );
      const columns = await describeTable(client, name);
      assert.equal(columns.filter((column) => column === 'kafka_offset UInt64').length, 1);
      const check = await migrate(client, options, { dryRun: true });
      assert.deepEqual(check.plan.changes, []);
    } finally {
      await second.close();
    }
  });

  it('exits 75 (try again) only when ClickHouse did not answer; 1 when it refused the user', async () => {
    const unreachable = await runCli(['migrate'], {
      ...env(table()),
      CLICKHOUSE_URL: `http://127.0.0.1:${await freePort()}`,
    });
    assert.equal(unreachable.code, 75, unreachable.stderr);
    assert.match(
      unreachable.stderr,
      /ClickHouse migration could not run \(a retry may succeed\): .*ECONNREFUSED/,
    );
    const refused = await runCli(['migrate'], env(table(), { CLICKHOUSE_PASSWORD: 'not-it' }));
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /check CLICKHOUSE_USER and CLICKHOUSE_PASSWORD/);
  });

  it('refuses a column of another type, another engine and a TTL, naming each, changing nothing', async () => {
    const name = table();
    assert.equal((await runCli(['migrate'], env(name))).code, 0);
    await client.command({
      query: `ALTER TABLE default.${name} MODIFY COLUMN kafka_partition UInt64`,
    });
    for (const args of [['migrate'], ['migrate', '--dry-run']]) {
      const refused = await runCli(args, env(name));
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(
        refused.stderr,
        /migrate refuses a change it cannot make safely; nothing was changed:/,
      );
      assert.match(
        refused.stderr,
        new RegExp(
          `column kafka_partition of default\\.${name} is UInt64, but the service writes UInt32\\.\\n    Way forward: migrate does not change a column's type .*MODIFY COLUMN kafka_partition UInt32`,
        ),
      );
    }

    const handMade = table();
    await client.command({
      query: `CREATE TABLE default.${handMade} (user_id UInt64, version UInt64) ENGINE = MergeTree ORDER BY user_id`,
    });
    const engine = await runCli(['migrate'], env(handMade));
    assert.equal(engine.code, 1);
    assert.match(
      engine.stderr,
      new RegExp(
        `default\\.${handMade} is a MergeTree, but the settings ask for a ReplacingMergeTree\\(version\\)\\.\\n    Way forward: ClickHouse cannot change a table's engine in place`,
      ),
    );
    assert.deepEqual(await describeTable(client, handMade), ['user_id UInt64', 'version UInt64']);

    // The server's own one-node cluster (scripts/infra) named over the single-server table.
    const clustered = await runCli(['migrate'], env(name, { CLICKHOUSE_CLUSTER: 'single_node' }));
    assert.equal(clustered.code, 1, clustered.stdout);
    assert.match(
      clustered.stderr,
      new RegExp(
        `default\\.${name} is a ReplacingMergeTree\\(version\\), but the settings ask for a Distributed\\('single_node'`,
      ),
    );

    const ttl = await runCli(['migrate'], env(name, { CLICKHOUSE_TTL_DAYS: '30' }));
    assert.equal(ttl.code, 1);
    assert.match(
      ttl.stderr,
      /CLICKHOUSE_TTL_DAYS=30 needs ClickHouse 20\.3 or later, but the server runs 18\.16/,
    );
  });
});

describe('migrate on a current ClickHouse (chDB): current types, TTL, partitions', () => {
  let client: ClickHouseClient;
  let close: () => Promise<void>;

  before(() => {
    ({ client, close } = createChdbClient());
  });
  after(() => close());

  const options = (table: string, ttlDays = 0) => ({
    database: 'default',
    table,
    cluster: '',
    ttlDays,
  });
  const ttlOf = async (table: string): Promise<string> => {
    const result = await client.query({
      query: `SELECT engine_full FROM system.tables WHERE database = 'default' AND name = '${table}'`,
      format: 'JSONEachRow',
    });
    const [row] = await result.json<{ engine_full: string }>();
    return /TTL (.*?)(?: SETTINGS|$)/.exec(row?.engine_full ?? '')?.[1] ?? '';
  };

  it('creates with the current types, then sets, changes and removes the TTL, each recorded', async () => {
    const table = newTable();
    const fresh = await migrate(client, options(table));
    assert.equal(fresh.applied.length, 1);
    assert.ok((await describeTable(client, table)).includes('offer LowCardinality(String)'));
    assert.deepEqual((await migrate(client, options(table))).applied, []);

    const set = await migrate(client, options(table, 30));
    assert.deepEqual(set.applied, [
      `ALTER TABLE default.${table} MODIFY TTL toDateTime(processed_at) + INTERVAL 30 DAY`,
    ]);
    assert.equal(await ttlOf(table), 'toDateTime(processed_at) + toIntervalDay(30)');
    await migrate(client, options(table, 7));
    assert.equal(await ttlOf(table), 'toDateTime(processed_at) + toIntervalDay(7)');
    const removed = await migrate(client, options(table, 0));
    assert.deepEqual(removed.applied, [`ALTER TABLE default.${table} REMOVE TTL`]);
    assert.equal(await ttlOf(table), '');
    assert.deepEqual((await migrate(client, options(table, 0))).applied, []);

    const history = await records(client, table);
    assert.deepEqual(
      history.map((row) => JSON.parse(row.settings) as { ttlDays: number }).map((s) => s.ttlDays),
      [0, 30, 7, 0],
    );
  });

  it('adds a missing column with its codec; keeps a table made before 20.3, with notes', async () => {
    const table = newTable();
    await migrate(client, options(table));
    await client.command({ query: `ALTER TABLE default.${table} DROP COLUMN kafka_offset` });
    const added = await migrate(client, options(table));
    assert.deepEqual(added.applied, [
      `ALTER TABLE default.${table} ADD COLUMN kafka_offset UInt64 CODEC(Delta, ZSTD(1)) AFTER kafka_partition`,
    ]);

    const legacy = newTable();
    for (const query of schemaStatements({
      database: 'default',
      table: legacy,
      cluster: '',
      ttlDays: 0,
      version: parseServerVersion('18.16.1'),
    })) {
      await client.command({ query });
    }
    const kept = await migrate(client, options(legacy));
    assert.deepEqual(kept.applied, []);
    const notes = kept.plan.notes.map((note) => note.what);
    assert.ok(
      notes.some((note) =>
        note.includes(
          `column offer of default.${legacy} is String (a new table would have LowCardinality(String)): kept`,
        ),
      ),
      notes.join('\n'),
    );
  });

  it('refuses another partitioning, naming it and the way forward', async () => {
    const table = newTable();
    await migrate(client, options(table));
    const other = newTable();
    await client.command({
      query: `CREATE TABLE default.${other} AS default.${table} ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMMDD(event_time) ORDER BY user_id`,
    });
    await assert.rejects(migrate(client, options(other)), (error: unknown) => {
      assert.ok(error instanceof SchemaRefusedError, String(error));
      assert.match(
        error.message,
        new RegExp(
          `default\\.${other} is partitioned by toYYYYMMDD\\(event_time\\), but the schema partitions by toYYYYMM\\(event_time\\)\\.\\n    Way forward: ClickHouse cannot change this in place`,
        ),
      );
      return true;
    });
  });
});
