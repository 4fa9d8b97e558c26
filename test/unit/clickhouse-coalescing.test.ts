import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { ClickHouseClient } from '@clickhouse/client';

import { PREDICTION_NAMES, type Predictions } from '../../src/scoring/predictions.js';
import { ClickHouseOfferSink, deduplicationToken } from '../../src/sinks/clickhouse-sink.js';
import { buildOfferRecord, storeOffer, type StoredOffer } from '../../src/sinks/offer-record.js';

// The coalescing logic is ours; only the client's `insert` is replaced, to record calls.
interface InsertCall {
  table: string;
  values: string[];
  clickhouse_settings?: Record<string, unknown>;
}

function recordingClient(fail = false): { client: ClickHouseClient; calls: InsertCall[] } {
  const calls: InsertCall[] = [];
  const client = {
    insert: (params: InsertCall) => {
      calls.push(params);
      return fail ? Promise.reject(new Error('connect ECONNREFUSED')) : Promise.resolve({});
    },
  } as unknown as ClickHouseClient;
  return { client, calls };
}

const predictions = Object.fromEntries(PREDICTION_NAMES.map((name) => [name, 0.25])) as Predictions;
const records = (partition: number, count: number): StoredOffer[] =>
  Array.from({ length: count }, (_, index) =>
    storeOffer(
      buildOfferRecord(
        { userId: partition * 1000 + index + 1, partition, offset: String(index), timestampMs: 1 },
        predictions,
        { version: 'v1', sha256: '' },
        2,
      ),
    ),
  );
const origin = (partition: number, last: number) => ({
  topic: 't',
  partition,
  firstOffset: '0',
  lastOffset: String(last),
});

describe('ClickHouseOfferSink coalescing', () => {
  it('merges writes that arrive within the window into one INSERT', async () => {
    const { client, calls } = recordingClient();
    const sink = new ClickHouseOfferSink(client, {
      database: 'db',
      table: 'offers',
      windowMs: 20,
      maxRows: 1_000,
      deduplicationToken: false,
      cluster: '',
    });
    await Promise.all([0, 1, 2].map((p) => sink.write(records(p, 10), origin(p, 9))));
    const [call, ...others] = calls;
    assert.ok(call);
    assert.equal(others.length, 0);
    assert.equal(call.table, 'db.offers');
    assert.equal(call.values.length, 30);
    assert.equal(call.clickhouse_settings, undefined);
  });

  it('sends at once when maxRows rows are waiting', async () => {
    const { client, calls } = recordingClient();
    const sink = new ClickHouseOfferSink(client, {
      database: 'db',
      table: 'offers',
      windowMs: 60_000,
      maxRows: 15,
      deduplicationToken: false,
      cluster: '',
    });
    const first = sink.write(records(0, 10), origin(0, 9));
    assert.equal(calls.length, 0);
    await Promise.all([first, sink.write(records(1, 10), origin(1, 9))]);
    assert.equal(calls.length, 1);
    assert.equal(calls[0]?.values.length, 20);
  });

  it('rejects every write of a failed INSERT with a retriable error', async () => {
    const { client } = recordingClient(true);
    const sink = new ClickHouseOfferSink(client, {
      database: 'db',
      table: 'offers',
      windowMs: 0,
      maxRows: 1_000,
      deduplicationToken: false,
      cluster: '',
    });
    const results = await Promise.allSettled([
      sink.write(records(0, 1), origin(0, 0)),
      sink.write(records(1, 1), origin(1, 0)),
    ]);
    for (const result of results) {
      assert.equal(result.status, 'rejected');
      assert.equal((result.reason as { retriable: boolean }).retriable, true);
    }
  });

  it('sends a deduplication token made of the offset ranges, independent of arrival order', async () => {
    const { client, calls } = recordingClient();
    const sink = new ClickHouseOfferSink(client, {
      database: 'db',
      table: 'offers',
      windowMs: 0,
      maxRows: 1_000,
      deduplicationToken: true,
      cluster: '',
    });
    await Promise.all([
      sink.write(records(2, 1), origin(2, 0)),
      sink.write(records(1, 1), origin(1, 0)),
    ]);
    const token = calls[0]?.clickhouse_settings?.insert_deduplication_token;
    assert.equal(token, deduplicationToken([{ origin: origin(1, 0) }, { origin: origin(2, 0) }]));
    assert.notEqual(token, deduplicationToken([{ origin: origin(1, 0) }]));
  });

  it('writes nothing for an empty batch', async () => {
    const { client, calls } = recordingClient();
    const sink = new ClickHouseOfferSink(client, {
      database: 'db',
      table: 'offers',
      windowMs: 0,
      maxRows: 1_000,
      deduplicationToken: false,
      cluster: '',
    });
    await sink.write([], origin(0, 0));
    assert.equal(calls.length, 0);
  });
});
