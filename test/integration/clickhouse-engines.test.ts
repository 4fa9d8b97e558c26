import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { createClient, type ClickHouseClient } from '@clickhouse/client';

import { PREDICTION_NAMES, type Predictions } from '../../src/scoring/predictions.js';
import { migrate } from '../../src/sinks/clickhouse-migration.js';
import { rowText } from '../../src/sinks/clickhouse-client.js';
import { ClickHouseOfferSink } from '../../src/sinks/clickhouse-sink.js';
import { buildOfferRecord, storeOffer } from '../../src/sinks/offer-record.js';
import { createChdbClient } from '../support/chdb.js';
import { startInfra } from '../support/infra.js';

/**
 * The table's DDL, the sink's INSERTs and the queries the README shows, on both engines
 * available here: Debian's clickhouse-server 18.16 over HTTP, and chDB (a current
 * ClickHouse, in-process) behind the same @clickhouse/client API.
 */
const engines: {
  name: string;
  /** A current server: the compact column set (see clickhouse-schema.ts). */
  current: boolean;
  connect: () => Promise<{ client: ClickHouseClient; close: () => Promise<void> }>;
}[] = [
  {
    name: 'clickhouse-server',
    current: false,
    connect: async () => {
      const infra = await startInfra();
      const client = createClient({
        url: infra.clickhouseUrl,
        username: infra.clickhouseUser,
        password: infra.clickhousePassword,
        json: { parse: JSON.parse, stringify: rowText },
      });
      return { client, close: () => client.close() };
    },
  },
  {
    name: 'chDB',
    current: true,
    connect: () => Promise.resolve(createChdbClient()),
  },
];

const predictions = (value: number): Predictions =>
  Object.fromEntries(PREDICTION_NAMES.map((name) => [name, value])) as Predictions;

for (const engine of engines) {
  describe(`ClickHouse schema and sink on ${engine.name}`, () => {
    let client: ClickHouseClient;
    let close: () => Promise<void>;
    const table = `personal_offer_${randomUUID().replaceAll('-', '').slice(0, 12)}`;

    before(async () => {
      ({ client, close } = await engine.connect());
    });

    after(async () => {
      await client.command({ query: `DROP TABLE IF EXISTS default.${table}` });
      await close();
    });

    it('creates the table idempotently with the documented columns', async () => {
      await migrate(client, { database: 'default', table, cluster: '', ttlDays: 0 });
      await migrate(client, { database: 'default', table, cluster: '', ttlDays: 0 });
      const columns = await (
        await client.query({
          // DESCRIBE lists columns in table order on every version (18.16 has no system.columns.position).
          query: `DESCRIBE TABLE default.${table}`,
          format: 'JSONEachRow',
        })
      ).json<{ name: string; type: string }>();
      assert.deepEqual(
        columns.map((c) => `${c.name} ${c.type}`),
        engine.current
          ? [
              'user_id UInt64',
              ...PREDICTION_NAMES.map((name) => `${name} Float32`),
              'offer LowCardinality(String)',
              'model_version LowCardinality(String)',
              'model_sha256 LowCardinality(String)',
              'kafka_partition UInt32',
              'kafka_offset UInt64',
              "event_time DateTime64(3, 'UTC')",
              "processed_at DateTime64(3, 'UTC')",
              'version UInt64',
            ]
          : [
              'user_id UInt64',
              ...PREDICTION_NAMES.map((name) => `${name} Float32`),
              'offer String',
              'model_version String',
              'model_sha256 String',
              'kafka_partition UInt32',
              'kafka_offset UInt64',
              "event_time DateTime('UTC')",
              "processed_at DateTime('UTC')",
              'version UInt64',
            ],
      );
      const [engineRow] = await (
        await client.query({
          query: `SELECT engine FROM system.tables WHERE database = 'default' AND name = '${table}'`,
          format: 'JSONEachRow',
        })
      ).json<{ engine: string }>();
      assert.equal(engineRow?.engine, 'ReplacingMergeTree');
    });

    it('stores coalesced writes and keeps the newest event per user under FINAL', async () => {
      const sink = new ClickHouseOfferSink(client, {
        database: 'default',
        table,
        windowMs: 10,
        maxRows: 10_000,
        deduplicationToken: false,
        cluster: '',
      });
      const newer = Date.UTC(2026, 5, 1, 12, 0, 0);
      const older = newer - 60_000;
      const rows = (timestampMs: number, value: number, partition: number) =>
        Array.from({ length: 100 }, (_, i) =>
          storeOffer(
            buildOfferRecord(
              { userId: i + 1, partition, offset: String(i), timestampMs },
              predictions(value),
              { version: 'v-test', sha256: '' },
              newer,
            ),
          ),
        );
      await Promise.all([
        sink.write(rows(newer, 0.75, 0), {
          topic: 't',
          partition: 0,
          firstOffset: '0',
          lastOffset: '99',
        }),
        // A redelivered older event of the same users arrives later: it must not win.
        sink.write(rows(older, 0.25, 1), {
          topic: 't',
          partition: 1,
          firstOffset: '0',
          lastOffset: '99',
        }),
      ]);
      const result = await (
        await client.query({
          query: `SELECT count() AS n, uniqExact(user_id) AS users, min(predicted_function_map) AS lo, max(predicted_function_map) AS hi,
                         any(event_time) AS event_time, any(offer) AS offer, toString(max(version)) AS version
                  FROM default.${table} FINAL`,
          format: 'JSONEachRow',
        })
      ).json<{
        n: string;
        users: string;
        lo: number;
        hi: number;
        event_time: string;
        offer: string;
        version: string;
      }>();
      const [summary] = result;
      assert.ok(summary);
      assert.equal(Number(summary.n), 100);
      assert.equal(Number(summary.users), 100);
      assert.equal(summary.lo, 0.75);
      assert.equal(summary.hi, 0.75);
      // The row's whole-second text, stored by both column types.
      assert.equal(
        summary.event_time,
        engine.current ? '2026-06-01 12:00:00.000' : '2026-06-01 12:00:00',
      );
      assert.match(summary.offer, /saved places on the map/);
      assert.equal(summary.version, `${newer}000099`);
    });
  });
}

