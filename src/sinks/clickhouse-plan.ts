import type { DesiredSchema, TableSpec } from './clickhouse-schema.js';

/**
 * The pure half of `migrate`: what exists (per server) against what the settings ask for,
 * turned into the statements that close the gap safely and the differences it refuses to
 * touch. No I/O here, so every rule is unit-tested (test/unit/clickhouse-plan.test.ts).
 */

export interface ExistingColumn {
  readonly name: string;
  readonly type: string;
}

export interface ExistingTable {
  readonly name: string;
  /** system.tables.engine */
  readonly engine: string;
  /** system.tables.engine_full: the engine with its parameters, PARTITION BY, ORDER BY, TTL, SETTINGS. */
  readonly engineFull: string;
  readonly columns: readonly ExistingColumn[];
}

/** One server's view: the database and the tables of the schema that exist there. */
export interface ServerState {
  /** How messages name it: `the server`, or `shard 1 replica 2 (host:port)`. */
  readonly host: string;
  readonly databaseExists: boolean;
  readonly tables: ReadonlyMap<string, ExistingTable>;
}

export interface SchemaState {
  /** Every server of the cluster (one on a single server); empty when the cluster is unknown. */
  readonly servers: readonly ServerState[];
}

export interface Difference {
  /** The qualified table (or database) it concerns. */
  readonly object: string;
  readonly what: string;
  /** The servers where it was seen. */
  readonly hosts: readonly string[];
}

/** A difference `migrate` closes with one statement (run once, ON CLUSTER in cluster mode). */
export interface Change extends Difference {
  readonly statement: string;
  /**
   * What to run instead when the server refuses the statement as an ON CLUSTER ALTER of a
   * table that is not replicated (code 371, ClickHouse before 20.x on a Distributed table).
   */
  readonly fallback?: readonly string[];
}

/** A difference `migrate` will not close: it exits 1 naming it and the way forward. */
export interface Refusal extends Difference {
  readonly wayForward: string;
}

export interface MigrationPlan {
  /** In the order they must run. */
  readonly changes: readonly Change[];
  readonly refusals: readonly Refusal[];
  /** Differences that are accepted as they are (older column types, columns of your own). */
  readonly notes: readonly Difference[];
}

const CLAUSES = [
  ' PARTITION BY ',
  ' PRIMARY KEY ',
  ' ORDER BY ',
  ' SAMPLE BY ',
  ' TTL ',
  ' SETTINGS ',
];

export interface EngineClauses {
  /** The engine and its parameters, e.g. `ReplacingMergeTree(version)`. */
  readonly call: string;
  readonly partitionBy: string;
  readonly orderBy: string;
  readonly ttl: string;
}

/**
 * Splits system.tables.engine_full at its top-level clauses (outside parentheses and
 * quotes, so that a TTL or a sharding key with spaces stays whole).
 */
export function engineClauses(engineFull: string): EngineClauses {
  const cuts: { at: number; clause: string }[] = [];
  let depth = 0;
  let quote: string | undefined;
  for (let i = 0; i < engineFull.length; i += 1) {
    const char = engineFull[i];
    if (quote !== undefined) {
      if (char === '\\') i += 1;
      else if (char === quote) quote = undefined;
      continue;
    }
    if (char === "'" || char === '`' || char === '"') quote = char;
    else if (char === '(') depth += 1;
    else if (char === ')') depth -= 1;
    else if (depth === 0 && char === ' ') {
      const clause = CLAUSES.find((c) => engineFull.startsWith(c, i));
      if (clause !== undefined) cuts.push({ at: i, clause: clause.trim() });
    }
  }
  const part = (clause: string): string => {
    const index = cuts.findIndex((cut) => cut.clause === clause);
    const cut = cuts[index];
    if (cut === undefined) return '';
    const end = cuts[index + 1]?.at ?? engineFull.length;
    return engineFull.slice(cut.at + clause.length + 2, end).trim();
  };
  return {
    call: engineFull.slice(0, cuts[0]?.at ?? engineFull.length).trim(),
    partitionBy: part('PARTITION BY'),
    orderBy: part('ORDER BY'),
    ttl: part('TTL'),
  };
}

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

/**
 * Compares each server's tables with the schema the settings ask for. Safe changes (a
 * missing database or table, a missing column, a different TTL) become statements; a
 * different engine, engine parameters, ORDER BY, partitioning or column type becomes a
 * refusal with the way forward.
 */
