// The Redis sink on a real Redis Cluster (3 primaries + 3 replicas, scripts/infra with
// INFRA_REDIS_MODE=cluster): offers of every hash slot written and read back, the version
// guard across slots, the TTL, and a write whose slot map went stale (a slot moved to
// another primary). The cluster stays up for the cluster fault suite, which takes it down.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';

import { OfferError } from '../../src/errors.js';
import { PREDICTION_NAMES, type Predictions } from '../../src/scoring/predictions.js';
import { buildOfferRecord, storeOffer, type StoredOffer } from '../../src/sinks/offer-record.js';
import {
  createRedisClusterClient,
  RedisClusterOfferSink,
} from '../../src/sinks/redis-cluster-sink.js';
import { startRedisClusterInfra, type InfraEnv } from '../support/infra.js';
import { waitFor } from '../support/service.js';

const SLOTS = 16_384;
const BATCH = 5_000;

const predictions = (value: number): Predictions =>
  Object.fromEntries(PREDICTION_NAMES.map((name) => [name, value])) as Predictions;

function offer(userId: number, timestampMs: number, offset: string, value: number): StoredOffer {
  return storeOffer(
    buildOfferRecord(
      { userId, partition: 0, offset, timestampMs },
      predictions(value),
      { version: 'v', sha256: '' },
      timestampMs,
    ),
  );
}

/** The first user id (from 1 on) whose key lands in each slot: one user per slot. */
function onePerSlot(prefix: string): number[] {
  const users = new Array<number>(SLOTS).fill(0);
  let found = 0;
  for (let userId = 1; found < SLOTS; userId += 1) {
    const slot = calculateSlot(`${prefix}${userId}`);
    if (users[slot] === 0) {
      users[slot] = userId;
      found += 1;
    }
  }
  return users;
}

async function valueOf(cluster: Cluster, key: string): Promise<Record<string, unknown>> {
  return JSON.parse((await cluster.get(key)) ?? 'null') as Record<string, unknown>;
}