describe('monthly partitions and a TTL on current ClickHouse (chDB)', () => {
  it('creates them, and a row the sink writes lands in its month', async () => {
    const { client, close } = createChdbClient();
    try {
      const table = 'ttl_offers';
      await migrate(client, { database: 'default', table, cluster: '', ttlDays: 30 });
      await migrate(client, { database: 'default', table, cluster: '', ttlDays: 30 });
      const [definition] = await (
        await client.query({
          query: `SELECT partition_key, engine_full FROM system.tables WHERE database = 'default' AND name = '${table}'`,
          format: 'JSONEachRow',
        })
      ).json<{ partition_key: string; engine_full: string }>();
      assert.ok(definition);
      assert.equal(definition.partition_key, 'toYYYYMM(event_time)');
      assert.match(definition.engine_full, /TTL toDateTime\(processed_at\) \+ toIntervalDay\(30\)/);
      const sink = new ClickHouseOfferSink(client, {
        database: 'default',
        table,
        windowMs: 0,
        maxRows: 10_000,
        deduplicationToken: false,
        cluster: '',
      });
      const now = Date.now();
      await sink.write(
        [
          storeOffer(
            buildOfferRecord(
              { userId: 7, partition: 0, offset: '1', timestampMs: Date.UTC(2026, 4, 20) },
              predictions(0.6),
              { version: 'v', sha256: '' },
              now,
            ),
          ),
        ],
        { topic: 't', partition: 0, firstOffset: '1', lastOffset: '1' },
      );
      const [part] = await (
        await client.query({
          query: `SELECT partition, rows FROM system.parts WHERE database = 'default' AND table = '${table}' AND active`,
          format: 'JSONEachRow',
        })
      ).json<{ partition: string; rows: string }>();
      assert.ok(part);
      assert.equal(part.partition, '202605');
      assert.equal(Number(part.rows), 1);
    } finally {
      await close();
    }
  });
});

describe('deduplication token on current ClickHouse (chDB)', () => {
  it('is accepted, and drops a repeated INSERT of the same offsets on a table with a deduplication window', async () => {
    const { client, close } = createChdbClient();
    try {
      const table = 'dedup_offers';
      await migrate(client, { database: 'default', table, cluster: '', ttlDays: 0 });
      // Non-replicated MergeTree tables deduplicate only with a window; replicated ones always do.
      await client.command({
        query: `ALTER TABLE default.${table} MODIFY SETTING non_replicated_deduplication_window = 100`,
      });
      const sink = new ClickHouseOfferSink(client, {
        database: 'default',
        table,
        windowMs: 0,
        maxRows: 10_000,
        deduplicationToken: true,
        cluster: '',
      });
      // A redelivery rescored later: same offsets, different bytes (processed_at), so only
      // the token (not ClickHouse's block hash) can recognise it as a repeat.
      const rescored = (processedAtMs: number) => [
        storeOffer(
          buildOfferRecord(
            { userId: 1, partition: 0, offset: '5', timestampMs: 1_000 },
            predictions(0.6),
            { version: 'v', sha256: '' },
            processedAtMs,
          ),
        ),
      ];
      const origin = { topic: 't', partition: 0, firstOffset: '5', lastOffset: '5' };
      await sink.write(rescored(2_000), origin);
      await sink.write(rescored(9_000), origin);
      await sink.write(rescored(15_000), { ...origin, firstOffset: '4' });
      const [row] = await (
        await client.query({
          query: `SELECT count() AS n FROM default.${table}`,
          format: 'JSONEachRow',
        })
      ).json<{ n: string }>();
      assert.equal(Number(row?.n), 2, 'the repeat was dropped; other offsets were stored');
    } finally {
      await close();
    }
  });
});
