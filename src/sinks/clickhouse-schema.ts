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

function columns(current: boolean): string {
  const float = current ? 'Float32 CODEC(ZSTD(1))' : 'Float32';
  const predictions = PREDICTION_NAMES.map((name) => `    ${name} ${float}`).join(',\n');
  // The offer text is one of 2^6 combinations of optional functions, and a deployment runs a
  // handful of model versions: dictionary-encoded strings. Offsets, versions and times grow
  // steadily within a part, which Delta turns into small numbers for ZSTD.
  const lines = current
    ? [
        '    user_id UInt64,',
        `${predictions},`,
        '    offer LowCardinality(String),',
        '    model_version LowCardinality(String),',
        '    kafka_partition UInt32 CODEC(ZSTD(1)),',
        '    kafka_offset UInt64 CODEC(Delta, ZSTD(1)),',
        "    event_time DateTime64(3, 'UTC') CODEC(Delta, ZSTD(1)),",
        "    processed_at DateTime64(3, 'UTC') DEFAULT now64(3) CODEC(Delta, ZSTD(1)),",
        '    version UInt64 CODEC(Delta, ZSTD(1))',
      ]
    : [
        '    user_id UInt64,',
        `${predictions},`,
        '    offer String,',
        '    model_version String,',
        '    kafka_partition UInt32,',
        '    kafka_offset UInt64,',
        "    event_time DateTime('UTC'),",
        "    processed_at DateTime('UTC') DEFAULT now(),",
        '    version UInt64',
      ];
  return ['(', ...lines, ')'].join('\n');
}

function tableSettings(options: SchemaOptions, current: boolean): string[] {
  if (!current) return ['ORDER BY user_id'];
  return [
    // A redelivered event has the same event_time, so it lands in the partition of its first
    // copy and ReplacingMergeTree collapses it there.
    'PARTITION BY toYYYYMM(event_time)',
    'ORDER BY user_id',
    // processed_at, not event_time: an event without a usable Kafka timestamp counts as the
    // epoch and would expire the moment it is stored.
    ...(options.ttlDays > 0
      ? [`TTL toDateTime(processed_at) + INTERVAL ${options.ttlDays} DAY`]
      : []),
  ];
}

/** The DDL statements, in order; each is safe to run again. Throws when the server cannot do what is asked. */
export function schemaStatements(options: SchemaOptions): string[] {
  const { database, table, cluster, ttlDays, version } = options;
  const current = hasCurrentSchema(version);
  if (ttlDays > 0 && !current) {
    throw new OfferError(
      'CONFIG_INVALID',
      `CLICKHOUSE_TTL_DAYS=${ttlDays} needs ClickHouse ${CURRENT_SCHEMA_SINCE.major}.${CURRENT_SCHEMA_SINCE.minor} or later, but the server runs ${version.text}: set CLICKHOUSE_TTL_DAYS=0 (no TTL) or upgrade the server`,
      { retriable: false },
    );
  }
  const statements: string[] = [];
  const onCluster = cluster === '' ? '' : ` ON CLUSTER '${cluster}'`;
  if (database !== 'default' || cluster !== '') {
    statements.push(`CREATE DATABASE IF NOT EXISTS ${database}${onCluster}`);
  }
  if (cluster === '') {
    statements.push(
      [
        `CREATE TABLE IF NOT EXISTS ${database}.${table}`,
        columns(current),
        'ENGINE = ReplacingMergeTree(version)',
        ...tableSettings(options, current),
      ].join('\n'),
    );
    return statements;
  }
  const local = localTableName(table);
  statements.push(
    [
      `CREATE TABLE IF NOT EXISTS ${database}.${local}${onCluster}`,
      columns(current),
      `ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/${database}/${local}', '{replica}', version)`,
      ...tableSettings(options, current),
    ].join('\n'),
    [
      `CREATE TABLE IF NOT EXISTS ${database}.${table}${onCluster}`,
      `AS ${database}.${local}`,
      // All events of a user on one shard: FINAL on the shards collapses them.
      `ENGINE = Distributed('${cluster}', ${database}, ${local}, cityHash64(user_id))`,
    ].join('\n'),
  );
  return statements;
}

export async function serverVersion(client: ClickHouseClient): Promise<ServerVersion> {
  const result = await client.query({
    query: 'SELECT version() AS version',
    format: 'JSONEachRow',
  });
  const [row] = await result.json<{ version: string }>();
  return parseServerVersion(row?.version ?? '');
}

export interface MigrateOptions {
  readonly database: string;
  readonly table: string;
  readonly cluster: string;
  readonly ttlDays: number;
}

/**
 * Creates the database (unless it is `default` on one server) and the table(s) for the
 * server's version; safe to run repeatedly. Returns the server's version.
 */
export async function migrate(
  client: ClickHouseClient,
  options: MigrateOptions,
): Promise<ServerVersion> {
  const version = await serverVersion(client);
  for (const query of schemaStatements({ ...options, version })) {
    await client.command({ query });
  }
  return version;
}
