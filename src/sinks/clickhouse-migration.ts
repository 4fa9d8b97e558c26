import { setTimeout as sleep } from 'node:timers/promises';

import type { ClickHouseClient } from '@clickhouse/client';

import { OfferError } from '../errors.js';
import {
  type ChangeRecord,
  readLastRecord,
  recordMigration,
  SCHEMA_VERSION,
} from './clickhouse-migrations-table.js';
import { planMigration } from './clickhouse-planner.js';
import {
  whereSeen,
  type Change,
  type ExistingTable,
  type MigrationPlan,
  type SchemaState,
  type ServerState,
} from './clickhouse-plan.js';
import {
  desiredSchema,
  serverVersion,
  type DesiredSchema,
  type ServerVersion,
} from './clickhouse-schema.js';
import { clickhouseErrorCode, toClickHouseFailure } from './clickhouse-client.js';

/**
 * `migrate`: reads what exists on every server (system.tables, system.columns; in cluster
 * mode each host of system.clusters through remote()), compares it with what the settings
 * ask for (clickhouse-plan.ts), applies the safe changes, refuses the rest, and records the
 * schema version and settings it left in place (clickhouse-migrations-table.ts).
 *
 * ClickHouse has no transactions and no lock that two hook Jobs could share, so every step
 * is idempotent (CREATE … IF NOT EXISTS, MODIFY TTL, and an ADD COLUMN that another run
 * already made fails harmlessly) and the state is read again after any failed step and
 * after the last one: the run succeeds only when a fresh plan is empty.
 */

export interface MigrateOptions {
  readonly database: string;
  readonly table: string;
  readonly cluster: string;
  readonly ttlDays: number;
  /** Needed in cluster mode to read the other servers' system tables through remote(). */
  readonly user?: string;
  readonly password?: string;
}

export interface MigrationResult {
  readonly server: ServerVersion;
  readonly schema: DesiredSchema;
  /** The plan as first read: what was (or, in a dry run, would be) done. */
  readonly plan: MigrationPlan;
  /** Servers compared (1 on a single server). */
  readonly servers: number;
  /** The statements that ran (none in a dry run). */
  readonly applied: readonly string[];
  /** The last record before this run, if any. */
  readonly previous: ChangeRecord | undefined;
  /** True when this run added a record. */
  readonly recorded: boolean;
}

/** A difference `migrate` refuses: not retriable, the message names each one and the way forward. */
export class SchemaRefusedError extends OfferError {
  readonly plan: MigrationPlan;

  constructor(plan: MigrationPlan, servers: number) {
    const lines = plan.refusals.map(
      (refusal) =>
        `  - ${refusal.what}${whereSeen(refusal, servers)}.\n    Way forward: ${refusal.wayForward}.`,
    );
    super(
      'SCHEMA_REFUSED',
      `migrate refuses ${plan.refusals.length === 1 ? 'a change' : `${plan.refusals.length} changes`} it cannot make safely; nothing was changed:\n${lines.join('\n')}`,
      { retriable: false },
    );
    this.plan = plan;
  }
}

const quote = (text: string): string => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

async function rows<T>(client: ClickHouseClient, query: string): Promise<T[]> {
  const result = await client.query({ query, format: 'JSONEachRow' });
  return result.json<T>();
}

/** One server's database and tables; `from` names a system table (directly, or through remote()). */
async function readServer(
  client: ClickHouseClient,
  host: string,
  schema: DesiredSchema,
  from: (systemTable: string) => string,
): Promise<ServerState> {
  const names = schema.tables.map((table) => quote(table.name)).join(', ');
  const database = quote(schema.database);
  const [databases, tables, columns] = await Promise.all([
    rows<{ name: string }>(
      client,
      `SELECT name FROM ${from('databases')} WHERE name = ${database}`,
    ),
    rows<{ name: string; engine: string; engine_full: string }>(
      client,
      `SELECT name, engine, engine_full FROM ${from('tables')} WHERE database = ${database} AND name IN (${names})`,
    ),
    rows<{ table: string; name: string; type: string }>(
      client,
      `SELECT table, name, type FROM ${from('columns')} WHERE database = ${database} AND table IN (${names})`,
    ),
  ]);
  const found = new Map<string, ExistingTable>(
    tables.map((table) => [
      table.name,
      {
        name: table.name,
        engine: table.engine,
        engineFull: table.engine_full,
        columns: columns
          .filter((column) => column.table === table.name)
          .map(({ name, type }) => ({ name, type })),
      },
    ]),
  );
  return { host, databaseExists: databases.length > 0, tables: found };
}

/** What exists: the server itself, or every host of the cluster (read through remote()). */
export async function readSchemaState(
  client: ClickHouseClient,
  schema: DesiredSchema,
  options: Pick<MigrateOptions, 'user' | 'password'> = {},
): Promise<SchemaState> {
  if (schema.cluster === '') {
    return { servers: [await readServer(client, 'the server', schema, (t) => `system.${t}`)] };
  }
  const hosts = await rows<{
    host_address: string;
    port: number;
    shard_num: number;
    replica_num: number;
  }>(
    client,
    `SELECT host_address, port, shard_num, replica_num FROM system.clusters WHERE cluster = ${quote(schema.cluster)} ORDER BY shard_num, replica_num`,
  );
  const credentials = `${quote(options.user ?? 'default')}, ${quote(options.password ?? '')}`;
  const servers = await Promise.all(
    hosts.map((host) => {
      const address = host.host_address.includes(':')
        ? `[${host.host_address}]`
        : host.host_address;
      return readServer(
        client,
        `shard ${host.shard_num} replica ${host.replica_num} (${address}:${host.port})`,
        schema,
        (table) => `remote(${quote(`${address}:${host.port}`)}, system, ${table}, ${credentials})`,
      );
    }),
  );
  return { servers };
}

