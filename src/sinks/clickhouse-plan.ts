/**
 * What `migrate` plans with: what exists on each server, the differences it finds against
 * what the settings ask for (closed by a statement, refused, or noted), and how a table's
 * engine_full reads. The planning itself is clickhouse-planner.ts.
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

/** Where a difference was seen, for messages: every server, or which ones. */
export function whereSeen(difference: Difference, servers: number): string {
  if (servers <= 1) return '';
  if (difference.hosts.length === servers) return ' (on every server)';
  return ` (on ${difference.hosts.join(', ')})`;
}
