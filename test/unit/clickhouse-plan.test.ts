import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { ClickHouseClient } from '@clickhouse/client';

import { OfferError } from '../../src/errors.js';
import { migrate, SchemaRefusedError } from '../../src/sinks/clickhouse-migration.js';
import {
  engineClauses,
  type ExistingTable,
  type ServerState,
} from '../../src/sinks/clickhouse-plan.js';
import { planMigration } from '../../src/sinks/clickhouse-planner.js';
import {
  desiredSchema,
  parseServerVersion,
  type DesiredSchema,
  type SchemaOptions,
  type TableSpec,
} from '../../src/sinks/clickhouse-schema.js';

/** The pure half of `migrate`: what exists against what the settings ask for. */

const OLD = parseServerVersion('18.16.1');
const CURRENT = parseServerVersion('25.8.2.1');

const schema = (overrides: Partial<SchemaOptions> = {}): DesiredSchema =>
  desiredSchema({
    database: 'default',
    table: 'personal_offer',
    cluster: '',
    ttlDays: 0,
    version: OLD,
    ...overrides,
  });

/** A table as system.tables and system.columns show it after `spec.create` ran. */
function existing(spec: TableSpec, changes: Partial<ExistingTable> = {}): ExistingTable {
  const [partition = ''] = spec.partitionBy;
  const engineFull =
    spec.engine === 'Distributed'
      ? spec.engineCall
      : [
          spec.engineCall,
          ...(partition === '' ? [] : [`PARTITION BY ${partition}`]),
          `ORDER BY ${spec.orderBy}`,
          ...(spec.ttl === undefined || spec.ttl === '' ? [] : [`TTL ${spec.ttl}`]),
          'SETTINGS index_granularity = 8192',
        ].join(' ');
  return {
    name: spec.name,
    engine: spec.engine,
    engineFull,
    columns: spec.columns.map(({ name, type }) => ({ name, type })),
    ...changes,
  };
}

function server(
  host: string,
  tables: readonly ExistingTable[],
  databaseExists = true,
): ServerState {
  return { host, databaseExists, tables: new Map(tables.map((table) => [table.name, table])) };
}

/** Each table of `of` as created, on one server. */
const installed = (of: DesiredSchema, host = 'the server'): ServerState =>
  server(
    host,
    of.tables.map((spec) => existing(spec)),
  );

const first = <T>(items: readonly T[]): T => {
  const [item] = items;
  assert.ok(item !== undefined, 'expected at least one');
  return item;
};

describe('engine_full is split at its top-level clauses', () => {
  it('reads an 18.16 table, a current one with TTL and settings, and a Distributed table', () => {
    assert.deepEqual(
      engineClauses(
        'ReplacingMergeTree(version) ORDER BY user_id SETTINGS index_granularity = 8192',
      ),
      { call: 'ReplacingMergeTree(version)', partitionBy: '', orderBy: 'user_id', ttl: '' },
    );
    assert.deepEqual(
      engineClauses(
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/default/t_local', '{replica}', version) PARTITION BY toYYYYMM(event_time) ORDER BY user_id TTL toDateTime(processed_at) + toIntervalDay(30) SETTINGS index_granularity = 8192",
      ),
      {
        call: "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/default/t_local', '{replica}', version)",
        partitionBy: 'toYYYYMM(event_time)',
        orderBy: 'user_id',
        ttl: 'toDateTime(processed_at) + toIntervalDay(30)',
      },
    );
    assert.deepEqual(engineClauses("Distributed('c', 'default', 't_local', cityHash64(user_id))"), {
      call: "Distributed('c', 'default', 't_local', cityHash64(user_id))",
      partitionBy: '',
      orderBy: '',
      ttl: '',
    });
    // A keyword inside quotes or parentheses is not a clause.
    assert.equal(engineClauses("MergeTree(' ORDER BY x') ORDER BY (a, b)").orderBy, '(a, b)');
  });
});

