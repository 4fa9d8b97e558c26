import type { ClickHouseClient } from '@clickhouse/client';

import { errorMessage, OfferError } from '../errors.js';
import { clickhouseErrorCode, toClickHouseFailure } from './clickhouse-client.js';
import { columnSpecs } from './clickhouse-schema.js';

const PERMISSION_ERROR_CODES = new Set([
  164, // READONLY: a users.xml profile with readonly (servers without SQL access control)
  291, // DATABASE_ACCESS_DENIED: allow_databases
  497, // ACCESS_DENIED: no INSERT grant
]);

/** Start-up's check that the service can write its rows; throws TABLE_NOT_WRITABLE naming the fix. */
export async function checkWritable(
  client: ClickHouseClient,
  options: { readonly database: string; readonly table: string; readonly user?: string },
): Promise<void> {
  const { database, table } = options;
  const qualified = `${database}.${table}`;
  const user = options.user ?? "the service's user";
  const query = async <T>(sql: string): Promise<T[]> => {
    try {
      return await (await client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
    } catch (error) {
      throw toClickHouseFailure(error, 'start-up check');
    }
  };
  const columns = await query<{ name: string; type: string }>(
    `SELECT name, type FROM system.columns WHERE database = '${database}' AND table = '${table}'`,
  );
  if (columns.length === 0) {
    throw new OfferError(
      'TABLE_NOT_WRITABLE',
      `ClickHouse table ${qualified} does not exist (or ${user} may not see it): create it with \`realtime-offers migrate\` (the chart's migration Job runs it before every install and upgrade) or CLICKHOUSE_CREATE_TABLE=true, and check CLICKHOUSE_DATABASE and CLICKHOUSE_TABLE`,
      { retriable: true },
    );
  }
  const found = new Map(columns.map((column) => [column.name, column.type]));
  const problems = columnSpecs(true).flatMap((column) => {
    const type = found.get(column.name);
    if (type === undefined) return [`no column ${column.name}`];
    if (!column.accepted.includes(type)) {
      return [`column ${column.name} is ${type}, not ${column.accepted.join(' or ')}`];
    }
    return [];
  });
  if (problems.length > 0) {
    throw new OfferError(
      'TABLE_NOT_WRITABLE',
      `ClickHouse table ${qualified} does not fit the rows the service writes: ${problems.join('; ')}. Run \`realtime-offers migrate\` (it adds missing columns; \`migrate --dry-run\` shows what it would do and what it refuses)`,
      { retriable: false },
    );
  }
  try {
    // No rows: nothing is stored, but the server checks the user's right to insert.
    await client.command({ query: `INSERT INTO ${qualified} FORMAT JSONEachRow` });
  } catch (error) {
    const code = clickhouseErrorCode(error);
    if (code !== undefined && PERMISSION_ERROR_CODES.has(code)) {
      throw new OfferError(
        'TABLE_NOT_WRITABLE',
        `ClickHouse user ${user} may not insert into ${qualified} (${errorMessage(error).split('\n')[0] ?? ''}): GRANT INSERT ON ${qualified} TO ${user} (servers with SQL access control), or give the user a profile without readonly and ${database} in its allow_databases (users.xml)`,
        { retriable: false, cause: error },
      );
    }
    throw toClickHouseFailure(error, `start-up check (an empty INSERT into ${qualified})`);
  }
}
