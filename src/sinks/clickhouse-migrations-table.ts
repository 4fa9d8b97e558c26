import type { ClickHouseClient } from '@clickhouse/client';

import type { DesiredSchema } from './clickhouse-schema.js';
import { clickhouseErrorCode } from './clickhouse-client.js';

/**
 * The record of what `migrate` left in place: one row per run that changed something or
 * found the schema at a version or settings not recorded yet, in
 * `<database>.realtime_offers_migrations`. In cluster mode every server is a replica of that
 * one table (its ZooKeeper path has no shard), so each server shows the whole history.
 *
 * It is a log, not a lock: two runs at once may both add a row, each true.
 */

/**
 * The version of the offers table's schema this release writes. Each release that changes the
 * table (a column added, an engine setting) raises it by one and says what changed here.
 *
 * 1: the table of 0.1.0: user_id, the eight predictions, offer, model_version,
 *    kafka_partition, kafka_offset, event_time, processed_at, version;
 *    ReplacingMergeTree(version) ORDER BY user_id (cluster: replicated local tables behind a
 *    Distributed table); monthly partitions and CLICKHOUSE_TTL_DAYS on 20.3+.
 * 2 (0.2.0): model_sha256 after model_version, the SHA-256 of the model file that scored the
 *    row (ADD COLUMN; rows written before it, or by 0.1.0 replicas during a rolling upgrade,
 *    hold '').
 */
export const SCHEMA_VERSION = 2;

export const MIGRATIONS_TABLE = 'realtime_offers_migrations';

/** The settings a run applied, as recorded (compared as text to decide whether to record). */
export interface RecordedSettings {
  readonly cluster: string;
  readonly ttlDays: number;
  /** `current` (20.3+ types, partitions) or `legacy`. */
  readonly columnSet: 'current' | 'legacy';
}

export interface ChangeRecord {
  readonly version: number;
  readonly settings: string;
  readonly appliedAt: string;
  readonly serviceVersion: string;
}

function settingsText(schema: DesiredSchema): string {
  const settings: RecordedSettings = {
    cluster: schema.cluster,
    ttlDays: schema.ttlDays,
    columnSet: schema.current ? 'current' : 'legacy',
  };
  return JSON.stringify(settings);
}

function createStatement(schema: DesiredSchema): string {
  const engine =
    schema.cluster === ''
      ? 'MergeTree'
      : `ReplicatedMergeTree('/clickhouse/tables/all/${schema.database}/${MIGRATIONS_TABLE}', '{replica}')`;
  return [
    `CREATE TABLE IF NOT EXISTS ${schema.database}.${MIGRATIONS_TABLE}${schema.onCluster}`,
    '(',
    '    table_name String,',
    '    version UInt32,',
    '    settings String,',
    '    statements Array(String),',
    '    service_version String,',
    "    applied_at DateTime('UTC'),",
    // Milliseconds: runs within one second (a TTL set, then changed) still have an order.
    '    applied_ms UInt64',
    ')',
    `ENGINE = ${engine}`,
    'ORDER BY (table_name, applied_ms)',
  ].join('\n');
}

/** The newest record of `table`, or undefined when there is none (or no record table yet). */
export async function readLastRecord(
  client: ClickHouseClient,
  database: string,
  table: string,
): Promise<ChangeRecord | undefined> {
  // Asked first rather than read from an error: not every connection (chDB) keeps its code.
  const exists = await client.query({
    query: `SELECT name FROM system.tables WHERE database = '${database}' AND name = '${MIGRATIONS_TABLE}'`,
    format: 'JSONEachRow',
  });
  if ((await exists.json()).length === 0) return undefined;
  const result = await client.query({
    query: `SELECT version, settings, toString(applied_at) AS applied, service_version FROM ${database}.${MIGRATIONS_TABLE} WHERE table_name = '${table}' ORDER BY applied_ms DESC LIMIT 1`,
    format: 'JSONEachRow',
  });
  const [row] = await result.json<{
    version: number;
    settings: string;
    applied: string;
    service_version: string;
  }>();
  return row === undefined
    ? undefined
    : {
        version: row.version,
        settings: row.settings,
        appliedAt: row.applied,
        serviceVersion: row.service_version,
      };
}

/**
 * Adds a row when this run changed something, or when the version or settings differ from
 * the last record (a table made before records existed is recorded as found). Returns
 * whether it added one.
 */
export async function recordMigration(
  client: ClickHouseClient,
  schema: DesiredSchema,
  run: {
    readonly table: string;
    readonly statements: readonly string[];
    readonly serviceVersion: string;
    readonly previous: ChangeRecord | undefined;
  },
): Promise<boolean> {
  const settings = settingsText(schema);
  const { previous } = run;
  if (
    run.statements.length === 0 &&
    previous?.version === SCHEMA_VERSION &&
    previous.settings === settings
  ) {
    return false;
  }
  await client.command({ query: createStatement(schema) }).catch((error: unknown) => {
    // 57: TABLE_ALREADY_EXISTS, when another run created it between IF NOT EXISTS and CREATE.
    if (clickhouseErrorCode(error) !== 57) throw error;
  });
  const now = Date.now();
  await client.insert({
    table: `${schema.database}.${MIGRATIONS_TABLE}`,
    format: 'JSONEachRow',
    values: [
      {
        table_name: run.table,
        version: SCHEMA_VERSION,
        settings,
        statements: run.statements,
        service_version: run.serviceVersion,
        // Sent, not defaulted: 18.16 fills an omitted JSONEachRow field with zero, not DEFAULT.
        applied_at: new Date(now).toISOString().slice(0, 19).replace('T', ' '),
        applied_ms: now,
      },
    ],
  });
  return true;
}
