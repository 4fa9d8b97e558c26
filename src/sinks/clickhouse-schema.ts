import type { ClickHouseClient } from '@clickhouse/client';

import { PREDICTION_NAMES } from '../scoring/predictions.js';

/**
 * The `personal_offer` table. The DDL sticks to what both ClickHouse 18.16 (Debian's
 * package) and current releases accept: DateTime('UTC') rather than DateTime64, no
 * LowCardinality, and the ORDER BY form of MergeTree settings.
 *
 * ReplacingMergeTree(version) collapses redelivered rows of one user to the newest event
 * at merge time; queries that must not see duplicates use FINAL.
 */
export function createTableStatement(database: string, table: string): string {
  const predictions = PREDICTION_NAMES.map((name) => `    ${name} Float32`).join(',\n');
  return [
    `CREATE TABLE IF NOT EXISTS ${database}.${table}`,
    '(',
    '    user_id UInt64,',
    `${predictions},`,
    '    offer String,',
    '    model_version String,',
    '    kafka_partition UInt32,',
    '    kafka_offset UInt64,',
    "    event_time DateTime('UTC'),",
    "    processed_at DateTime('UTC') DEFAULT now(),",
    '    version UInt64',
    ')',
    'ENGINE = ReplacingMergeTree(version)',
    'ORDER BY user_id',
  ].join('\n');
}

/** Creates the database (unless it is `default`) and the table; safe to run repeatedly. */
export async function migrate(
  client: ClickHouseClient,
  database: string,
  table: string,
): Promise<void> {
  if (database !== 'default') {
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
  }
  await client.command({ query: createTableStatement(database, table) });
}
