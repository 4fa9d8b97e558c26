import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { offerText } from '../../src/scoring/offer.js';
import { PREDICTION_NAMES, type Predictions } from '../../src/scoring/predictions.js';
import {
  buildOfferRecord,
  ChunkOffers,
  clickhouseDateTime,
  eventTimeMs,
  eventVersion,
  storeOffer,
} from '../../src/sinks/offer-record.js';

const LOW: Predictions = Object.fromEntries(
  PREDICTION_NAMES.map((name) => [name, 0.1]),
) as Predictions;

describe('offerText', () => {
  it('always lists the mandatory functions', () => {
    assert.equal(offerText(LOW), 'app blocking, protection from unknown callers, screen time');
  });

  it('adds each optional function strictly above 0.5, in a fixed order', () => {
    const text = offerText({
      ...LOW,
      predicted_function_sos_signal: 0.51,
      predicted_function_map: 0.9,
      predicted_function_listen_sound: 0.5,
    });
    assert.equal(
      text,
      'app blocking, protection from unknown callers, screen time, saved places on the map, SOS signal',
    );
  });

  it('ignores the regressions, however large', () => {
    assert.equal(
      offerText({ ...LOW, predicted_cost: 900, predicted_subscription: 400 }),
      offerText(LOW),
    );
  });
});

describe('eventVersion', () => {
  it('orders by timestamp first, then by offset', () => {
    const older = BigInt(eventVersion(1_700_000_000_000, '999'));
    const newer = BigInt(eventVersion(1_700_000_000_001, '0'));
    const sameMsLater = BigInt(eventVersion(1_700_000_000_001, '1'));
    assert.ok(older < newer && newer < sameMsLater);
  });

  it('is exact beyond 2^53 and has no leading zeros', () => {
    assert.equal(eventVersion(1_732_456_789_012, '123'), '1732456789012000123');
    assert.equal(eventVersion(0, '5'), '5');
  });

  it('keeps the last six digits of any offset, as the BigInt arithmetic would', () => {
    for (const offset of [
      '0',
      '7',
      '999999',
      '1000000',
      '1000001',
      '123456789012',
      '9223372036854775807',
    ]) {
      for (const eventMs of [0, 1, 1_732_456_789_012]) {
        const exact = (BigInt(eventMs) * 1_000_000n + (BigInt(offset) % 1_000_000n)).toString();
        assert.equal(eventVersion(eventMs, offset), exact, `${eventMs} ${offset}`);
      }
    }
  });
});

describe('eventTimeMs', () => {
  it('keeps an ordinary timestamp, to the millisecond, up to an hour ahead', () => {
    assert.equal(eventTimeMs(1_700_000_000_123, 1_700_000_001_000), 1_700_000_000_123);
    assert.equal(eventTimeMs(5_000 + 3_600_000, 5_000), 3_605_000);
  });

  it('counts none, NaN, before the epoch and more than an hour ahead as the epoch', () => {
    assert.equal(eventTimeMs(-1, 5_000), 0);
    assert.equal(eventTimeMs(Number.NaN, 5_000), 0);
    assert.equal(eventTimeMs(5_001 + 3_600_000, 5_000), 0);
  });
});

describe('buildOfferRecord', () => {
  it('carries the predictions, offer, provenance and UTC times', () => {
    const record = buildOfferRecord(
      { userId: 7, partition: 3, offset: '41', timestampMs: Date.UTC(2026, 0, 2, 3, 4, 5, 678) },
      { ...LOW, predicted_function_map: 0.8 },
      { version: '1.0.0+abc', sha256: 'ef'.repeat(32) },
      Date.UTC(2026, 0, 2, 3, 4, 6),
    );
    assert.equal(record.user_id, 7);
    assert.equal(record.predicted_function_map, 0.8);
    assert.match(record.offer, /saved places on the map$/);
    assert.equal(record.model_version, '1.0.0+abc');
    assert.equal(record.model_sha256, 'ef'.repeat(32));
    assert.equal(record.kafka_partition, 3);
    assert.equal(record.kafka_offset, '41');
    assert.equal(record.event_time, '2026-01-02 03:04:05');
    assert.equal(record.processed_at, '2026-01-02 03:04:06');
    assert.equal(record.version, `${Date.UTC(2026, 0, 2, 3, 4, 5, 678)}000041`);
  });

  it('orders an event without a usable timestamp below every event that has one', () => {
    const processedAt = Date.UTC(2026, 0, 2, 3, 4, 6);
    const build = (timestampMs: number, offset: string) =>
      buildOfferRecord(
        { userId: 7, partition: 0, offset, timestampMs },
        LOW,
        { version: 'v', sha256: '' },
        processedAt,
      );
    // Kafka's largest timestamp (Long.MAX_VALUE, as a producer with a broken clock may send),
    // the year 9999, no timestamp (-1) and one before the epoch: none may throw, and none may
    // outrank an ordinary event of the same user that comes after it.
    for (const [timestampMs, offset] of [
      [Number(9_223_372_036_854_775_807n), '1'],
      [Date.UTC(9999, 0, 1), '2'],
      [-1, '3'],
      [-86_400_000, '4'],
    ] as const) {
      const odd = build(timestampMs, offset);
      assert.equal(odd.event_time, '1970-01-01 00:00:00');
      assert.equal(odd.version, offset);
      const later = build(processedAt - 60_000, String(Number(offset) + 1));
      assert.ok(BigInt(later.version) > BigInt(odd.version));
    }
    // A producer clock a few minutes ahead is still believed.
    assert.equal(build(processedAt + 300_000, '9').version, `${processedAt + 300_000}000009`);
  });

  it('formats ClickHouse DateTime text', () => {
    assert.equal(clickhouseDateTime(0), '1970-01-01 00:00:00');
  });
});

describe('ChunkOffers', () => {
  it('writes exactly the JSON of storeOffer(buildOfferRecord(...)), version first', () => {
    const processedAt = Date.UTC(2026, 0, 2, 3, 4, 6, 789);
    let seed = 7;
    const random = (): number => {
      seed = (seed * 48_271) % 2_147_483_647;
      return seed / 2_147_483_647;
    };
    const odd = [0, -0, 1e-7, 123_456_789.5, 0.5, 1, Math.fround(0.1), Number.MIN_VALUE];
    const timestamps = [processedAt - 1, processedAt - 1_000, -1, 0, Date.UTC(9999, 0, 1), 999];
    for (const model of [
      { version: '2.0.0+abc', sha256: 'ab'.repeat(32) },
      { version: 'v"quoted\\ü', sha256: '' },
    ]) {
      const chunk = new ChunkOffers(11, model, processedAt);
      for (let index = 0; index < 300; index += 1) {
        const predictions = Object.fromEntries(
          PREDICTION_NAMES.map((name, column) => [
            name,
            index < odd.length && column === 0 ? (odd[index] ?? 0) : Math.fround(random() * 40 - 5),
          ]),
        ) as Predictions;
        const source = {
          userId: Math.floor(random() * 4_294_967_295),
          offset: String(Math.floor(random() * 10 ** (1 + (index % 15)))),
          timestampMs: timestamps[index % timestamps.length] ?? 0,
        };
        const expected = storeOffer(
          buildOfferRecord({ ...source, partition: 11 }, predictions, model, processedAt),
        );
        const actual = chunk.offer(source, predictions);
        assert.deepEqual(actual, expected, `row ${index}`);
        assert.ok(actual.json.startsWith(`{"version":"${actual.version}",`));
      }
    }
  });
});
