// The service on a real ClickHouse cluster: ZooKeeper and 2 shards x 2 replicas of
// clickhouse-server 18.16 (INFRA_CLICKHOUSE_MODE=cluster, in <INFRA_DIR>-clickhouse-cluster,
// left running for the cluster fault suite). migrate creates the replicated local tables and
// the Distributed table ON CLUSTER; the service inserts through the Distributed table.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { randomUUID } from 'node:crypto';

import { createClient } from '@clickhouse/client';

import { generateMessages } from '../../src/cli/registration-generator.js';
import { accountCluster, clusterNodes, type ClusterNode } from '../support/clickhouse-cluster.js';
import { startClickHouseClusterInfra, type InfraEnv } from '../support/infra.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { MIGRATIONS_TABLE } from '../../src/sinks/clickhouse-migrations-table.js';
import { ConsumerProcess, runCli, waitFor } from '../support/service.js';

const USERS = 3_000;

async function onNode<T>(node: ClusterNode, query: string): Promise<T[]> {
  const client = createClient({ url: node.url });
  try {
    return await (await client.query({ query, format: 'JSONEachRow' })).json<T>();
  } finally {
    await client.close();
  }
}

async function tablesOn(node: ClusterNode, table: string): Promise<Record<string, string>> {
  const client = createClient({ url: node.url });
  try {
    const result = await client.query({
      query: `SELECT name, engine, engine_full FROM system.tables WHERE database = 'default' AND name LIKE '${table}%'`,
      format: 'JSONEachRow',
    });
    const rows = await result.json<{ name: string; engine: string; engine_full: string }>();
    return Object.fromEntries(rows.map((row) => [row.name, `${row.engine}: ${row.engine_full}`]));
  } finally {
    await client.close();
  }
}