describe('planMigration on one server', () => {
  it('a fresh install creates the table; in another database, the database first', () => {
    const fresh = schema();
    const plan = planMigration(fresh, { servers: [server('the server', [])] });
    assert.deepEqual(
      plan.changes.map((change) => change.statement),
      [first(fresh.tables).create],
    );
    assert.deepEqual(plan.refusals, []);
    const other = schema({ database: 'offers' });
    const planned = planMigration(other, { servers: [server('the server', [], false)] });
    assert.deepEqual(
      planned.changes.map((change) => change.statement),
      ['CREATE DATABASE IF NOT EXISTS offers', first(other.tables).create],
    );
    assert.equal(first(planned.changes).what, 'database offers is missing');
  });

  it('a table as the settings ask for needs nothing, on 18.16 and on a current server', () => {
    for (const wanted of [schema(), schema({ version: CURRENT, ttlDays: 30 })]) {
      const plan = planMigration(wanted, { servers: [installed(wanted)] });
      assert.deepEqual(plan, { changes: [], refusals: [], notes: [] });
    }
  });

  it('a table made on 18.16, after the server was upgraded: kept, with notes', () => {
    const old = schema();
    const plan = planMigration(schema({ version: CURRENT }), { servers: [installed(old)] });
    assert.deepEqual(plan.changes, []);
    assert.deepEqual(plan.refusals, []);
    const notes = plan.notes.map((note) => note.what);
    assert.ok(
      notes.some((note) =>
        note.includes(
          'column offer of default.personal_offer is String (a new table would have LowCardinality(String)): kept',
        ),
      ),
      notes.join('\n'),
    );
    assert.ok(
      notes.some((note) =>
        note.includes(
          'partitioned by (nothing) (a new table would be by toYYYYMM(event_time)): kept',
        ),
      ),
    );
  });

  it('adds a missing column after the one before it, and keeps a column of your own', () => {
    const wanted = schema();
    const spec = first(wanted.tables);
    const table = existing(spec);
    const plan = planMigration(wanted, {
      servers: [
        server('the server', [
          {
            ...table,
            columns: [
              ...table.columns.filter((column) => column.name !== 'model_version'),
              { name: 'campaign', type: 'String' },
            ],
          },
        ]),
      ],
    });
    assert.deepEqual(plan.refusals, []);
    assert.deepEqual(
      plan.changes.map((change) => [change.what, change.statement]),
      [
        [
          'default.personal_offer has no column model_version',
          'ALTER TABLE default.personal_offer ADD COLUMN model_version String AFTER offer',
        ],
      ],
    );
    assert.match(
      first(plan.notes).what,
      /does not write, campaign String: kept \(migrate never drops a column\)/,
    );
  });

  it('sets, changes and removes the TTL (current servers)', () => {
    const none = schema({ version: CURRENT });
    const thirty = schema({ version: CURRENT, ttlDays: 30 });
    const seven = schema({ version: CURRENT, ttlDays: 7 });
    const statement = (wanted: DesiredSchema, from: DesiredSchema) =>
      planMigration(wanted, { servers: [installed(from)] }).changes.map((c) => c.statement);
    assert.deepEqual(statement(thirty, none), [
      'ALTER TABLE default.personal_offer MODIFY TTL toDateTime(processed_at) + INTERVAL 30 DAY',
    ]);
    assert.deepEqual(statement(seven, thirty), [
      'ALTER TABLE default.personal_offer MODIFY TTL toDateTime(processed_at) + INTERVAL 7 DAY',
    ]);
    assert.deepEqual(statement(none, seven), ['ALTER TABLE default.personal_offer REMOVE TTL']);
    const [change] = planMigration(thirty, { servers: [installed(none)] }).changes;
    assert.equal(
      change?.what,
      'default.personal_offer has no TTL, but CLICKHOUSE_TTL_DAYS=30 asks for toDateTime(processed_at) + toIntervalDay(30)',
    );
  });

  it('refuses another column type, partitioning or order, naming the way forward', () => {
    const wanted = schema({ version: CURRENT });
    const spec = first(wanted.tables);
    const table = existing(spec);
    const plan = planMigration(wanted, {
      servers: [
        server('the server', [
          {
            ...table,
            engineFull:
              'ReplacingMergeTree(version) PARTITION BY toYYYYMMDD(event_time) ORDER BY (user_id, version) SETTINGS index_granularity = 8192',
            columns: table.columns.map((column) =>
              column.name === 'kafka_partition' ? { ...column, type: 'Int64' } : column,
            ),
          },
        ]),
      ],
    });
    const refused = plan.refusals.map((refusal) => refusal.what);
    assert.deepEqual(refused.sort(), [
      'column kafka_partition of default.personal_offer is Int64, but the service writes UInt32',
      "default.personal_offer is ordered by (user_id, version), but ReplacingMergeTree must be ordered by user_id to collapse a user's redelivered rows",
      'default.personal_offer is partitioned by toYYYYMMDD(event_time), but the schema partitions by toYYYYMM(event_time)',
    ]);
    for (const refusal of plan.refusals) assert.ok(refusal.wayForward.length > 20);
    assert.match(
      plan.refusals.find((r) => r.what.startsWith('column'))?.wayForward ?? '',
      /MODIFY COLUMN kafka_partition UInt32/,
    );
  });

  it('refuses a single-server table when CLICKHOUSE_CLUSTER is switched off over a Distributed one', () => {
    const clustered = schema({ cluster: 'offers' });
    const single = schema();
    const distributed = clustered.tables.find((table) => table.role === 'distributed');
    assert.ok(distributed);
    const plan = planMigration(single, {
      servers: [server('the server', [existing(distributed)])],
    });
    const refusal = first(plan.refusals);
    assert.equal(
      refusal.what,
      "default.personal_offer is a Distributed('offers', default, personal_offer_local, cityHash64(user_id)), but the settings ask for a ReplacingMergeTree(version)",
    );
    assert.match(refusal.wayForward, /set CLICKHOUSE_CLUSTER \(clickhouse\.cluster\) back/);
  });
});

