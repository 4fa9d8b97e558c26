import type { ClickHouseClient } from '@clickhouse/client';

import { OfferError } from '../errors.js';
import { PREDICTION_NAMES } from '../scoring/predictions.js';

/**
 * The `personal_offer` table, in two shapes:
 *
 * - one server (CLICKHOUSE_CLUSTER empty): a ReplacingMergeTree named `<table>`;
 * - a cluster: on every node a ReplicatedReplacingMergeTree `<table>_local` (replicas of a
 *   shard share a ZooKeeper path, so an insert into one replica reaches the others and a
 *   repeated insert block is deduplicated), and a Distributed table `<table>` over them,
 *   sharded by user id, that the service inserts into and users query. Queries read the same
 *   in both shapes, and all events of a user are on one shard, so FINAL collapses them.
 *
 * ReplacingMergeTree(version) collapses redelivered rows of one user to the newest event at
 * merge time; queries that must not see duplicates use FINAL.
 *
 * Column types depend on the server: 18.16 (Debian's package) has no DateTime64,
 * LowCardinality, codecs or TTL, so it gets the plain types; current servers get the compact
 * ones, monthly partitions and, when asked, a TTL.
 */

export interface ServerVersion {
  readonly major: number;
  readonly minor: number;
  /** As the server reports it, for messages. */
  readonly text: string;
}

/**
 * The first release with every feature of the current column set: DateTime64 (20.1),
 * LowCardinality and codecs (19.x), TTL expressions on DateTime64 columns.
 */
const CURRENT_SCHEMA_SINCE = { major: 20, minor: 3 } as const;

export function parseServerVersion(text: string): ServerVersion {
  const match = /^(\d+)\.(\d+)/.exec(text.trim());
  if (match?.[1] === undefined || match[2] === undefined) {
    throw new OfferError(
      'CLICKHOUSE_FAILED',
      `ClickHouse reported an unreadable version: ${text}`,
      {
        retriable: false,
      },
    );
  }
  return { major: Number(match[1]), minor: Number(match[2]), text: text.trim() };
}

/** True when the server takes DateTime64, LowCardinality, codecs and TTL. */
export function hasCurrentSchema(version: ServerVersion): boolean {
  return (
    version.major > CURRENT_SCHEMA_SINCE.major ||
    (version.major === CURRENT_SCHEMA_SINCE.major && version.minor >= CURRENT_SCHEMA_SINCE.minor)
  );
}

export interface SchemaOptions {
  readonly database: string;
  readonly table: string;
  /** Empty: one server. */
  readonly cluster: string;
  /** 0: no TTL. */
  readonly ttlDays: number;
  readonly version: ServerVersion;
}

/** In cluster mode, the replicated table on every node behind the Distributed `<table>`. */
export const localTableName = (table: string): string => `${table}_local`;

/**
 * One column of the offers table: its type on current servers and on servers before 20.3,
 * and what follows the type (default, codec) on each.
 */
interface ColumnDefinition {
  readonly name: string;
  readonly current: string;
  readonly legacy: string;
  readonly currentExtra?: string;
  readonly legacyExtra?: string;
}

// The offer text is one of 2^6 combinations of optional functions, and a deployment runs a
// handful of model versions: dictionary-encoded strings. Offsets, versions and times grow
// steadily within a part, which Delta turns into small numbers for ZSTD.
const COLUMNS: readonly ColumnDefinition[] = [
  { name: 'user_id', current: 'UInt64', legacy: 'UInt64' },
  ...PREDICTION_NAMES.map((name) => ({
    name,
    current: 'Float32',
    legacy: 'Float32',
    currentExtra: 'CODEC(ZSTD(1))',
  })),
  { name: 'offer', current: 'LowCardinality(String)', legacy: 'String' },
  { name: 'model_version', current: 'LowCardinality(String)', legacy: 'String' },
  { name: 'model_sha256', current: 'LowCardinality(String)', legacy: 'String' },
  { name: 'kafka_partition', current: 'UInt32', legacy: 'UInt32', currentExtra: 'CODEC(ZSTD(1))' },
  {
    name: 'kafka_offset',
    current: 'UInt64',
    legacy: 'UInt64',
    currentExtra: 'CODEC(Delta, ZSTD(1))',
  },
  {
    name: 'event_time',
    current: "DateTime64(3, 'UTC')",
    legacy: "DateTime('UTC')",
    currentExtra: 'CODEC(Delta, ZSTD(1))',
  },
  {
    name: 'processed_at',
    current: "DateTime64(3, 'UTC')",
    legacy: "DateTime('UTC')",
    currentExtra: 'DEFAULT now64(3) CODEC(Delta, ZSTD(1))',
    legacyExtra: 'DEFAULT now()',
  },
  { name: 'version', current: 'UInt64', legacy: 'UInt64', currentExtra: 'CODEC(Delta, ZSTD(1))' },
];

