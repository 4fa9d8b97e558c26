import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ClickHouseError, type ClickHouseClient } from '@clickhouse/client';

import { loadClickHouseConfig, loadServiceConfig } from '../../src/config/config.js';
import { OfferError } from '../../src/errors.js';
import { chunkBounds } from '../../src/pipeline/chunk-stages.js';
import { PREDICTION_NAMES, type Predictions } from '../../src/scoring/predictions.js';
import {
  hasCurrentSchema,
  parseServerVersion,
  schemaStatements,
  type SchemaOptions,
} from '../../src/sinks/clickhouse-schema.js';
import {
  CLUSTER_OUTAGE_ERROR_CODES,
  toClickHouseFailure,
} from '../../src/sinks/clickhouse-client.js';
import { ClickHouseOfferSink, deduplicationToken } from '../../src/sinks/clickhouse-sink.js';
import { buildOfferRecord, storeOffer, type StoredOffer } from '../../src/sinks/offer-record.js';

const OLD = parseServerVersion('18.16.1');
const CURRENT = parseServerVersion('25.8.2.1');

const options = (overrides: Partial<SchemaOptions> = {}): SchemaOptions => ({
  database: 'offers',
  table: 'personal_offer',
  cluster: '',
  ttlDays: 0,
  version: OLD,
  ...overrides,
});

describe('ClickHouse schema per server version and mode', () => {
  it('reads the server version and tells which column set it takes', () => {
    assert.deepEqual(parseServerVersion(' 18.16.1\n'), { major: 18, minor: 16, text: '18.16.1' });
    assert.equal(hasCurrentSchema(OLD), false);
    assert.equal(hasCurrentSchema(parseServerVersion('20.2.1')), false);
    assert.equal(hasCurrentSchema(parseServerVersion('20.3.1')), true);
    assert.equal(hasCurrentSchema(CURRENT), true);
    assert.throws(() => parseServerVersion('unknown'), /unreadable version/);
  });

  it('one server on 18.16: the plain ReplacingMergeTree, no ON CLUSTER', () => {
    const statements = schemaStatements(options());
    assert.equal(statements.length, 2);
    assert.equal(statements[0], 'CREATE DATABASE IF NOT EXISTS offers');
    const table = statements[1] ?? '';
    assert.match(table, /^CREATE TABLE IF NOT EXISTS offers\.personal_offer\n/);
    assert.match(table, /ENGINE = ReplacingMergeTree\(version\)\nORDER BY user_id$/);
    assert.match(table, /event_time DateTime\('UTC'\),/);
    assert.doesNotMatch(table, /LowCardinality|DateTime64|CODEC|PARTITION BY|TTL|ON CLUSTER/);
    // The default database exists everywhere: nothing to create.
    assert.equal(schemaStatements(options({ database: 'default' })).length, 1);
  });

  it('a cluster: database and replicated local table ON CLUSTER, Distributed table by user id', () => {
    const [database, local, distributed, ...rest] = schemaStatements(
      options({ cluster: 'offers_cluster', database: 'default' }),
    );
    assert.equal(rest.length, 0);
    assert.equal(database, "CREATE DATABASE IF NOT EXISTS default ON CLUSTER 'offers_cluster'");
    assert.match(
      local ?? '',
      /^CREATE TABLE IF NOT EXISTS default\.personal_offer_local ON CLUSTER 'offers_cluster'\n/,
    );
    assert.match(
      local ?? '',
      /ENGINE = ReplicatedReplacingMergeTree\('\/clickhouse\/tables\/\{shard\}\/default\/personal_offer_local', '\{replica\}', version\)\nORDER BY user_id$/,
    );
    assert.equal(
      distributed,
      [
        "CREATE TABLE IF NOT EXISTS default.personal_offer ON CLUSTER 'offers_cluster'",
        'AS default.personal_offer_local',
        "ENGINE = Distributed('offers_cluster', default, personal_offer_local, cityHash64(user_id))",
      ].join('\n'),
    );
  });

  it('a current server: compact types, codecs, monthly partitions, TTL only when asked', () => {
    const [, table] = schemaStatements(options({ version: CURRENT }));
    for (const column of [
      'offer LowCardinality(String),',
      'model_version LowCardinality(String),',
      'model_sha256 LowCardinality(String),',
      "event_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),",
      "processed_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1)),",
      'kafka_offset UInt64 CODEC(Delta, ZSTD(1)),',
    ]) {
      assert.ok(table?.includes(`    ${column}`), column);
    }
    assert.match(table ?? '', /\nPARTITION BY toYYYYMM\(event_time\)\nORDER BY user_id$/);
    const [, withTtl] = schemaStatements(options({ version: CURRENT, ttlDays: 30 }));
    assert.match(withTtl ?? '', /\nTTL toDateTime\(processed_at\) \+ INTERVAL 30 DAY$/);
    const [, clusterLocal] = schemaStatements(
      options({ version: CURRENT, ttlDays: 7, cluster: 'c1' }),
    );
    assert.match(clusterLocal ?? '', /ReplicatedReplacingMergeTree/);
    assert.match(clusterLocal ?? '', /INTERVAL 7 DAY$/);
  });

  it('a TTL on 18.16 fails naming the variable and the server version', () => {
    assert.throws(
      () => schemaStatements(options({ ttlDays: 30 })),
      (error: unknown) =>
        error instanceof OfferError &&
        error.code === 'CONFIG_INVALID' &&
        !error.retriable &&
        error.message.includes('CLICKHOUSE_TTL_DAYS=30') &&
        error.message.includes('18.16.1'),
    );
  });
});