describe('planMigration on a cluster', () => {
  const clustered = schema({ cluster: 'offers' });
  const hosts = [
    'shard 1 replica 1',
    'shard 1 replica 2',
    'shard 2 replica 1',
    'shard 2 replica 2',
  ];

  it('creates the database, the local and the Distributed table once, ON CLUSTER, in that order', () => {
    const plan = planMigration(clustered, {
      servers: hosts.map((host) => server(host, [], false)),
    });
    assert.deepEqual(
      plan.changes.map((change) => change.statement.split('\n')[0]),
      [
        "CREATE DATABASE IF NOT EXISTS default ON CLUSTER 'offers'",
        "CREATE TABLE IF NOT EXISTS default.personal_offer_local ON CLUSTER 'offers'",
        "CREATE TABLE IF NOT EXISTS default.personal_offer ON CLUSTER 'offers'",
      ],
    );
    for (const change of plan.changes) assert.deepEqual(change.hosts, hosts);
  });

  it('adds a column missing on some servers with one ON CLUSTER statement per table, local first', () => {
    const [local, distributed] = clustered.tables;
    assert.ok(local && distributed);
    const without = (spec: TableSpec) =>
      existing(spec, {
        columns: spec.columns
          .filter((column) => column.name !== 'version')
          .map(({ name, type }) => ({ name, type })),
      });
    const plan = planMigration(clustered, {
      servers: [
        server(hosts[0] ?? '', [existing(local), without(distributed)]),
        server(hosts[1] ?? '', [without(local), without(distributed)]),
        server(hosts[2] ?? '', [without(local), existing(distributed)]),
        server(hosts[3] ?? '', [existing(local), existing(distributed)]),
      ],
    });
    assert.deepEqual(
      plan.changes.map((change) => [change.statement, change.hosts]),
      [
        [
          "ALTER TABLE default.personal_offer_local ON CLUSTER 'offers' ADD COLUMN version UInt64 AFTER processed_at",
          [hosts[1], hosts[2]],
        ],
        [
          "ALTER TABLE default.personal_offer ON CLUSTER 'offers' ADD COLUMN version UInt64 AFTER processed_at",
          [hosts[0], hosts[1]],
        ],
      ],
    );
  });

  it('gives the Distributed table a fallback: made again from the local table (18.x refuses its ALTER ON CLUSTER)', () => {
    const [local, distributed] = clustered.tables;
    assert.ok(local && distributed);
    const without = (spec: TableSpec) =>
      existing(spec, {
        columns: spec.columns
          .filter((column) => column.name !== 'offer')
          .map(({ name, type }) => ({ name, type })),
      });
    const plan = planMigration(clustered, {
      servers: hosts.map((host) => server(host, [without(local), without(distributed)])),
    });
    const [localChange, distributedChange] = plan.changes;
    assert.equal(localChange?.fallback, undefined);
    assert.deepEqual(distributedChange?.fallback, [
      "DROP TABLE IF EXISTS default.personal_offer ON CLUSTER 'offers'",
      distributed.create,
    ]);
  });

  it('refuses CLICKHOUSE_CLUSTER switched on over a single-server table, naming the servers', () => {
    const single = first(schema().tables);
    const plan = planMigration(clustered, {
      servers: [
        server(hosts[0] ?? '', [existing(single)]),
        ...hosts.slice(1).map((host) => server(host, [])),
      ],
    });
    const refusal = first(plan.refusals);
    assert.equal(
      refusal.what,
      "default.personal_offer is a ReplacingMergeTree(version), but the settings ask for a Distributed('offers', default, personal_offer_local, cityHash64(user_id))",
    );
    assert.deepEqual(refusal.hosts, [hosts[0]]);
    assert.match(refusal.wayForward, /keep CLICKHOUSE_CLUSTER empty/);
    assert.match(
      refusal.wayForward,
      /RENAME TABLE default\.personal_offer TO default\.personal_offer_old/,
    );
  });

  it('refuses a cluster the server does not know', () => {
    const plan = planMigration(clustered, { servers: [] });
    assert.match(
      first(plan.refusals).what,
      /cluster offers is not in the server's system\.clusters/,
    );
  });
});