/** A column as the table should have it, and the types an existing table may have instead. */
export interface ColumnSpec {
  readonly name: string;
  readonly type: string;
  /** The column's definition in DDL: name, type, default, codec. */
  readonly definition: string;
  /**
   * Every type the service can write to: the one above, and the other column set's (a table
   * created before the server was upgraded to 20.3+ keeps its plain types, and works).
   */
  readonly accepted: readonly string[];
}

/** The columns of the offers table on a server that takes the current (or the legacy) set. */
export function columnSpecs(current: boolean): ColumnSpec[] {
  return COLUMNS.map((column) => {
    const type = current ? column.current : column.legacy;
    const extra = current ? column.currentExtra : column.legacyExtra;
    return {
      name: column.name,
      type,
      definition: `${column.name} ${type}${extra === undefined ? '' : ` ${extra}`}`,
      accepted: [...new Set([column.current, column.legacy])],
    };
  });
}

function columns(current: boolean): string {
  const lines = columnSpecs(current).map((column) => `    ${column.definition}`);
  return ['(', lines.join(',\n'), ')'].join('\n');
}

/** The monthly partitioning current servers get; a table without one (made before 20.3) is kept. */
const MONTHLY_PARTITIONS = 'toYYYYMM(event_time)';

/** The TTL clause's expression in DDL, and as system.tables shows it (INTERVAL N DAY becomes toIntervalDay(N)). */
function ttlExpression(ttlDays: number): { ddl: string; shown: string } {
  // processed_at, not event_time: an event without a usable Kafka timestamp counts as the
  // epoch and would expire the moment it is stored.
  return {
    ddl: `toDateTime(processed_at) + INTERVAL ${ttlDays} DAY`,
    shown: `toDateTime(processed_at) + toIntervalDay(${ttlDays})`,
  };
}

function tableSettings(options: SchemaOptions, current: boolean): string[] {
  if (!current) return ['ORDER BY user_id'];
  return [
    // A redelivered event has the same event_time, so it lands in the partition of its first
    // copy and ReplacingMergeTree collapses it there.
    `PARTITION BY ${MONTHLY_PARTITIONS}`,
    'ORDER BY user_id',
    ...(options.ttlDays > 0 ? [`TTL ${ttlExpression(options.ttlDays).ddl}`] : []),
  ];
}

/** What one table of the schema must be; `migrate` compares it with system.tables and system.columns. */
export interface TableSpec {
  /** `table`: the one table of a single server; `local` and `distributed`: a cluster's pair. */
  readonly role: 'table' | 'local' | 'distributed';
  readonly name: string;
  /** The engine's name, as system.tables.engine shows it. */
  readonly engine: string;
  /** The engine with its parameters, as engine_full starts (compared without quotes and spaces). */
  readonly engineCall: string;
  readonly columns: readonly ColumnSpec[];
  /** PARTITION BY expressions an existing table may have ('' = none); the first is what a new one gets. */
  readonly partitionBy: readonly string[];
  /** ORDER BY expression; '' for a Distributed table. */
  readonly orderBy: string;
  /** The TTL as system.tables shows it ('' = none); undefined where a TTL does not apply (Distributed). */
  readonly ttl: string | undefined;
  /** The statement that creates it (IF NOT EXISTS, ON CLUSTER in cluster mode). */
  readonly create: string;
}