describe('ClickHouse cluster configuration', () => {
  const base = {
    KAFKA_BROKERS: '127.0.0.1:9092',
    CLICKHOUSE_URL: 'http://127.0.0.1:8123',
    REDIS_URL: 'redis://127.0.0.1:6379',
  };

  it('defaults to one server and no TTL', () => {
    const config = loadClickHouseConfig(base);
    assert.equal(config.cluster, '');
    assert.equal(config.ttlDays, 0);
    assert.equal(loadServiceConfig({ ...base, CLICKHOUSE_CLUSTER: '' }).clickhouse.cluster, '');
  });

  it('takes a cluster name and a TTL', () => {
    const config = loadServiceConfig({
      ...base,
      CLICKHOUSE_CLUSTER: 'offers_2x2',
      CLICKHOUSE_TTL_DAYS: '90',
    });
    assert.equal(config.clickhouse.cluster, 'offers_2x2');
    assert.equal(config.clickhouse.ttlDays, 90);
  });

  for (const [name, value, allowed] of [
    ['CLICKHOUSE_CLUSTER', "offers' SETTINGS x", /letters, digits and _/],
    ['CLICKHOUSE_CLUSTER', '2shards', /not starting with a digit/],
    ['CLICKHOUSE_TTL_DAYS', '-1', /whole number from 0 to 36500/],
    ['CLICKHOUSE_TTL_DAYS', '1.5', /whole number from 0 to 36500/],
  ] as const) {
    it(`stops start-up on ${name}=${value}, naming the variable and what is allowed`, () => {
      for (const load of [loadServiceConfig, loadClickHouseConfig]) {
        assert.throws(
          () => load({ ...base, [name]: value }),
          (error: unknown) =>
            error instanceof OfferError &&
            error.code === 'CONFIG_INVALID' &&
            error.message.includes(`${name} (${JSON.stringify(value)})`) &&
            allowed.test(error.message),
        );
      }
    });
  }
});

describe('ClickHouse errors of a cluster in trouble', () => {
  for (const [code, name] of CLUSTER_OUTAGE_ERROR_CODES) {
    it(`${name} (${code}) is retriable, as a server error and as 18.16 text`, () => {
      const typed = toClickHouseFailure(
        new ClickHouseError({ message: name, code: String(code), type: name }),
        'insert',
      );
      assert.equal(typed.retriable, true);
      const text = toClickHouseFailure(
        new Error(`Code: ${code}, e.displayText() = DB::Exception: ${name}`),
        'insert',
      );
      assert.equal(text.retriable, true);
    });
  }

  it('covers what a replicated cluster gives while ZooKeeper or a node is away', () => {
    for (const code of [242, 999, 225, 252, 279, 209, 210]) {
      assert.ok(CLUSTER_OUTAGE_ERROR_CODES.has(code), String(code));
    }
  });

  it('still stops on a schema error', () => {
    assert.equal(
      toClickHouseFailure(new Error('Code: 60, e.displayText() = DB::Exception: no table'), 'x')
        .retriable,
      false,
    );
  });
});

