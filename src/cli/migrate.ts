import type { ClickHouseConnectionConfig } from '../config/config.js';
import { errorMessage, OfferError } from '../errors.js';
import { SERVICE_VERSION } from '../service/version.js';
import {
  migrate,
  SchemaRefusedError,
  SCHEMA_VERSION,
  type MigrationResult,
} from '../sinks/clickhouse-migration.js';
import { whereSeen } from '../sinks/clickhouse-plan.js';
import { clickhouseErrorCode, createClickHouseClient } from '../sinks/clickhouse-client.js';

/** The report of a run (or a dry run), one fact a line, as the hook Job's log shows it. */
export function migrationReport(
  result: MigrationResult,
  config: Pick<ClickHouseConnectionConfig, 'database' | 'table' | 'cluster'>,
  dryRun: boolean,
): string[] {
  const { plan, servers, previous } = result;
  const where =
    config.cluster === ''
      ? `${config.database}.${config.table} on one server`
      : `${config.database}.${config.table} (Distributed) over ${config.database}.${result.schema.tables[0]?.name ?? ''} on cluster ${config.cluster}, ${servers} servers`;
  const lines = [
    `ClickHouse ${result.server.text}: ${where}; schema version ${SCHEMA_VERSION}, recorded: ${
      previous === undefined
        ? 'none'
        : `${previous.version} at ${previous.appliedAt} UTC by ${previous.serviceVersion}`
    }`,
  ];
  for (const note of plan.notes) lines.push(`note: ${note.what}${whereSeen(note, servers)}`);
  if (plan.changes.length === 0) {
    lines.push(`the schema matches the settings: nothing to change`);
  } else {
    lines.push(dryRun ? 'would apply:' : 'changes:');
    for (const change of plan.changes) {
      // A concurrent run may have made a change this one planned.
      const done =
        dryRun || result.applied.includes(change.statement) ? '' : ' (made by another run)';
      lines.push(`  - ${change.what}${whereSeen(change, servers)}${done}`);
      lines.push(`    ${change.statement.split('\n').join('\n    ')}`);
    }
  }
  if (dryRun) lines.push('dry run: nothing was changed');
  else if (result.recorded)
    lines.push(`recorded schema version ${SCHEMA_VERSION} and its settings`);
  return lines;
}

/**
 * Exit code of a run that could not reach or ask ClickHouse (sysexits' EX_TEMPFAIL): a retry
 * may succeed. The chart's hook Job retries only this one; a refusal (1) fails it at once.
 */
export const EXIT_TRY_AGAIN = 75;

/**
 * `migrate [--dry-run]`: 0 when the schema is (or would be) as asked, 1 when refused,
 * EXIT_TRY_AGAIN when ClickHouse could not be asked. With MODEL_SHADOW_PATH set, the shadow
 * table (`<table>_shadow`, the same schema) is migrated after the offers table, and recorded
 * under its own name.
 */
export async function migrateCommand(
  config: ClickHouseConnectionConfig,
  options: { readonly dryRun: boolean },
): Promise<number> {
  const client = createClickHouseClient(config);
  const tables = config.shadowTable === '' ? [config.table] : [config.table, config.shadowTable];
  try {
    for (const table of tables) {
      const target = { ...config, table };
      const result = await migrate(client, target, {
        dryRun: options.dryRun,
        serviceVersion: SERVICE_VERSION,
      });
      console.log(migrationReport(result, target, options.dryRun).join('\n'));
    }
    return 0;
  } catch (error) {
    if (error instanceof SchemaRefusedError) {
      console.error(error.message);
      return 1;
    }
    // A server that answered no (rights, credentials, a bad setting) says the same next time.
    const retriable =
      error instanceof OfferError ? error.retriable : clickhouseErrorCode(error) === undefined;
    if (!retriable) throw error;
    console.error(
      `ClickHouse migration could not run (a retry may succeed): ${errorMessage(error)}`,
    );
    return EXIT_TRY_AGAIN;
  } finally {
    await client.close();
  }
}
