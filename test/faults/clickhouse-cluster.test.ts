// The service on a real ClickHouse cluster (ZooKeeper, 2 shards x 2 replicas of 18.16) while
// a part of it fails under load: a replica SIGKILLed and restarted, ZooKeeper stopped for 10 s,
// responses lost so that the same insert is sent again. The service reaches the cluster through
// a TCP balancer over all four servers (what a Kubernetes Service over the replicas gives it:
// a connection goes to a server that accepts it). Each scenario ends with an exact accounting:
// every user once in the Distributed table under FINAL, the replicas of each shard equal, and
// every invalid message in the DLQ. Its own state dir (<INFRA_DIR>-clickhouse-cluster, shared
// with the cluster integration test), taken down at the end.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, describe, it } from 'node:test';

import { createClient } from '@clickhouse/client';

import {
  accountCluster,
  BalancingProxy,
  clusterNodes,
  type ClusterAccounting,
} from '../support/clickhouse-cluster.js';
import { CLICKHOUSE_CLUSTER_INFRA_DIR, readInfraEnv, Services } from '../support/infra.js';
import type { PipelineFixture } from '../support/pipeline-fixture.js';
import type { ConsumerProcess } from '../support/service.js';
import { drainSeconds, metricSample } from './observation.js';
import { planMessages, type PacedProducer } from './traffic.js';
import { FAULT_CONSUMER_ENV, FaultSuite, hasExited } from './suite.js';

const SCENARIOS = 3;
const USERS = 2_000;

interface Row {
  readonly scenario: string;
  readonly accounting: ClusterAccounting;
  readonly deadLettered: number;
  readonly invalid: number;
  readonly retries: number;
  readonly recoverySeconds: number;
  readonly notes: string;
}

function renderRows(rows: readonly Row[]): string {
  const header =
    '| scenario | users sent | lost | duplicates (FINAL) | raw rows (shard replicas 1) | raw duplicates | rows per node (s1r1, s1r2, s2r1, s2r2) | replicas equal | DLQ / invalid | CH retries | recovery | notes |';
  const lines = rows.map(
    ({ scenario, accounting: a, deadLettered, invalid, retries, recoverySeconds, notes }) =>
      `| ${scenario} | ${a.expected} | ${a.lost} | ${a.duplicatesFinal} | ${a.rawRows} | ${a.rawDuplicates} | ${a.nodes.map((n) => n.rows).join(', ')} | ${a.replicasEqual ? 'yes' : 'NO'} | ${deadLettered} / ${invalid} | ${retries} | ${recoverySeconds.toFixed(1)} s | ${notes} |`,
  );
  return [header, `|${' --- |'.repeat(12)}`, ...lines].join('\n');
}

interface Scenario {
  readonly fixture: PipelineFixture;
  readonly consumer: ConsumerProcess;
  readonly balancer: BalancingProxy;
  readonly producer: PacedProducer;
}

