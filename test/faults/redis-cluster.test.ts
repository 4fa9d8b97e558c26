// The service on a real Redis Cluster (3 primaries + 3 replicas): a primary SIGKILLed under
// load, its replica promoted, the killed node restarted (it rejoins as the new primary's
// replica). Each scenario ends with the suite's exact accounting: nothing lost, and every user
// sent twice holds the newer offer (an older event never overwrites a newer one across the
// failover). Its own state dir (<INFRA_DIR>-redis-cluster, shared with the cluster integration
// tests), taken down at the end.
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';

import { Redis } from 'ioredis';

import { REDIS_CLUSTER_INFRA_DIR, Services } from '../support/infra.js';
import type { PipelineFixture } from '../support/pipeline-fixture.js';
import { clusterNodes } from '../support/redis-cluster-nodes.js';
import { waitFor } from '../support/service.js';
import { drainSeconds, metricSample } from './observation.js';
import { planMessages } from './traffic.js';
import { FAULT_CONSUMER_ENV, FaultSuite, hasExited } from './suite.js';

/** Scenarios that add a line to the accounting table. */
const SCENARIOS = 1;

/** `redis-N` of scripts/infra for a node address: REDIS_URL lists the nodes in that order. */
function serviceOf(fixture: PipelineFixture, address: string): `redis-${number}` {
  const urls = fixture.env().REDIS_URL?.split(',') ?? [];
  const index = urls.findIndex((url) => new URL(url).host === address);
  assert.ok(index >= 0, `${address} is one of ${urls.join(', ')}`);
  return `redis-${index + 1}`;
}

describe('Redis Cluster failover under load', () => {
  // Each node's write waits for its replica: an acknowledged offer is on two nodes, so the
  // promoted replica has it.
  const suite = new FaultSuite(
    new Services(REDIS_CLUSTER_INFRA_DIR, { INFRA_REDIS_MODE: 'cluster' }),
    {
      ...FAULT_CONSUMER_ENV,
      REDIS_WAIT_REPLICAS: '1',
    },
  );
  before(() => suite.setUp());
  afterEach(() => suite.cleanUp());
  after(() => suite.tearDown('Redis Cluster accounting'));

  it('a primary SIGKILLed under load: its replica takes over, the node rejoins as a replica', async () => {
    const fixture = await suite.fixture(6);
    const cluster = fixture.cluster;
    assert.ok(cluster !== undefined, 'the suite runs a Redis Cluster');
    const consumer = await suite.consumer(fixture);
    await consumer.waitReady();
    // Users 1..3000, then 1..1500 again with other registrations: newer events of the same
    // users, many of them written while the failover happens.
    const first = planMessages({ count: 3_000, invalidEvery: 100 });
    const second = planMessages({ count: 1_500, invalidEvery: 100, seed: 8 }).map((message) =>
      message.expect.kind === 'invalid' ? { ...message, key: `${message.key}-again` } : message,
    );
    const messages = [...first, ...second];
    const producer = (await suite.pacedProducer(fixture, messages, 200)).start();
    await producer.waitAcked(1_000);

    const primary = cluster.nodes('master')[0];
    assert.ok(primary !== undefined);
    const victim = `${primary.options.host}:${primary.options.port}`;
    const service = serviceOf(fixture, victim);
    const survivor = cluster.nodes('master').find((node) => node !== primary);
    assert.ok(survivor !== undefined);
    const observer = new Redis(Number(survivor.options.port), String(survivor.options.host), {
      maxRetriesPerRequest: 3,
    });
    suite.onCleanUp(async () => observer.quit());
    const retriesBefore =
      (await metricSample(consumer, 'offers_sink_retries_total', 'sink="redis"')) ?? 0;

    await suite.services.kill(service);
    suite.onCleanUp(() => suite.services.start(service));
    const killed = Date.now();
    // The cluster notices after its node timeout and promotes the replica.
    await waitFor(
      `a replica of ${victim} promoted`,
      async () => {
        const nodes = await clusterNodes(observer);
        const dead = nodes.find((node) => node.address === victim);
        const info = await observer.cluster('INFO');
        return (
          dead !== undefined &&
          dead.flags.includes('fail') &&
          !dead.slots &&
          info.includes('cluster_state:ok')
        );
      },
      60_000,
      200,
    );
    const promotedAfter = (Date.now() - killed) / 1000;
    assert.equal(await hasExited(consumer), false, 'the consumer rode out the failover');
    await waitFor(
      'the failover to show as retried Redis writes',
      async () =>
        ((await metricSample(consumer, 'offers_sink_retries_total', 'sink="redis"')) ?? 0) >
        retriesBefore,
      30_000,
    );

    await suite.services.start(service);
    const back = Date.now();
    // The restarted node knows its new role at once; the others learn it by gossip.
    await waitFor(
      `${victim} to rejoin as a replica`,
      async () =>
        (await clusterNodes(observer))
          .find((node) => node.address === victim)
          ?.flags.includes('slave') === true,
      30_000,
      200,
    );
    const recovery = await drainSeconds(fixture, back);
    await producer.finished();
    await suite.finish(
      fixture,
      'Redis Cluster primary SIGKILL',
      messages,
      recovery,
      `${service} killed; replica promoted after ${promotedAfter.toFixed(1)} s; 1500 users updated`,
    );
    assert.equal(
      (await metricSample(consumer, 'offers_sink_errors_total', 'retriable="false"')) ?? 0,
      0,
      'no failure was taken for fatal',
    );
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it('accounting: every scenario ran, and nothing was lost anywhere', () => {
    suite.assertComplete(SCENARIOS);
  });
});
