import type { DesiredSchema, TableSpec } from './clickhouse-schema.js';
import {
  engineClauses,
  type Change,
  type Difference,
  type ExistingTable,
  type MigrationPlan,
  type Refusal,
  type SchemaState,
} from './clickhouse-plan.js';

/**
 * The pure half of `migrate`: what exists (per server) against what the settings ask for,
 * turned into the statements that close the gap safely and the differences it refuses to
 * touch. No I/O here, so every rule is unit-tested (test/unit/clickhouse-plan.test.ts).
 */

/** Servers differ in quoting and spacing (`'default'` or `default`, `+` with or without spaces). */
function same(a: string, b: string): boolean {
  const normal = (text: string) => text.replace(/[\s'"`]/g, '');
  return normal(a) === normal(b);
}

/** A Distributed table stores nothing: its columns take no codec. */
function distributedDefinition(definition: string): string {
  return definition.replace(/ CODEC\(.*\)$/, '');
}

function describeEngine(table: ExistingTable): string {
  return engineClauses(table.engineFull).call || table.engine;
}

function engineWayForward(spec: TableSpec, existing: ExistingTable, schema: DesiredSchema): string {
  const qualified = `${schema.database}.${spec.name}`;
  const copy = `rename the old table (RENAME TABLE ${qualified} TO ${qualified}_old), run migrate, then copy the rows (INSERT INTO ${qualified} SELECT * FROM ${qualified}_old)`;
  if (spec.engine === 'Distributed') {
    return `ClickHouse cannot turn a table into another kind. Either keep CLICKHOUSE_CLUSTER empty (clickhouse.cluster: "") for this table, or move the data: ${copy}; on a cluster, the rows then reach their shards through the Distributed table`;
  }
  if (existing.engine === 'Distributed') {
    return `ClickHouse cannot turn a table into another kind. Either set CLICKHOUSE_CLUSTER (clickhouse.cluster) back to the cluster this table spans, or move the data: ${copy}`;
  }
  return `ClickHouse cannot change a table's engine in place: ${copy}, or set CLICKHOUSE_TABLE to a new table`;
}

const REBUILD = (qualified: string): string =>
  `ClickHouse cannot change this in place: create the table under a new name (CLICKHOUSE_TABLE), copy the rows (INSERT INTO <new> SELECT * FROM ${qualified}), then point the service at it`;

/** The plan as it is found, server by server: one entry per difference, with every host. */
class PlanBuilder {
  readonly #changes = new Map<string, Change & { rank: number }>();
  readonly #refusals = new Map<string, Refusal>();
  readonly #notes = new Map<string, Difference>();

  /** A change; `rank` orders the statements (database, then each table's). */
  change(
    rank: number,
    found: { object: string; what: string; statement: string; host: string },
    fallback?: readonly string[],
  ): void {
    const { host, ...change } = found;
    PlanBuilder.#add(this.#changes, found.statement, {
      ...change,
      hosts: [host],
      rank,
      ...(fallback === undefined ? {} : { fallback }),
    });
  }

  refuse(key: string, refusal: Refusal): void {
    PlanBuilder.#add(this.#refusals, key, refusal);
  }

  note(key: string, note: Difference): void {
    PlanBuilder.#add(this.#notes, key, note);
  }

  build(): MigrationPlan {
    return {
      changes: [...this.#changes.values()]
        .sort((a, b) => a.rank - b.rank)
        .map(({ rank: _rank, ...rest }) => rest),
      refusals: [...this.#refusals.values()],
      notes: [...this.#notes.values()],
    };
  }

  static #add<T extends Difference>(into: Map<string, T>, key: string, item: T): void {
    const seen = into.get(key);
    if (seen === undefined) into.set(key, item);
    else into.set(key, { ...seen, hosts: [...seen.hosts, ...item.hosts] });
  }
}

/** One table on one server, against its spec. */
interface TableOnServer {
  readonly schema: DesiredSchema;
  readonly spec: TableSpec;
  readonly existing: ExistingTable;
  readonly qualified: string;
  readonly host: string;
  /** Where its statements stand in the plan's order. */
  readonly rank: number;
}

/**
 * Compares each server's tables with the schema the settings ask for. Safe changes (a
 * missing database or table, a missing column, a different TTL) become statements; a
 * different engine, engine parameters, ORDER BY, partitioning or column type becomes a
 * refusal with the way forward.
 */
export function planMigration(schema: DesiredSchema, state: SchemaState): MigrationPlan {
  const plan = new PlanBuilder();
  if (schema.cluster !== '' && state.servers.length === 0) {
    plan.refuse('cluster', {
      object: `cluster ${schema.cluster}`,
      what: `cluster ${schema.cluster} is not in the server's system.clusters (remote_servers)`,
      hosts: ['the server'],
      wayForward:
        "set CLICKHOUSE_CLUSTER (clickhouse.cluster) to a cluster of the servers' remote_servers, or leave it empty for one server",
    });
  }
  for (const server of state.servers) {
    const { host } = server;
    if (schema.createDatabase !== undefined && !server.databaseExists) {
      const what = `database ${schema.database} is missing`;
      plan.change(-1, { object: schema.database, what, statement: schema.createDatabase, host });
    }
    schema.tables.forEach((spec, index) => {
      const qualified = `${schema.database}.${spec.name}`;
      const rank = index * 1000;
      const existing = server.tables.get(spec.name);
      if (existing === undefined) {
        const what = `table ${qualified} is missing`;
        plan.change(rank, { object: qualified, what, statement: spec.create, host });
        return;
      }
      const table = { schema, spec, existing, qualified, host, rank };
      if (!planEngine(plan, table)) return;
      planTtl(plan, table);
      planColumns(plan, table);
    });
  }
  return plan.build();
}

/**
 * The engine, its parameters, ORDER BY and partitioning: refusals (or a note for an older
 * partitioning that still works). False when the engine itself differs: nothing else of
 * the table is compared then.
 */
function planEngine(plan: PlanBuilder, table: TableOnServer): boolean {
  const { schema, spec, existing, qualified, host } = table;
  if (existing.engine !== spec.engine) {
    plan.refuse(`${qualified} engine`, {
      object: qualified,
      what: `${qualified} is a ${describeEngine(existing)}, but the settings ask for a ${spec.engineCall}`,
      hosts: [host],
      wayForward: engineWayForward(spec, existing, schema),
    });
    return false;
  }
  const clauses = engineClauses(existing.engineFull);
  if (!same(clauses.call, spec.engineCall)) {
    plan.refuse(`${qualified} engine parameters`, {
      object: qualified,
      what: `${qualified} is ${clauses.call}, but the settings ask for ${spec.engineCall}`,
      hosts: [host],
      wayForward:
        spec.engine === 'Distributed'
          ? `a Distributed table holds no rows: drop it (DROP TABLE ${qualified}${schema.onCluster}) and run migrate again to create it as asked`
          : REBUILD(qualified),
    });
  }
  if (spec.orderBy !== '' && !same(clauses.orderBy, spec.orderBy)) {
    plan.refuse(`${qualified} order`, {
      object: qualified,
      what: `${qualified} is ordered by ${clauses.orderBy || '(nothing)'}, but ReplacingMergeTree must be ordered by ${spec.orderBy} to collapse a user's redelivered rows`,
      hosts: [host],
      wayForward: REBUILD(qualified),
    });
  }
  const [wantedPartition = ''] = spec.partitionBy;
  if (!spec.partitionBy.some((partition) => same(partition, clauses.partitionBy))) {
    plan.refuse(`${qualified} partition`, {
      object: qualified,
      what: `${qualified} is partitioned by ${clauses.partitionBy || '(nothing)'}, but the schema partitions by ${wantedPartition || '(nothing)'}`,
      hosts: [host],
      wayForward: REBUILD(qualified),
    });
  } else if (!same(wantedPartition, clauses.partitionBy)) {
    plan.note(`${qualified} partition`, {
      object: qualified,
      what: `${qualified} is partitioned by ${clauses.partitionBy || '(nothing)'} (a new table would be by ${wantedPartition || '(nothing)'}): kept, it works as it is`,
      hosts: [host],
    });
  }
  return true;
}

/** A TTL other than CLICKHOUSE_TTL_DAYS asks for: MODIFY TTL, or REMOVE TTL for none. */
function planTtl(
  plan: PlanBuilder,
  { schema, spec, existing, qualified, host, rank }: TableOnServer,
): void {
  const { ttl } = engineClauses(existing.engineFull);
  if (spec.ttl === undefined || same(ttl, spec.ttl)) return;
  const onTable = `ALTER TABLE ${qualified}${schema.onCluster}`;
  plan.change(rank + 100, {
    object: qualified,
    what:
      spec.ttl === ''
        ? `${qualified} has TTL ${ttl}, but CLICKHOUSE_TTL_DAYS=0 asks for none`
        : `${qualified} has ${ttl === '' ? 'no TTL' : `TTL ${ttl}`}, but CLICKHOUSE_TTL_DAYS=${schema.ttlDays} asks for ${spec.ttl}`,
    statement: spec.ttl === '' ? `${onTable} REMOVE TTL` : `${onTable} MODIFY TTL ${schema.ttlDdl}`,
    host,
  });
}

/** Missing columns are added; other types refused, or noted when the service writes both. */
function planColumns(plan: PlanBuilder, table: TableOnServer): void {
  const { schema, spec, existing, qualified, host, rank } = table;
  const byName = new Map(existing.columns.map((column) => [column.name, column]));
  spec.columns.forEach((column, position) => {
    const found = byName.get(column.name);
    if (found === undefined) {
      const previous = spec.columns[position - 1];
      const definition =
        spec.engine === 'Distributed'
          ? distributedDefinition(column.definition)
          : column.definition;
      plan.change(
        rank + 200 + position,
        {
          object: qualified,
          what: `${qualified} has no column ${column.name}`,
          statement: `ALTER TABLE ${qualified}${schema.onCluster} ADD COLUMN ${definition}${previous === undefined ? '' : ` AFTER ${previous.name}`}`,
          host,
        },
        // A Distributed table holds no rows (inserts are synchronous): made again from the
        // local table, it has every column.
        spec.engine === 'Distributed' && schema.cluster !== ''
          ? [`DROP TABLE IF EXISTS ${qualified}${schema.onCluster}`, spec.create]
          : undefined,
      );
    } else if (!column.accepted.includes(found.type)) {
      plan.refuse(`${qualified} column ${column.name}`, {
        object: qualified,
        what: `column ${column.name} of ${qualified} is ${found.type}, but the service writes ${column.accepted.join(' or ')}`,
        hosts: [host],
        wayForward: `migrate does not change a column's type (that rewrites every part and can fail on stored values): change it yourself (ALTER TABLE ${qualified}${schema.onCluster} MODIFY COLUMN ${column.name} ${column.type}), then run migrate again`,
      });
    } else if (found.type !== column.type) {
      plan.note(`${qualified} column ${column.name}`, {
        object: qualified,
        what: `column ${column.name} of ${qualified} is ${found.type} (a new table would have ${column.type}): kept, the service writes both`,
        hosts: [host],
      });
    }
  });
  for (const column of existing.columns) {
    if (!spec.columns.some((wanted) => wanted.name === column.name)) {
      plan.note(`${qualified} extra ${column.name}`, {
        object: qualified,
        what: `${qualified} has a column the service does not write, ${column.name} ${column.type}: kept (migrate never drops a column)`,
        hosts: [host],
      });
    }
  }
}