/** Reads the state and plans; throws SchemaRefusedError when something must be refused. */
async function plan(
  client: ClickHouseClient,
  schema: DesiredSchema,
  options: MigrateOptions,
): Promise<{ plan: MigrationPlan; servers: number }> {
  const state = await readSchemaState(client, schema, options);
  return { plan: planMigration(schema, state), servers: state.servers.length };
}

/**
 * The state after a change, read until it shows the change everywhere: an ALTER of a
 * replicated table runs ON CLUSTER on one replica of each shard, and the others apply it from
 * ZooKeeper shortly after the statement returns.
 */
async function settled(
  client: ClickHouseClient,
  schema: DesiredSchema,
  options: MigrateOptions,
): Promise<{ plan: MigrationPlan; servers: number }> {
  let latest = await plan(client, schema, options);
  for (
    let wait = 0;
    schema.cluster !== '' && latest.plan.changes.length > 0 && wait < SETTLE_POLLS;
    wait += 1
  ) {
    await sleep(SETTLE_POLL_MS);
    latest = await plan(client, schema, options);
  }
  return latest;
}

const SETTLE_POLLS = 40;
const SETTLE_POLL_MS = 250;

// Another run's ADD COLUMN or CREATE got there first (the state is read again afterwards).
const RACE_ERROR_CODES = new Set([
  15, // DUPLICATE_COLUMN
  44, // ILLEGAL_COLUMN
  57, // TABLE_ALREADY_EXISTS
  82, // DATABASE_ALREADY_EXISTS
  517, // CANNOT_ASSIGN_ALTER: another ALTER of the same replicated table is running
]);

const ATTEMPTS = 3;

// ClickHouse before 20.x refuses an ALTER … ON CLUSTER of a Distributed table when the
// cluster's shards have internal_replication (ClickHouse/ClickHouse#3268).
const NOT_REPLICATED_ON_CLUSTER = 371;

/** Runs a change (or its fallback, where the server refuses the statement); returns what ran. */
async function applyChange(client: ClickHouseClient, change: Change): Promise<string[]> {
  try {
    await client.command({ query: change.statement });
    return [change.statement];
  } catch (error) {
    if (change.fallback === undefined || clickhouseErrorCode(error) !== NOT_REPLICATED_ON_CLUSTER) {
      throw error;
    }
    for (const statement of change.fallback) await client.command({ query: statement });
    return [...change.fallback];
  }
}

/**
 * Brings the schema to what the settings ask for, or refuses. With `dryRun`, only reads
 * and plans. Idempotent, and safe to run from two places at once (see the module comment).
 */
export async function migrate(
  client: ClickHouseClient,
  options: MigrateOptions,
  run: { readonly dryRun?: boolean; readonly serviceVersion?: string } = {},
): Promise<MigrationResult> {
  try {
    const server = await serverVersion(client);
    const schema = desiredSchema({ ...options, version: server });
    const first = await plan(client, schema, options);
    const previous = await readLastRecord(client, options.database, options.table);
    const result = {
      server,
      schema,
      plan: first.plan,
      servers: first.servers,
      previous,
    };
    if (first.plan.refusals.length > 0) throw new SchemaRefusedError(first.plan, first.servers);
    if (run.dryRun === true) return { ...result, applied: [], recorded: false };

    const applied: string[] = [];
    let current = first.plan;
    for (let attempt = 1; current.changes.length > 0; attempt += 1) {
      try {
        // A fallback makes its table again whole: the table's other changes are then done.
        const remade = new Set<string>();
        for (const change of current.changes) {
          const key = change.fallback?.join('\n');
          if (key !== undefined && remade.has(key)) continue;
          const ran = await applyChange(client, change);
          if (key !== undefined && ran.length > 1) remade.add(key);
          applied.push(...ran);
        }
      } catch (error) {
        const code = clickhouseErrorCode(error);
        if (attempt >= ATTEMPTS || code === undefined || !RACE_ERROR_CODES.has(code)) throw error;
      }
      const again = await settled(client, schema, options);
      if (again.plan.refusals.length > 0) throw new SchemaRefusedError(again.plan, again.servers);
      current = again.plan;
      if (current.changes.length > 0 && attempt >= ATTEMPTS) {
        throw new OfferError(
          'CLICKHOUSE_FAILED',
          `migrate applied its changes but the schema still differs: ${current.changes.map((c) => c.what).join('; ')}`,
          { retriable: true },
        );
      }
    }
    const recorded = await recordMigration(client, schema, {
      table: options.table,
      statements: applied,
      serviceVersion: run.serviceVersion ?? 'unknown',
      previous,
    });
    return { ...result, applied, recorded };
  } catch (error) {
    throw toClickHouseFailure(error, 'migration');
  }
}

export { SCHEMA_VERSION };