describe('migrate against a scripted server', () => {
  /** A client that answers version() and the system tables with `tables()`, and records commands. */
  function scripted(
    tables: () => ExistingTable[],
    onCommand: (query: string) => void = () => undefined,
  ) {
    const commands: string[] = [];
    const answer = (query: string): Promise<unknown[]> => {
      // No record table yet.
      if (query.includes("name = 'realtime_offers_migrations'")) return Promise.resolve([]);
      if (query.startsWith('SELECT version()')) return Promise.resolve([{ version: '18.16.1' }]);
      if (query.includes('FROM system.tables')) {
        return Promise.resolve(
          tables().map((t) => ({ name: t.name, engine: t.engine, engine_full: t.engineFull })),
        );
      }
      if (query.includes('FROM system.columns')) {
        return Promise.resolve(
          tables().flatMap((t) => t.columns.map((c) => ({ table: t.name, ...c }))),
        );
      }
      return Promise.resolve([]);
    };
    const client = {
      query: async ({ query }: { query: string }) => {
        const rows = await answer(query);
        return { json: () => Promise.resolve(rows) };
      },
      command: ({ query }: { query: string }) => {
        commands.push(query);
        onCommand(query);
        return Promise.resolve({});
      },
      insert: () => Promise.resolve({}),
    } as unknown as ClickHouseClient;
    return { client, commands };
  }

  it('a dry run only reads; a run applies, reads again and records', async () => {
    let created = false;
    const wanted = schema();
    const table = () => (created ? [existing(first(wanted.tables))] : []);
    const options = { database: 'default', table: 'personal_offer', cluster: '', ttlDays: 0 };
    const dry = scripted(table);
    const planned = await migrate(dry.client, options, { dryRun: true });
    assert.equal(planned.plan.changes.length, 1);
    assert.deepEqual(dry.commands, []);
    // The CREATE takes effect the moment it is sent.
    const run = scripted(table, () => {
      created = true;
    });
    const result = await migrate(run.client, options);
    assert.deepEqual(result.applied, [first(wanted.tables).create]);
    assert.equal(result.recorded, true);
    assert.match(
      run.commands.at(-1) ?? '',
      /CREATE TABLE IF NOT EXISTS default\.realtime_offers_migrations/,
    );
  });

  it('refuses without changing anything, not retriable', async () => {
    const { client, commands } = scripted(() => [
      existing(first(schema().tables), {
        engine: 'MergeTree',
        engineFull: 'MergeTree ORDER BY user_id',
      }),
    ]);
    await assert.rejects(
      migrate(client, { database: 'default', table: 'personal_offer', cluster: '', ttlDays: 0 }),
      (error: unknown) =>
        error instanceof SchemaRefusedError &&
        error instanceof OfferError &&
        error.code === 'SCHEMA_REFUSED' &&
        !error.retriable &&
        error.message.includes(
          'default.personal_offer is a MergeTree, but the settings ask for a ReplacingMergeTree(version)',
        ) &&
        error.message.includes("Way forward: ClickHouse cannot change a table's engine in place"),
    );
    assert.deepEqual(commands, []);
  });
});
