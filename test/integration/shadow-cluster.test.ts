// Shadow scoring on a real ClickHouse cluster: ZooKeeper and 2 shards x 2 replicas of
// clickhouse-server 18.16 (INFRA_CLICKHOUSE_MODE=cluster, in <INFRA_DIR>-clickhouse-cluster).
// The shadow table takes the offers table's cluster shape: replicated local tables behind a
// Distributed table, made ON CLUSTER by migrate, and the consumer writes through it.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { createClient } from '@clickhouse/client';

import { shadowTableName } from '../../src/config/config.js';
import { MODEL_VERSION_KEY } from '../../src/scoring/scorer.js';
import { MIGRATIONS_TABLE } from '../../src/sinks/clickhouse-migrations-table.js';
import { localTableName } from '../../src/sinks/clickhouse-schema.js';
import { clusterNodes, type ClusterNode } from '../support/clickhouse-cluster.js';
import { startClickHouseClusterInfra, type InfraEnv } from '../support/infra.js';
import { withMetadataEntry } from '../support/model-file.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, runCli, waitFor } from '../support/service.js';

const USERS = 1_000;

async function onNode<T>(node: ClusterNode, query: string): Promise<T[]> {
  const client = createClient({ url: node.url });
  try {
    return await (await client.query({ query, format: 'JSONEachRow' })).json<T>();
  } finally {
    await client.close();
  }
}

describe('shadow scoring on a ClickHouse cluster (2 shards x 2 replicas, 18.16)', () => {
  let infra: InfraEnv;
  let fixture: PipelineFixture;
  let dir: string;
  let consumer: ConsumerProcess | undefined;
  const version = `shadow-cluster-${Date.now()}`;

  before(async () => {
    infra = await startClickHouseClusterInfra();
    fixture = new PipelineFixture(infra);
    assert.equal(fixture.clickhouseCluster, 'offers_cluster');
    await fixture.setUp(4, { createTable: false });
    dir = await mkdtemp(join(tmpdir(), 'shadow-cluster-'));
  });

  after(async () => {
    await consumer?.stop('SIGKILL');
    const shadow = shadowTableName(fixture.table);
    for (const table of [shadow, localTableName(shadow)]) {
      await fixture.clickhouse
        .command({ query: `DROP TABLE IF EXISTS default.${table} ON CLUSTER 'offers_cluster'` })
        .catch(() => undefined);
    }
    await fixture.tearDown();
    await rm(dir, { recursive: true, force: true });
  });

  it('migrate makes the shadow table replicated behind a Distributed table, and the consumer fills it', async () => {
    const shadowPath = join(dir, 'shadow.onnx');
    await writeFile(
      shadowPath,
      withMetadataEntry(await readFile('model/offer_model.onnx'), MODEL_VERSION_KEY, version),
    );
    const env = fixture.env({ MODEL_SHADOW_PATH: shadowPath });
    const shadow = shadowTableName(fixture.table);
    const local = localTableName(shadow);
    for (let run = 0; run < 2; run += 1) {
      const result = await runCli(['migrate'], env);
      assert.equal(result.code, 0, result.stderr);
      const unchanged = result.stdout.match(/nothing to change/g) ?? [];
      assert.equal(unchanged.length, run === 0 ? 0 : 2, result.stdout);
    }
    for (const node of clusterNodes(infra)) {
      const tables = await onNode<{ name: string; engine: string; engine_full: string }>(
        node,
        `SELECT name, engine, engine_full FROM system.tables WHERE database = 'default' AND name IN ('${shadow}', '${local}') ORDER BY name`,
      );
      assert.deepEqual(
        tables.map((table) => [table.name, table.engine]),
        [
          [shadow, 'Distributed'],
          [local, 'ReplicatedReplacingMergeTree'],
        ],
      );
      assert.match(
        tables[1]?.engine_full ?? '',
        new RegExp(
          `^ReplicatedReplacingMergeTree\\('/clickhouse/tables/\\{shard\\}/default/${local}'`,
        ),
      );
      assert.match(
        tables[0]?.engine_full ?? '',
        new RegExp(
          `^Distributed\\('offers_cluster', default, ${local}, cityHash64\\(user_id\\)\\)`,
        ),
      );
      const records = await onNode<{ table_name: string }>(
        node,
        `SELECT DISTINCT table_name FROM default.${MIGRATIONS_TABLE} WHERE table_name IN ('${fixture.table}', '${shadow}') ORDER BY table_name`,
      );
      assert.deepEqual(
        records.map((record) => record.table_name),
        [fixture.table, shadow],
      );
    }

    consumer = await ConsumerProcess.start(env);
    await consumer.waitReady();
    const sent = await runCli(['send', '--count', String(USERS), '--no-progress'], env);
    assert.equal(sent.code, 0, sent.stderr);
    await fixture.waitCommittedToEnd();
    const count = async () =>
      (
        await fixture.queryRows<{ rows: string; users: string; versions: string[] }>(
          `SELECT count() AS rows, uniqExact(user_id) AS users, groupUniqArray(model_version) AS versions FROM default.${shadow}`,
        )
      )[0];
    // A read may go to a replica that has not fetched the last part yet.
    await waitFor(
      'every shadow row readable',
      async () => Number((await count())?.rows) >= USERS,
      30_000,
    );
    const counts = await count();
    assert.deepEqual(
      { rows: Number(counts?.rows), users: Number(counts?.users), versions: counts?.versions },
      { rows: USERS, users: USERS, versions: [version] },
    );
    // Both shards hold shadow rows: the Distributed table spread them by user.
    const [first, second] = clusterNodes(infra).filter((node) => node.replica === 1);
    assert.ok(first && second);
    for (const node of [first, second]) {
      const [row] = await onNode<{ rows: string }>(
        node,
        `SELECT count() AS rows FROM default.${local}`,
      );
      assert.ok(Number(row?.rows) > 0, `shard ${node.shard} holds shadow rows`);
    }
    assert.equal(await consumer.stop('SIGTERM'), 0, consumer.output.slice(-2000));
    consumer = undefined;
  });
});
