import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { offerText } from '../../src/scoring/offer.js';
import { PREDICTION_NAMES, type Predictions } from '../../src/scoring/predictions.js';
import {
  buildOfferRecord,
  clickhouseDateTime,
  eventVersion,
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
});

describe('buildOfferRecord', () => {
  it('carries the predictions, offer, provenance and UTC times', () => {
    const record = buildOfferRecord(
      { userId: 7, partition: 3, offset: '41', timestampMs: Date.UTC(2026, 0, 2, 3, 4, 5, 678) },
      { ...LOW, predicted_function_map: 0.8 },
      '1.0.0+abc',
      Date.UTC(2026, 0, 2, 3, 4, 6),
    );
    assert.equal(record.user_id, 7);
    assert.equal(record.predicted_function_map, 0.8);
    assert.match(record.offer, /saved places on the map$/);
    assert.equal(record.model_version, '1.0.0+abc');
    assert.equal(record.kafka_partition, 3);
    assert.equal(record.kafka_offset, '41');
    assert.equal(record.event_time, '2026-01-02 03:04:05');
    assert.equal(record.processed_at, '2026-01-02 03:04:06');
    assert.equal(record.version, `${Date.UTC(2026, 0, 2, 3, 4, 5, 678)}000041`);
  });

  it('formats ClickHouse DateTime text', () => {
    assert.equal(clickhouseDateTime(0), '1970-01-01 00:00:00');
  });
});