describe('ClickHouse cluster (2 shards x 2 replicas, 18.16)', () => {
  let infra: InfraEnv;
  let fixture: PipelineFixture;

  before(async () => {
    infra = await startClickHouseClusterInfra();
    fixture = new PipelineFixture(infra);
    assert.equal(fixture.clickhouseCluster, 'offers_cluster');
  });

  after(async () => {
    await fixture.tearDown();
  });

  it('migrate creates the replicated and Distributed tables on every node, and again changes nothing', async () => {
    const env = { ...fixture.env(), CLICKHOUSE_TTL_DAYS: '0' };
    for (let run = 0; run < 2; run += 1) {
      const result = await runCli(['migrate'], env);
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        /^ClickHouse 18\.16[^:]*: .* on cluster offers_cluster, 4 servers;/,
      );
    }
    for (const node of clusterNodes(infra)) {
      const tables = await tablesOn(node, fixture.table);
      assert.deepEqual(Object.keys(tables).sort(), [fixture.table, `${fixture.table}_local`]);
      assert.match(
        tables[`${fixture.table}_local`] ?? '',
        new RegExp(
          `^ReplicatedReplacingMergeTree: ReplicatedReplacingMergeTree\\('/clickhouse/tables/\\{shard\\}/default/${fixture.table}_local', '\\{replica\\}', version\\)`,
        ),
      );
      assert.match(
        tables[fixture.table] ?? '',
        new RegExp(
          `^Distributed: Distributed\\('offers_cluster', default, ${fixture.table}_local, cityHash64\\(user_id\\)\\)`,
        ),
      );
    }
    // A TTL is refused on 18.16, naming the variable and the version.
    const refused = await runCli(['migrate'], { ...env, CLICKHOUSE_TTL_DAYS: '30' });
    assert.notEqual(refused.code, 0);
    assert.match(
      refused.stderr,
      /CLICKHOUSE_TTL_DAYS=30 needs ClickHouse 20\.3 or later, but the server runs 18\.16/,
    );
  });

  it('the service stores every user once, on both shards, the same rows on each replica', async () => {
    await fixture.setUp(6);
    const producer = fixture.kafka.producer();
    await producer.connect();
    const users = new Set<number>();
    const messages = [...generateMessages({ count: USERS, firstUserId: 1, seed: 11 })];
    for (const message of messages) users.add(message.userId);
    for (let i = 0; i < messages.length; i += 500) {
      await producer.send(
        fixture.topic,
        messages.slice(i, i + 500).map(({ key, value }) => ({ key, value })),
      );
    }
    await producer.disconnect();

    const consumer = await ConsumerProcess.start(
      fixture.env({ BATCH_MAX_MESSAGES: '200', LOG_LEVEL: 'warn' }),
    );
    try {
      await fixture.waitCommittedToEnd();
      assert.equal(await consumer.stop('SIGTERM'), 0, consumer.output.slice(-2000));
    } finally {
      await consumer.stop('SIGKILL');
    }
    const accounting = await accountCluster(infra, fixture, users);
    assert.equal(accounting.lost, 0, 'every user is in the Distributed table under FINAL');
    assert.equal(accounting.duplicatesFinal, 0);
    assert.equal(accounting.unexpected, 0);
    assert.equal(accounting.rawRows, USERS, 'each row stored once, without FINAL too');
    assert.ok(accounting.replicasEqual, JSON.stringify(accounting.nodes));
    assert.ok(accounting.everyShardUsed, JSON.stringify(accounting.nodes));
    // Sharded by user: no user on both shards.
    const shardUsers = accounting.nodes
      .filter((count) => count.node.replica === 1)
      .reduce((sum, count) => sum + count.users, 0);
    assert.equal(shardUsers, USERS);
  });

  describe('migrate on the cluster: safe changes, refusals, two at once', () => {
    const tables: string[] = [];
    const migrateEnv = (table: string, extra: Record<string, string> = {}) => ({
      ...fixture.env(),
      CLICKHOUSE_TABLE: table,
      ...extra,
    });
    const newTable = (): string => {
      const name = `migrated_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
      tables.push(name);
      return name;
    };

    after(async () => {
      const client = createClient({ url: infra.clickhouseUrl });
      try {
        for (const name of tables) {
          for (const table of [name, `${name}_local`]) {
            await client.command({
              query: `DROP TABLE IF EXISTS default.${table} ON CLUSTER 'offers_cluster'`,
            });
          }
        }
      } finally {
        await client.close();
      }
    });

    it('adds a column missing on every server with ON CLUSTER statements; each server has the record', async () => {
      const table = newTable();
      assert.equal((await runCli(['migrate'], migrateEnv(table))).code, 0);
      // A release that adds a column, seen from the other side: the column dropped from the
      // replicated tables, and the Distributed table made again from them (18.16 refuses an
      // ALTER … ON CLUSTER of a Distributed table when shards use internal replication).
      const client = createClient({ url: infra.clickhouseUrl });
      try {
        await client.command({
          query: `ALTER TABLE default.${table}_local ON CLUSTER 'offers_cluster' DROP COLUMN model_version`,
        });
        // Replicas apply a replicated ALTER from ZooKeeper shortly after it returns.
        await waitFor('model_version dropped on every server', async () => {
          for (const node of clusterNodes(infra)) {
            const columns = await onNode<{ name: string }>(
              node,
              `DESCRIBE TABLE default.${table}_local`,
            );
            if (columns.some((column) => column.name === 'model_version')) return false;
          }
          return true;
        });
        await client.command({ query: `DROP TABLE default.${table} ON CLUSTER 'offers_cluster'` });
        await client.command({
          query: `CREATE TABLE default.${table} ON CLUSTER 'offers_cluster' AS default.${table}_local ENGINE = Distributed('offers_cluster', default, ${table}_local, cityHash64(user_id))`,
        });
      } finally {
        await client.close();
      }
      const dry = await runCli(['migrate', '--dry-run'], migrateEnv(table));
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(
        dry.stdout,
        new RegExp(`- default\\.${table}_local has no column model_version \\(on every server\\)`),
      );
      const result = await runCli(['migrate'], migrateEnv(table));
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        new RegExp(
          `ALTER TABLE default\\.${table}_local ON CLUSTER 'offers_cluster' ADD COLUMN model_version String AFTER offer`,
        ),
      );
      for (const node of clusterNodes(infra)) {
        for (const name of [`${table}_local`, table]) {
          const columns = await onNode<{ name: string; type: string }>(
            node,
            `DESCRIBE TABLE default.${name}`,
          );
          assert.ok(
            columns.some((column) => column.name === 'model_version' && column.type === 'String'),
            `${node.name}: ${name}`,
          );
        }
        // The record table is replicated to every server (one ZooKeeper path for all).
        await waitFor(`both runs recorded on ${node.name}`, async () => {
          const recorded = await onNode<{ n: string }>(
            node,
            `SELECT count() AS n FROM default.${MIGRATIONS_TABLE} WHERE table_name = '${table}'`,
          );
          return Number(recorded[0]?.n) === 2;
        });
      }
      const again = await runCli(['migrate'], migrateEnv(table));
      assert.match(again.stdout, /the schema matches the settings: nothing to change/);
    });

    it('two migrations at once both succeed and leave both tables on every server', async () => {
      const table = newTable();
      const results = await Promise.all([
        runCli(['migrate'], migrateEnv(table)),
        runCli(['migrate'], migrateEnv(table)),
      ]);
      for (const result of results) assert.equal(result.code, 0, result.stderr);
      for (const node of clusterNodes(infra)) {
        assert.deepEqual(Object.keys(await tablesOn(node, table)).sort(), [
          table,
          `${table}_local`,
        ]);
      }
    });

    it('refuses CLICKHOUSE_CLUSTER switched on over a single-server table, and off over a Distributed one', async () => {
      const single = newTable();
      const [first] = clusterNodes(infra);
      assert.ok(first);
      const alone = await runCli(
        ['migrate'],
        migrateEnv(single, { CLICKHOUSE_URL: first.url, CLICKHOUSE_CLUSTER: '' }),
      );
      assert.equal(alone.code, 0, alone.stderr);
      const on = await runCli(['migrate'], migrateEnv(single));
      assert.equal(on.code, 1, on.stdout);
      assert.match(
        on.stderr,
        new RegExp(
          `default\\.${single} is a ReplacingMergeTree\\(version\\), but the settings ask for a Distributed\\('offers_cluster', default, ${single}_local, cityHash64\\(user_id\\)\\) \\(on shard 1 replica 1 \\([^)]*\\)\\)\\.\\n    Way forward: ClickHouse cannot turn a table into another kind\\. Either keep CLICKHOUSE_CLUSTER empty`,
        ),
      );
      for (const node of clusterNodes(infra)) {
        assert.equal(
          (await tablesOn(node, `${single}_local`))[`${single}_local`],
          undefined,
          'nothing created',
        );
      }

      const clustered = newTable();
      assert.equal((await runCli(['migrate'], migrateEnv(clustered))).code, 0);
      const off = await runCli(
        ['migrate'],
        migrateEnv(clustered, { CLICKHOUSE_URL: first.url, CLICKHOUSE_CLUSTER: '' }),
      );
      assert.equal(off.code, 1, off.stdout);
      assert.match(
        off.stderr,
        new RegExp(
          `default\\.${clustered} is a Distributed\\('offers_cluster', default, ${clustered}_local, cityHash64\\(user_id\\)\\), but the settings ask for a ReplacingMergeTree\\(version\\)\\.\\n    Way forward: .*set CLICKHOUSE_CLUSTER \\(clickhouse\\.cluster\\) back`,
        ),
      );
    });
  });
});