const predictions = Object.fromEntries(PREDICTION_NAMES.map((name) => [name, 0.5])) as Predictions;
const records = (partition: number, offsets: number[]): StoredOffer[] =>
  offsets.map((offset) =>
    storeOffer(
      buildOfferRecord(
        { userId: partition * 1000 + offset, partition, offset: String(offset), timestampMs: 5 },
        predictions,
        { version: 'v1', sha256: '' },
        10,
      ),
    ),
  );

interface InsertCall {
  table: string;
  values: string[];
  clickhouse_settings?: Record<string, unknown>;
}

describe('ClickHouse sink in cluster mode: one chunk, one INSERT', () => {
  const setUp = (deduplicationToken: boolean, failures = 0) => {
    const calls: InsertCall[] = [];
    let failing = failures;
    const client = {
      insert: (params: InsertCall) => {
        calls.push(params);
        if (failing > 0) {
          failing--;
          return Promise.reject(new Error('Code: 242, DB::Exception: Table is in readonly mode'));
        }
        return Promise.resolve({});
      },
    } as unknown as ClickHouseClient;
    const sink = new ClickHouseOfferSink(client, {
      database: 'db',
      table: 'offers',
      windowMs: 50,
      maxRows: 1_000,
      deduplicationToken,
      cluster: 'c1',
    });
    return { sink, calls };
  };

  it('does not merge concurrent partition writes, and inserts synchronously to every shard', async () => {
    const { sink, calls } = setUp(false);
    const a = records(0, [10, 11, 12]);
    const b = records(1, [7, 8]);
    await Promise.all([
      sink.write(a, { topic: 't', partition: 0, firstOffset: '10', lastOffset: '12' }),
      sink.write(b, { topic: 't', partition: 1, firstOffset: '7', lastOffset: '8' }),
    ]);
    assert.equal(calls.length, 2);
    assert.deepEqual(
      calls.map((call) => call.values),
      [a.map((r) => r.json), b.map((r) => r.json)],
    );
    for (const call of calls) {
      assert.equal(call.table, 'db.offers');
      assert.deepEqual(call.clickhouse_settings, { insert_distributed_sync: 1 });
    }
  });

  it('a retried write sends the very same INSERT, token included', async () => {
    const { sink, calls } = setUp(true, 1);
    const rows = records(3, [100, 101, 102, 103]);
    const origin = { topic: 't', partition: 3, firstOffset: '100', lastOffset: '103' };
    await assert.rejects(sink.write(rows, origin), (error: unknown) => {
      return error instanceof OfferError && error.retriable;
    });
    await sink.write(rows, origin);
    assert.equal(calls.length, 2);
    assert.deepEqual(calls[0], calls[1]);
    assert.deepEqual(calls[0]?.clickhouse_settings, {
      insert_distributed_sync: 1,
      insert_deduplication_token: deduplicationToken([{ origin }]),
    });
  });
});

describe('chunk boundaries', () => {
  const offsets = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => ({ offset: String(from + i) }));
  const cuts = (messages: { offset: string }[], max: number, aligned: boolean) =>
    chunkBounds(messages, max, aligned).map(
      ([start, end]) => `${messages[start]?.offset}-${messages[end - 1]?.offset}`,
    );

  it('by default every `max` messages from the batch start', () => {
    assert.deepEqual(cuts(offsets(3, 12), 4, false), ['3-6', '7-10', '11-12']);
  });

  it('aligned: the same offsets end a chunk whichever offset the batch starts at', () => {
    assert.deepEqual(cuts(offsets(0, 9), 4, true), ['0-3', '4-7', '8-9']);
    assert.deepEqual(cuts(offsets(3, 12), 4, true), ['3-3', '4-7', '8-11', '12-12']);
    assert.deepEqual(cuts(offsets(5, 13), 4, true), ['5-7', '8-11', '12-13']);
    // Gaps (compaction, transaction markers) never make a chunk larger than `max`.
    const gappy = [1, 2, 9, 10, 11, 12, 13, 17].map((o) => ({ offset: String(o) }));
    assert.deepEqual(cuts(gappy, 4, true), ['1-2', '9-11', '12-13', '17-17']);
    // Offsets beyond 2^53 are compared exactly.
    const big = ['9007199254740993', '9007199254740994', '9007199254740995'].map((offset) => ({
      offset,
    }));
    assert.deepEqual(chunkBounds(big, 2, true), [
      [0, 1],
      [1, 3],
    ]);
    assert.deepEqual(chunkBounds([], 4, true), []);
  });
});