describe('ClickHouse cluster faults under load', () => {
  const suite = new FaultSuite(
    new Services(CLICKHOUSE_CLUSTER_INFRA_DIR, { INFRA_CLICKHOUSE_MODE: 'cluster' }),
    FAULT_CONSUMER_ENV,
  );
  const rows: Row[] = [];
  before(() => suite.setUp());
  afterEach(() => suite.cleanUp());
  after(async () => {
    if (rows.length > 0) {
      const table = renderRows(rows);
      const file = join(suite.services.dir, 'accounting.md');
      await mkdir(suite.services.dir, { recursive: true });
      await writeFile(file, `${table}\n`);
      console.log(`\nClickHouse cluster accounting (${file}):\n${table}\n`);
    }
    await suite.tearDown('ClickHouse cluster accounting');
  });

  const messages = planMessages({ count: USERS, invalidEvery: 100 });
  const users = new Set(
    messages.flatMap((m) => (m.expect.kind === 'valid' ? [m.expect.userId] : [])),
  );
  const invalid = messages.filter((m) => m.expect.kind === 'invalid').length;

  async function start(extraEnv: Record<string, string> = {}): Promise<Scenario> {
    const fixture = await suite.fixture(6);
    const balancer = await BalancingProxy.start(clusterNodes(suite.infra).map((node) => node.url));
    suite.onCleanUp(() => balancer.close());
    const consumer = await suite.consumer(fixture, {
      CLICKHOUSE_URL: balancer.url,
      LOG_LEVEL: 'warn',
      ...extraEnv,
    });
    await consumer.waitReady();
    const producer = (await suite.pacedProducer(fixture, messages, 250)).start();
    await producer.waitAcked(500);
    return { fixture, consumer, balancer, producer };
  }

  async function finish(
    { fixture, consumer, producer }: Scenario,
    scenario: string,
    recoverySeconds: number,
    notes: string,
  ): Promise<Row> {
    await producer.finished();
    await fixture.waitCommittedToEnd();
    const deadLetters = await fixture.readDeadLetters(invalid);
    const accounting = await accountCluster(suite.infra, fixture, users);
    const row: Row = {
      scenario,
      accounting,
      deadLettered: deadLetters.length,
      invalid,
      retries:
        (await metricSample(consumer, 'offers_sink_retries_total', 'sink="clickhouse"')) ?? 0,
      recoverySeconds,
      notes,
    };
    rows.push(row);
    assert.equal(accounting.lost, 0, `${scenario}: nothing lost`);
    assert.equal(accounting.duplicatesFinal, 0, `${scenario}: no duplicates under FINAL`);
    assert.equal(accounting.unexpected, 0);
    assert.ok(accounting.replicasEqual, `${scenario}: ${JSON.stringify(accounting.nodes)}`);
    assert.ok(accounting.everyShardUsed);
    assert.equal(row.deadLettered, invalid, `${scenario}: only the invalid messages in the DLQ`);
    assert.equal(
      (await metricSample(consumer, 'offers_sink_errors_total', 'retriable="false"')) ?? 0,
      0,
      'no failure was taken for fatal',
    );
    assert.equal(await consumer.stop('SIGTERM'), 0);
    return row;
  }

  it('a replica SIGKILLed under load: inserts go on, the restarted replica catches up', async () => {
    const run = await start();
    const victim = 'clickhouse-2';
    await suite.services.kill(victim);
    suite.onCleanUp(() => suite.services.start(victim));
    // Inserts go on while it is down: the stream advances by a good part.
    const during = run.producer.acked;
    await run.producer.waitAcked(Math.min(during + 500, USERS + invalid));
    await waitCommittedPast(run.fixture, during);
    assert.equal(await hasExited(run.consumer), false);
    await suite.services.start(victim);
    const back = Date.now();
    const recovery = await drainSeconds(run.fixture, back);
    await finish(
      run,
      'replica (shard 1, replica 2) SIGKILL',
      recovery,
      `${victim} down while ~500 messages arrived`,
    );
  });

  it('ZooKeeper stopped for 10 s under load: inserts fail read-only, are retried, nothing lost', async () => {
    const run = await start();
    const retriesBefore =
      (await metricSample(run.consumer, 'offers_sink_retries_total', 'sink="clickhouse"')) ?? 0;
    await suite.services.stop('zookeeper');
    suite.onCleanUp(() => suite.services.start('zookeeper'));
    await sleep(10_000);
    const retriesDuring =
      (await metricSample(run.consumer, 'offers_sink_retries_total', 'sink="clickhouse"')) ?? 0;
    assert.ok(
      retriesDuring > retriesBefore,
      'inserts failed and were retried while ZooKeeper was away',
    );
    assert.equal(await hasExited(run.consumer), false);
    await suite.services.start('zookeeper');
    const back = Date.now();
    const recovery = await drainSeconds(run.fixture, back, 180_000);
    await finish(
      run,
      'ZooKeeper stopped 10 s',
      recovery,
      `${retriesDuring - retriesBefore} insert retries while away`,
    );
  });

  it('responses lost for 4 s: every insert the client timed out on is sent again and stored once', async () => {
    const run = await start({ CLICKHOUSE_REQUEST_TIMEOUT_MS: '1000' });
    const dropsBefore = await duplicateBlocksDropped();
    const before = await storedRows(run.fixture);
    run.balancer.swallowResponses(true);
    await sleep(4_000);
    // The server carried the inserts out although the client heard nothing.
    const storedMeanwhile = (await storedRows(run.fixture)) - before;
    run.balancer.swallowResponses(false);
    run.balancer.dropConnections();
    const back = Date.now();
    assert.ok(run.balancer.swallowedBytes > 0);
    assert.ok(storedMeanwhile > 0, 'inserts reached the cluster while their responses were lost');
    const recovery = await drainSeconds(run.fixture, back);
    const row = await finish(
      run,
      'insert responses lost 4 s (request timeout 1 s)',
      recovery,
      `${storedMeanwhile} rows stored unacknowledged, then sent again`,
    );
    assert.ok(row.retries > 0, 'the timed-out inserts were retried');
    // Background merges collapse a user's repeated rows within seconds, so the raw counts alone
    // cannot show a repeated insert; the servers' own count of dropped repeated blocks does.
    const dropped = (await duplicateBlocksDropped()) - dropsBefore;
    assert.ok(dropped > 0, 'the replicated tables dropped the repeated insert blocks');
    // The retried inserts were the same blocks: the replicated tables stored them once, without FINAL.
    assert.equal(row.accounting.rawDuplicates, 0);
    assert.equal(row.accounting.rawRows, users.size);
  });

  it('accounting: every scenario ran, and nothing was lost anywhere', () => {
    assert.equal(rows.length, SCENARIOS, renderRows(rows));
    for (const row of rows) {
      assert.equal(row.accounting.lost, 0, row.scenario);
      assert.equal(row.accounting.duplicatesFinal, 0, row.scenario);
      assert.ok(row.accounting.replicasEqual, row.scenario);
    }
  });
});

/** Insert blocks the cluster's replicated tables dropped as repeats, all nodes together. */
async function duplicateBlocksDropped(): Promise<number> {
  let total = 0;
  for (const node of clusterNodes(await readInfraEnv(CLICKHOUSE_CLUSTER_INFRA_DIR))) {
    const client = createClient({ url: node.url });
    try {
      const [row] = await (
        await client.query({
          query: "SELECT value FROM system.events WHERE event = 'DuplicatedInsertedBlocks'",
          format: 'JSONEachRow',
        })
      ).json<{ value: string | number }>();
      total += Number(row?.value ?? 0);
    } finally {
      await client.close();
    }
  }
  return total;
}

/** Rows in the Distributed table now (read from node 1 and whichever replica it picks). */
async function storedRows(fixture: PipelineFixture): Promise<number> {
  const [row] = await fixture.queryRows<{ n: string | number }>(
    `SELECT count() AS n FROM default.${fixture.table}`,
  );
  return Number(row?.n ?? 0);
}

/** Waits until the group's committed offsets add up to more than `messages`. */
async function waitCommittedPast(fixture: PipelineFixture, messages: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const committed = [...(await fixture.committedOffsets()).values()].reduce(
      (sum, offset) => sum + Math.max(0, Number(offset)),
      0,
    );
    if (committed > messages) return;
    if (Date.now() > deadline) throw new Error(`committed ${committed}, not past ${messages}`);
    await sleep(200);
  }
}
