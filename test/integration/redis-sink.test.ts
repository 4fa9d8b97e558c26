import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import type { Redis } from 'ioredis';

import { PREDICTION_NAMES, type Predictions } from '../../src/scoring/predictions.js';
import { buildOfferRecord, storeOffer } from '../../src/sinks/offer-record.js';
import { createRedisClient, RedisOfferSink } from '../../src/sinks/redis-sink.js';
import { startInfra } from '../support/infra.js';

const predictions = (value: number): Predictions =>
  Object.fromEntries(PREDICTION_NAMES.map((name) => [name, value])) as Predictions;

describe('Redis sink on a real Redis', () => {
  let redis: Redis;
  const prefix = `test-${randomUUID()}:`;

  before(async () => {
    redis = createRedisClient((await startInfra()).redisUrl);
    await redis.connect();
  });

  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('writes the offer JSON under the user id and never lets an older event win', async () => {
    const sink = new RedisOfferSink(redis, { keyPrefix: prefix, ttlSeconds: 0 });
    const record = (timestampMs: number, offset: string, value: number) =>
      storeOffer(
        buildOfferRecord(
          { userId: 42, partition: 0, offset, timestampMs },
          predictions(value),
          { version: 'v', sha256: '' },
          timestampMs,
        ),
      );

    assert.equal(await sink.put([record(2_000, '10', 0.9)]), 1);
    assert.equal(await sink.put([record(1_000, '3', 0.1)]), 0, 'older event skipped');
    assert.equal(
      await sink.put([record(2_000, '9', 0.1)]),
      0,
      'same millisecond, lower offset skipped',
    );
    const stored = JSON.parse((await redis.get(`${prefix}42`)) ?? '{}') as Record<string, unknown>;
    assert.equal(stored.predicted_function_map, 0.9);
    assert.equal(stored.user_id, 42);
    assert.equal(await redis.ttl(`${prefix}42`), -1, 'no expiry by default');

    assert.equal(
      await sink.put([record(2_000, '10', 0.5)]),
      1,
      'the same event again overwrites (replay)',
    );
    assert.equal(await sink.put([record(3_000, '1', 0.2)]), 1, 'newer event wins');
    const newest = JSON.parse((await redis.get(`${prefix}42`)) ?? '{}') as Record<string, unknown>;
    assert.equal(newest.predicted_function_map, 0.2);
  });

  it('respects a stored value whose version is not at its start', async () => {
    const sink = new RedisOfferSink(redis, { keyPrefix: prefix, ttlSeconds: 0 });
    const newer = buildOfferRecord(
      { userId: 43, partition: 0, offset: '10', timestampMs: 9_000 },
      predictions(0.9),
      { version: 'v', sha256: '' },
      9_000,
    );
    // A value in the order of OfferRecord's fields, version last.
    await redis.set(`${prefix}43`, JSON.stringify(newer));
    const older = storeOffer(
      buildOfferRecord(
        { userId: 43, partition: 0, offset: '3', timestampMs: 1_000 },
        predictions(0.1),
        { version: 'v', sha256: '' },
        1_000,
      ),
    );
    assert.equal(await sink.put([older]), 0, 'older event skipped');
    assert.equal(await redis.get(`${prefix}43`), JSON.stringify(newer));
  });

  it('sets the TTL when configured and writes a whole batch in one pipeline', async () => {
    const sink = new RedisOfferSink(redis, { keyPrefix: `${prefix}ttl:`, ttlSeconds: 3_600 });
    const records = Array.from({ length: 500 }, (_, i) =>
      storeOffer(
        buildOfferRecord(
          { userId: i + 1, partition: 0, offset: String(i), timestampMs: 5_000 },
          predictions(0.3),
          { version: 'v', sha256: '' },
          5_000,
        ),
      ),
    );
    assert.equal(await sink.put(records), 500);
    const ttl = await redis.ttl(`${prefix}ttl:250`);
    assert.ok(ttl > 3_500 && ttl <= 3_600, `ttl ${ttl}`);
  });

  it('keeps the newer offer, still expiring, when an older event is redelivered under a TTL', async () => {
    const sink = new RedisOfferSink(redis, { keyPrefix: `${prefix}ttl:`, ttlSeconds: 3_600 });
    const offer = (offset: string, timestampMs: number, value: number) =>
      storeOffer(
        buildOfferRecord(
          { userId: 7_000, partition: 0, offset, timestampMs },
          predictions(value),
          { version: 'v', sha256: '' },
          timestampMs,
        ),
      );
    const newer = offer('20', 9_000, 0.8);
    assert.equal(await sink.put([newer]), 1);
    await redis.expire(`${prefix}ttl:7000`, 100);
    assert.equal(await sink.put([offer('3', 1_000, 0.1)]), 0, 'older event skipped');
    assert.equal(await redis.get(`${prefix}ttl:7000`), newer.json);
    const ttl = await redis.ttl(`${prefix}ttl:7000`);
    assert.ok(ttl > 3_500 && ttl <= 3_600, `the kept offer expires again from now: ttl ${ttl}`);
  });
});