describe('Redis sink on a real Redis Cluster', () => {
  let infra: InfraEnv;
  let cluster: Cluster;
  const prefix = `test-${randomUUID()}:`;
  const nodes = (): string[] => infra.redisUrl.split(',');

  before(async () => {
    infra = await startRedisClusterInfra();
    assert.equal(infra.vars.REDIS_MODE, 'cluster');
    cluster = createRedisClusterClient(nodes());
    cluster.on('error', () => undefined);
    await cluster.connect();
  });

  after(async () => {
    for (const node of cluster.nodes('master')) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) await Promise.all(keys.map((key) => node.unlink(key)));
      } while (cursor !== '0');
    }
    cluster.disconnect();
  });

  it('writes an offer into every one of the 16384 slots and reads each back', async () => {
    const sink = new RedisClusterOfferSink(cluster, {
      keyPrefix: prefix,
      ttlSeconds: 0,
      waitReplicas: 1,
    });
    assert.equal(sink.ready, true);
    const users = onePerSlot(prefix);
    const records = users.map((userId, slot) => offer(userId, 1_000, String(slot), slot / SLOTS));
    let written = 0;
    for (let start = 0; start < records.length; start += BATCH) {
      written += await sink.put(records.slice(start, start + BATCH));
    }
    assert.equal(written, SLOTS);

    const values = await Promise.all(users.map((userId) => cluster.get(`${prefix}${userId}`)));
    const wrong = users.filter((userId, slot) => {
      const stored = JSON.parse(values[slot] ?? 'null') as Record<string, unknown> | null;
      return stored?.user_id !== userId || stored.predicted_cost !== slot / SLOTS;
    });
    assert.deepEqual(wrong, [], 'every slot holds its user’s offer');

    // Every primary holds its share: the keys spread over the cluster, no hash tag.
    const primaries = cluster.nodes('master');
    assert.equal(primaries.length, 3);
    const perPrimary = await Promise.all(
      primaries.map(async (node) => {
        let count = 0;
        let cursor = '0';
        do {
          const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          cursor = next;
          count += keys.length;
        } while (cursor !== '0');
        return count;
      }),
    );
    assert.equal(
      perPrimary.reduce((sum, count) => sum + count, 0),
      SLOTS,
    );
    for (const count of perPrimary) assert.ok(count > SLOTS / 4, perPrimary.join(', '));
  });

  it('never lets an older event win, in any slot, whatever the batch mixes', async () => {
    const sink = new RedisClusterOfferSink(cluster, {
      keyPrefix: `${prefix}guard:`,
      ttlSeconds: 0,
      waitReplicas: 0,
    });
    const users = Array.from({ length: 2_000 }, (_, index) => index + 1);
    assert.equal(await sink.put(users.map((userId) => offer(userId, 2_000, '10', 0.9))), 2_000);
    // Older events of every user, and newer ones of every other user, in one batch.
    const mixed = users.map((userId) =>
      userId % 2 === 0 ? offer(userId, 3_000, '1', 0.2) : offer(userId, 1_000, '99', 0.1),
    );
    assert.equal(await sink.put(mixed), 1_000, 'only the newer half is written');
    const stored = await Promise.all(
      users.map((userId) => valueOf(cluster, `${prefix}guard:${userId}`)),
    );
    for (const [index, value] of stored.entries()) {
      const userId = index + 1;
      assert.equal(value.predicted_cost, userId % 2 === 0 ? 0.2 : 0.9, `user ${userId}`);
    }
    assert.equal(
      await sink.put([offer(5, 2_000, '9', 0.1)]),
      0,
      'same millisecond, lower offset skipped',
    );
  });

  it('sets the TTL on every key when configured', async () => {
    const sink = new RedisClusterOfferSink(cluster, {
      keyPrefix: `${prefix}ttl:`,
      ttlSeconds: 3_600,
      waitReplicas: 0,
    });
    const users = Array.from({ length: 300 }, (_, index) => index + 1);
    assert.equal(await sink.put(users.map((userId) => offer(userId, 1_000, '1', 0.5))), 300);
    const ttls = await Promise.all(users.map((userId) => cluster.ttl(`${prefix}ttl:${userId}`)));
    assert.ok(
      ttls.every((ttl) => ttl > 3_500 && ttl <= 3_600),
      `TTLs ${[...new Set(ttls)].join(', ')}`,
    );
  });

  it('a slot moved to another primary: the stale write fails retriable, the retry lands', async () => {
    // A client that never refreshes its slot map by itself: only the sink's failure handling
    // can bring it up to date.
    const stale = createRedisClusterClient(nodes(), { overrides: { slotsRefreshInterval: 0 } });
    stale.on('error', () => undefined);
    const keyPrefix = `${prefix}moved:`;
    const sink = new RedisClusterOfferSink(stale, { keyPrefix, ttlSeconds: 0, waitReplicas: 0 });
    try {
      await sink.healthcheck();
      const address = (node: Redis): string => `${node.options.host}:${node.options.port}`;
      // Users whose slots one primary serves: the first one's slot moves, the rest stay.
      const slotOf = (userId: number): number => calculateSlot(`${keyPrefix}${userId}`);
      const from = stale.slots[slotOf(1)]?.[0];
      const users = Array.from({ length: 400 }, (_, index) => index + 1)
        .filter((userId) => stale.slots[slotOf(userId)]?.[0] === from)
        .slice(0, 20);
      const [moved = 0] = users;
      const slot = slotOf(moved);
      assert.ok(users.slice(1).every((userId) => slotOf(userId) !== slot));
      const source = cluster.nodes('master').find((node) => address(node) === from);
      const target = cluster.nodes('master').find((node) => address(node) !== from);
      assert.ok(source !== undefined && target !== undefined);
      await moveSlot(cluster, slot, source, target);

      const records = users.map((userId) => offer(userId, 1_000, '1', 0.4));
      await assert.rejects(
        sink.put(records),
        (error: unknown) =>
          error instanceof OfferError && error.retriable && error.message.includes('MOVED'),
        'the stale map sends one slot to its old primary',
      );
      // The failure refreshed the slot map; the next attempt groups by it.
      await waitFor('the refreshed slot map', () => stale.slots[slot]?.[0] === address(target));
      assert.equal(await sink.put(records), users.length);
      const values = await Promise.all(
        users.map((userId) => valueOf(cluster, `${keyPrefix}${userId}`)),
      );
      assert.ok(values.every((value) => value.predicted_cost === 0.4));
    } finally {
      stale.disconnect();
    }
  });

  it('REDIS_WAIT_REPLICAS: a write its replica has not acknowledged fails retriable, then lands', async () => {
    const keyPrefix = `${prefix}wait:`;
    const sink = new RedisClusterOfferSink(cluster, { keyPrefix, ttlSeconds: 0, waitReplicas: 1 });
    // First a write that lands (its replica acknowledging), so the slot map is current and
    // the replica in sync before the replica is frozen.
    await waitFor('a write acknowledged by its replica', async () => {
      try {
        return (await sink.put([offer(1, 500, '0', 0.1)])) === 1;
      } catch {
        return false;
      }
    });
    const address = (node: Redis): string => `${node.options.host}:${node.options.port}`;
    const primaryAddress = cluster.slots[calculateSlot(`${keyPrefix}1`)]?.[0];
    const primary = cluster.nodes('master').find((node) => address(node) === primaryAddress);
    assert.ok(primary !== undefined);
    const replicas = String(await primary.cluster('REPLICAS', await primary.cluster('MYID')));
    const replicaAddress = replicas.split(' ')[1]?.split('@')[0] ?? '';
    // scripts/infra's redis-N is the Nth URL of REDIS_URL; its pid file is in redis-N/.
    const index = nodes().findIndex((url) => new URL(url).host === replicaAddress);
    assert.ok(index >= 0, `replica ${replicaAddress} is one of the nodes`);
    const pid = Number(
      (await readFile(join(infra.dir, `redis-${index + 1}`, 'pid'), 'utf8')).trim(),
    );
    // Frozen, the replica takes the writes of nobody: WAIT counts 0 of 1.
    process.kill(pid, 'SIGSTOP');
    try {
      await assert.rejects(
        sink.put([offer(1, 1_000, '1', 0.3)]),
        (error: unknown) =>
          error instanceof OfferError &&
          error.retriable &&
          error.message.includes('0 of 1 replicas'),
      );
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor('the replica to acknowledge again', async () => {
      try {
        return (await sink.put([offer(1, 1_000, '1', 0.3)])) === 1;
      } catch {
        return false;
      }
    });
    assert.equal((await valueOf(cluster, `${keyPrefix}1`)).predicted_cost, 0.3);
  });
});

/** Moves one slot and its keys from one primary to another (what resharding does per slot). */
async function moveSlot(
  cluster: Cluster,
  slot: number,
  source: Redis,
  target: Redis,
): Promise<void> {
  const sourceId = await source.cluster('MYID');
  const targetId = await target.cluster('MYID');
  await target.cluster('SETSLOT', slot, 'IMPORTING', sourceId);
  await source.cluster('SETSLOT', slot, 'MIGRATING', targetId);
  for (;;) {
    const keys = await source.cluster('GETKEYSINSLOT', slot, 100);
    if (keys.length === 0) break;
    await source.migrate(
      String(target.options.host),
      Number(target.options.port),
      '',
      0,
      5_000,
      'KEYS',
      ...keys,
    );
  }
  for (const node of cluster.nodes('master')) await node.cluster('SETSLOT', slot, 'NODE', targetId);
}
