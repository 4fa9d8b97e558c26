// The service on a real ClickHouse cluster: ZooKeeper and 2 shards x 2 replicas of
// clickhouse-server 18.16 (INFRA_CLICKHOUSE_MODE=cluster, in <INFRA_DIR>-clickhouse-cluster,
// left running for the cluster fault suite). migrate creates the replicated local tables and
// the Distributed table ON CLUSTER; the service inserts through the Distributed table.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { createClient } from '@clickhouse/client';

import { generateMessages } from '../../src/cli/registration-generator.js';
import { accountCluster, clusterNodes, type ClusterNode } from '../support/clickhouse-cluster.js';
import { startClickHouseClusterInfra, type InfraEnv } from '../support/infra.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, runCli } from '../support/service.js';

const USERS = 3_000;

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
      assert.match(result.stdout, /on cluster offers_cluster \(ClickHouse 18\.16/);
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
});