export function planMigration(schema: DesiredSchema, state: SchemaState): MigrationPlan {
  const changes = new Map<string, Change & { rank: number }>();
  const refusals = new Map<string, Refusal>();
  const notes = new Map<string, Difference>();
  const add = <T extends Difference>(into: Map<string, T>, key: string, item: T): void => {
    const seen = into.get(key);
    if (seen === undefined) into.set(key, item);
    else into.set(key, { ...seen, hosts: [...seen.hosts, ...item.hosts] });
  };
  const change = (
    rank: number,
    object: string,
    what: string,
    statement: string,
    host: string,
    fallback?: readonly string[],
  ) => {
    add(changes, statement, {
      object,
      what,
      statement,
      hosts: [host],
      rank,
      ...(fallback === undefined ? {} : { fallback }),
    });
  };

  if (schema.cluster !== '' && state.servers.length === 0) {
    add(refusals, 'cluster', {
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
      change(
        -1,
        schema.database,
        `database ${schema.database} is missing`,
        schema.createDatabase,
        host,
      );
    }
    schema.tables.forEach((spec, index) => {
      const qualified = `${schema.database}.${spec.name}`;
      const rank = index * 1000;
      const existing = server.tables.get(spec.name);
      if (existing === undefined) {
        change(rank, qualified, `table ${qualified} is missing`, spec.create, host);
        return;
      }
      if (existing.engine !== spec.engine) {
        add(refusals, `${qualified} engine`, {
          object: qualified,
          what: `${qualified} is a ${describeEngine(existing)}, but the settings ask for a ${spec.engineCall}`,
          hosts: [host],
          wayForward: engineWayForward(spec, existing, schema),
        });
        return;
      }
      const clauses = engineClauses(existing.engineFull);
      if (!same(clauses.call, spec.engineCall)) {
        add(refusals, `${qualified} engine parameters`, {
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
        add(refusals, `${qualified} order`, {
          object: qualified,
          what: `${qualified} is ordered by ${clauses.orderBy || '(nothing)'}, but ReplacingMergeTree must be ordered by ${spec.orderBy} to collapse a user's redelivered rows`,
          hosts: [host],
          wayForward: REBUILD(qualified),
        });
      }
      const [wantedPartition = ''] = spec.partitionBy;
      if (!spec.partitionBy.some((partition) => same(partition, clauses.partitionBy))) {
        add(refusals, `${qualified} partition`, {
          object: qualified,
          what: `${qualified} is partitioned by ${clauses.partitionBy || '(nothing)'}, but the schema partitions by ${wantedPartition || '(nothing)'}`,
          hosts: [host],
          wayForward: REBUILD(qualified),
        });
      } else if (!same(wantedPartition, clauses.partitionBy)) {
        add(notes, `${qualified} partition`, {
          object: qualified,
          what: `${qualified} is partitioned by ${clauses.partitionBy || '(nothing)'} (a new table would be by ${wantedPartition || '(nothing)'}): kept, it works as it is`,
          hosts: [host],
        });
      }
      if (spec.ttl !== undefined && !same(clauses.ttl, spec.ttl)) {
        const onTable = `ALTER TABLE ${qualified}${schema.onCluster}`;
        change(
          rank + 100,
          qualified,
          spec.ttl === ''
            ? `${qualified} has TTL ${clauses.ttl}, but CLICKHOUSE_TTL_DAYS=0 asks for none`
            : `${qualified} has ${clauses.ttl === '' ? 'no TTL' : `TTL ${clauses.ttl}`}, but CLICKHOUSE_TTL_DAYS=${schema.ttlDays} asks for ${spec.ttl}`,
          spec.ttl === '' ? `${onTable} REMOVE TTL` : `${onTable} MODIFY TTL ${schema.ttlDdl}`,
          host,
        );
      }
      const byName = new Map(existing.columns.map((column) => [column.name, column]));
      spec.columns.forEach((column, position) => {
        const found = byName.get(column.name);
        if (found === undefined) {
          const previous = spec.columns[position - 1];
          const definition =
            spec.engine === 'Distributed'
              ? distributedDefinition(column.definition)
              : column.definition;
          change(
            rank + 200 + position,
            qualified,
            `${qualified} has no column ${column.name}`,
            `ALTER TABLE ${qualified}${schema.onCluster} ADD COLUMN ${definition}${previous === undefined ? '' : ` AFTER ${previous.name}`}`,
            host,
            // A Distributed table holds no rows (inserts are synchronous): made again from the
            // local table, it has every column.
            spec.engine === 'Distributed' && schema.cluster !== ''
              ? [`DROP TABLE IF EXISTS ${qualified}${schema.onCluster}`, spec.create]
              : undefined,
          );
        } else if (!column.accepted.includes(found.type)) {
          add(refusals, `${qualified} column ${column.name}`, {
            object: qualified,
            what: `column ${column.name} of ${qualified} is ${found.type}, but the service writes ${column.accepted.join(' or ')}`,
            hosts: [host],
            wayForward: `migrate does not change a column's type (that rewrites every part and can fail on stored values): change it yourself (ALTER TABLE ${qualified}${schema.onCluster} MODIFY COLUMN ${column.name} ${column.type}), then run migrate again`,
          });
        } else if (found.type !== column.type) {
          add(notes, `${qualified} column ${column.name}`, {
            object: qualified,
            what: `column ${column.name} of ${qualified} is ${found.type} (a new table would have ${column.type}): kept, the service writes both`,
            hosts: [host],
          });
        }
      });
      for (const column of existing.columns) {
        if (!spec.columns.some((wanted) => wanted.name === column.name)) {
          add(notes, `${qualified} extra ${column.name}`, {
            object: qualified,
            what: `${qualified} has a column the service does not write, ${column.name} ${column.type}: kept (migrate never drops a column)`,
            hosts: [host],
          });
        }
      }
    });
  }
  return {
    changes: [...changes.values()]
      .sort((a, b) => a.rank - b.rank)
      .map(({ rank: _rank, ...rest }) => rest),
    refusals: [...refusals.values()],
    notes: [...notes.values()],
  };
}

/** Where a difference was seen, for messages: every server, or which ones. */
export function whereSeen(difference: Difference, servers: number): string {
  if (servers <= 1) return '';
  if (difference.hosts.length === servers) return ' (on every server)';
  return ` (on ${difference.hosts.join(', ')})`;
}