/** The schema the settings ask for on a server of a given version. */
export interface DesiredSchema {
  readonly database: string;
  readonly cluster: string;
  /** ` ON CLUSTER '<name>'`, or empty on one server. */
  readonly onCluster: string;
  /** True when the server takes the current column set (20.3+). */
  readonly current: boolean;
  readonly ttlDays: number;
  /** The TTL expression in DDL ('' = none). */
  readonly ttlDdl: string;
  /** `CREATE DATABASE IF NOT EXISTS`, or undefined for `default` on one server. */
  readonly createDatabase: string | undefined;
  /** In the order they are created: a cluster's local table before its Distributed table. */
  readonly tables: readonly TableSpec[];
}

function ttlUnsupported(ttlDays: number, version: ServerVersion): OfferError {
  return new OfferError(
    'CONFIG_INVALID',
    `CLICKHOUSE_TTL_DAYS=${ttlDays} needs ClickHouse ${CURRENT_SCHEMA_SINCE.major}.${CURRENT_SCHEMA_SINCE.minor} or later, but the server runs ${version.text}: set CLICKHOUSE_TTL_DAYS=0 (no TTL) or upgrade the server`,
    { retriable: false },
  );
}

/** What the settings ask for. Throws when the server cannot do it (a TTL before 20.3). */
export function desiredSchema(options: SchemaOptions): DesiredSchema {
  const { database, table, cluster, ttlDays, version } = options;
  const current = hasCurrentSchema(version);
  if (ttlDays > 0 && !current) throw ttlUnsupported(ttlDays, version);
  const onCluster = cluster === '' ? '' : ` ON CLUSTER '${cluster}'`;
  const columnSet = columnSpecs(current);
  const partitionBy = current ? [MONTHLY_PARTITIONS, ''] : ['', MONTHLY_PARTITIONS];
  const ttl = ttlDays > 0 ? ttlExpression(ttlDays) : { ddl: '', shown: '' };
  const mergeTree = (
    role: 'table' | 'local',
    name: string,
    engine: string,
    engineCall: string,
  ): TableSpec => ({
    role,
    name,
    engine,
    engineCall,
    columns: columnSet,
    partitionBy,
    orderBy: 'user_id',
    ttl: ttl.shown,
    create: [
      `CREATE TABLE IF NOT EXISTS ${database}.${name}${onCluster}`,
      columns(current),
      `ENGINE = ${engineCall}`,
      ...tableSettings(options, current),
    ].join('\n'),
  });
  const base = {
    database,
    cluster,
    onCluster,
    current,
    ttlDays,
    ttlDdl: ttl.ddl,
    createDatabase:
      database !== 'default' || cluster !== ''
        ? `CREATE DATABASE IF NOT EXISTS ${database}${onCluster}`
        : undefined,
  };
  if (cluster === '') {
    return {
      ...base,
      tables: [mergeTree('table', table, 'ReplacingMergeTree', 'ReplacingMergeTree(version)')],
    };
  }
  const local = localTableName(table);
  // All events of a user on one shard: FINAL on the shards collapses them.
  const distributedCall = `Distributed('${cluster}', ${database}, ${local}, cityHash64(user_id))`;
  return {
    ...base,
    tables: [
      mergeTree(
        'local',
        local,
        'ReplicatedReplacingMergeTree',
        `ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${database}/${local}', '{replica}', version)`,
      ),
      {
        role: 'distributed',
        name: table,
        engine: 'Distributed',
        engineCall: distributedCall,
        columns: columnSet,
        partitionBy: [''],
        orderBy: '',
        ttl: undefined,
        create: [
          `CREATE TABLE IF NOT EXISTS ${database}.${table}${onCluster}`,
          `AS ${database}.${local}`,
          `ENGINE = ${distributedCall}`,
        ].join('\n'),
      },
    ],
  };
}

/** The DDL statements of a fresh install, in order; each is safe to run again. */
export function schemaStatements(options: SchemaOptions): string[] {
  const schema = desiredSchema(options);
  return [
    ...(schema.createDatabase === undefined ? [] : [schema.createDatabase]),
    ...schema.tables.map((table) => table.create),
  ];
}

export async function serverVersion(client: ClickHouseClient): Promise<ServerVersion> {
  const result = await client.query({
    query: 'SELECT version() AS version',
    format: 'JSONEachRow',
  });
  const [row] = await result.json<{ version: string }>();
  return parseServerVersion(row?.version ?? '');
}
