import { createHash, createPrivateKey } from 'node:crypto';
import { rootCertificates } from 'node:tls';

import {
  ClickHouseError,
  createClient,
  type ClickHouseClient,
  type Logger as ClickHouseLogger,
  type LogParams,
} from '@clickhouse/client';

import type { ClickHouseConnectionConfig, TlsFiles } from '../config/config.js';
import { describeTlsRefusal, errorMessage, OfferError, tlsRefusalOf } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import { columnSpecs } from './clickhouse-schema.js';
import type { StoredOffer } from './offer-record.js';
import type { RowOrigin, Sink } from './sink.js';

export type { RowOrigin } from './sink.js';

export interface ClickHouseSinkOptions {
  readonly database: string;
  readonly table: string;
  /** How long a write waits for others to share its INSERT. 0 still merges writes of one tick. */
  readonly windowMs: number;
  /** An INSERT is sent at once when this many rows are waiting. */
  readonly maxRows: number;
  /** Send `insert_deduplication_token` (current ClickHouse; effective on replicated tables). */
  readonly deduplicationToken: boolean;
  /**
   * Non-empty: `table` is a Distributed table over replicated ones. Each write is then its
   * own INSERT, synchronous to every shard, so that a retried write is the same insert block.
   */
  readonly cluster: string;
  /** The user the service connects as, named in start-up failures. */
  readonly user?: string;
}

interface PendingWrite {
  readonly records: readonly StoredOffer[];
  readonly origin: RowOrigin;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

// Server error codes that no retry can fix: the table or a column is missing, the
// credentials are wrong, or the rows do not fit the schema. Numeric codes, because they are
// stable across versions and old servers (18.16) send no error type name.
const PERMANENT_ERROR_CODES = new Map<number, string>([
  [16, 'NO_SUCH_COLUMN_IN_TABLE'],
  [27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED'],
  [47, 'UNKNOWN_IDENTIFIER'],
  [53, 'TYPE_MISMATCH'],
  [60, 'UNKNOWN_TABLE'],
  [81, 'UNKNOWN_DATABASE'],
  [115, 'UNKNOWN_SETTING'],
  [117, 'INCORRECT_DATA'],
  [164, 'READONLY'],
  [192, 'UNKNOWN_USER'],
  [193, 'WRONG_PASSWORD'],
  [194, 'REQUIRED_PASSWORD'],
  [291, 'DATABASE_ACCESS_DENIED'],
  [392, 'QUERY_IS_PROHIBITED'],
  [497, 'ACCESS_DENIED'],
  [516, 'AUTHENTICATION_FAILED'],
]);

// Codes a cluster gives while a part of it is away, named because they must stay retriable
// (consumption pauses and the write is retried, never dead-lettered or dropped): replicas
// without ZooKeeper turn read-only, a shard may be unreachable, merges may fall behind.
export const CLUSTER_OUTAGE_ERROR_CODES = new Map<number, string>([
  [159, 'TIMEOUT_EXCEEDED'],
  [209, 'SOCKET_TIMEOUT'],
  [210, 'NETWORK_ERROR'],
  [225, 'NO_ZOOKEEPER'],
  [242, 'TABLE_IS_READ_ONLY'],
  [252, 'TOO_MANY_PARTS'],
  [279, 'ALL_CONNECTION_TRIES_FAILED'],
  [286, 'UNFINISHED'],
  [319, 'UNKNOWN_STATUS_OF_INSERT'],
  [999, 'KEEPER_EXCEPTION'],
]);

/** The server's numeric error code, from a ClickHouseError or the `Code: N` text old servers send. */
export function clickhouseErrorCode(error: unknown): number | undefined {
  if (error instanceof ClickHouseError) {
    const code = Number(error.code);
    if (Number.isInteger(code)) return code;
  }
  const match = error instanceof Error ? /^Code: (\d+)/.exec(error.message) : null;
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

// What to change for the refusals that name a setting: the credentials, or the user's rights.
const CREDENTIAL_CODES: ReadonlySet<number> = new Set([192, 193, 194, 516]);
const RIGHTS_CODES: ReadonlySet<number> = new Set([164, 291, 392, 497]);

export function toClickHouseFailure(error: unknown, action: string): OfferError {
  if (error instanceof OfferError) return error;
  const detail = errorMessage(error);
  const tls = tlsRefusalOf(error);
  if (tls !== undefined) {
    const advice = describeTlsRefusal(tls, {
      prefix: 'CLICKHOUSE',
      tls: 'the https:// of CLICKHOUSE_URL',
    });
    return new OfferError(
      'CLICKHOUSE_FAILED',
      `ClickHouse ${action} failed: ${detail}; ${advice}`,
      { retriable: false, cause: error },
    );
  }
  const code = clickhouseErrorCode(error);
  const permanent = code !== undefined && PERMANENT_ERROR_CODES.has(code);
  const advice =
    code === undefined
      ? ''
      : CREDENTIAL_CODES.has(code)
        ? '; check CLICKHOUSE_USER and CLICKHOUSE_PASSWORD'
        : RIGHTS_CODES.has(code)
          ? `; CLICKHOUSE_USER lacks a right this needs (README, "Security": the rights per user)`
          : '';
  return new OfferError('CLICKHOUSE_FAILED', `ClickHouse ${action} failed: ${detail}${advice}`, {
    retriable: !permanent,
    cause: error,
  });
}

/** @clickhouse/client's `tls`: the CA (the system's when unset) and a client certificate. */
function clientTls(
  tls: TlsFiles | undefined,
): { ca_cert: Buffer } | { ca_cert: Buffer; cert: Buffer; key: Buffer } | undefined {
  if (tls === undefined) return undefined;
  const ca_cert = Buffer.from(tls.ca ?? rootCertificates.join('\n'));
  if (tls.cert === undefined || tls.key === undefined) return { ca_cert };
  // The client takes no key password: an encrypted key is handed over decrypted.
  const key =
    tls.passphrase === undefined
      ? Buffer.from(tls.key)
      : Buffer.from(
          createPrivateKey({ key: tls.key, passphrase: tls.passphrase }).export({
            type: 'pkcs8',
            format: 'pem',
          }),
        );
  return { ca_cert, cert: Buffer.from(tls.cert), key };
}

/**
 * The client's own log lines (it logs failed requests itself, as multi-line text on the
 * console by default) as JSON lines of the service's logger.
 */
function clientLoggerClass(logger: Logger): new () => ClickHouseLogger {
  const fields = (module: string, args?: Record<string, unknown>, err?: Error) => ({
    component: 'clickhouse-client',
    module,
    ...args,
    ...(err === undefined ? {} : { err: err.message }),
  });
  return class implements ClickHouseLogger {
    trace({ module, message, args }: LogParams): void {
      logger.trace(fields(module, args), message);
    }
    debug({ module, message, args }: LogParams): void {
      logger.debug(fields(module, args), message);
    }
    info({ module, message, args }: LogParams): void {
      logger.info(fields(module, args), message);
    }
    warn({ module, message, args, err }: LogParams & { err?: Error }): void {
      logger.warn(fields(module, args, err), message);
    }
    error({ module, message, args, err }: LogParams & { err: Error }): void {
      logger.error(fields(module, args, err), message);
    }
  };
}

/** JSONEachRow text of an insert value: pre-serialised rows pass through unchanged. */
export function rowText(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function createClickHouseClient(
  config: ClickHouseConnectionConfig,
  logger?: Logger,
): ClickHouseClient {
  const tls = clientTls(config.tls);
  return createClient({
    url: config.url,
    username: config.user,
    password: config.password,
    // No session database: every statement names its own, and a client bound to a database
    // fails every request until the migration has created it (UNKNOWN_DATABASE).
    request_timeout: config.requestTimeoutMs,
    ...(tls === undefined ? {} : { tls }),
    // Failed requests are retried by the pipeline, which also pauses consumption.
    keep_alive: { enabled: true },
    ...(logger === undefined ? {} : { log: { LoggerClass: clientLoggerClass(logger) } }),
    // Rows arrive serialised (StoredOffer.json, shared with Redis): a string is one row as is.
    json: { parse: JSON.parse, stringify: rowText },
  });
}

/**
 * Writes offers to ClickHouse in few, large INSERTs. Concurrent writes (one per partition
 * batch) that arrive within `windowMs` share one INSERT; each caller's promise settles
 * with that INSERT, so a caller commits its offsets only after its rows are stored.
 */
export class ClickHouseOfferSink implements Sink<StoredOffer> {
  readonly name = 'clickhouse';
  readonly #client: ClickHouseClient;
  readonly #options: ClickHouseSinkOptions;
  readonly #settings: Record<string, 0 | 1>;
  #pending: PendingWrite[] = [];
  #pendingRows = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(client: ClickHouseClient, options: ClickHouseSinkOptions) {
    this.#client = client;
    this.#options = options;
    // A Distributed insert returns once every shard stored its rows, so an acknowledged write
    // is in the replicated tables (not in a local queue that a crash of this node would lose).
    this.#settings = options.cluster === '' ? {} : { insert_distributed_sync: 1 };
  }

  write(records: readonly StoredOffer[], origin: RowOrigin): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    if (this.#options.cluster !== '') {
      // One chunk, one INSERT, rows in offset order: a retry (here or after a redelivery of the
      // same chunk) repeats the same block, which the replicated tables store once.
      return new Promise<void>((resolve, reject) => {
        void this.#insert([{ records, origin, resolve, reject }]);
      });
    }
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ records, origin, resolve, reject });
      this.#pendingRows += records.length;
      if (this.#pendingRows >= this.#options.maxRows) {
        this.#flush();
      } else {
        this.#timer ??= setTimeout(() => {
          this.#flush();
        }, this.#options.windowMs);
      }
    });
  }

  /** Sends what is waiting now, without waiting for the window to end. */
  flushNow(): void {
    this.#flush();
  }

  /**
   * What writing needs, checked before the service reports ready: the server answers (a
   * wrong user or password fails for good, an unreachable server for now: start-up retries it
   * within its window), the table exists (retried: a migration may be running), it has every
   * column the service writes with a type it can take, and this user may insert into it
   * (an INSERT of no rows, which ClickHouse checks like any other).
   */
  async healthcheck(): Promise<void> {
    try {
      const result = await this.#client.query({ query: 'SELECT 1', format: 'JSONEachRow' });
      await result.json();
    } catch (error) {
      throw toClickHouseFailure(error, 'start-up check');
    }
    await checkWritable(this.#client, this.#options);
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const writes = this.#pending;
    if (writes.length === 0) return;
    this.#pending = [];
    this.#pendingRows = 0;
    void this.#insert(writes);
  }

  #insertSettings(writes: readonly PendingWrite[]): {
    clickhouse_settings?: Record<string, string | number>;
  } {
    const settings: Record<string, string | number> = { ...this.#settings };
    if (this.#options.deduplicationToken) {
      settings.insert_deduplication_token = deduplicationToken(writes);
    }
    return Object.keys(settings).length === 0 ? {} : { clickhouse_settings: settings };
  }

  async #insert(writes: readonly PendingWrite[]): Promise<void> {
    const { database, table } = this.#options;
    try {
      await this.#client.insert({
        table: `${database}.${table}`,
        format: 'JSONEachRow',
        values: writes.flatMap((write) => write.records.map((record) => record.json)),
        ...this.#insertSettings(writes),
      });
    } catch (error) {
      const failure = toClickHouseFailure(error, `insert into ${database}.${table}`);
      for (const write of writes) write.reject(failure);
      return;
    }
    for (const write of writes) write.resolve();
  }
}

/**
 * The same offset ranges always give the same token, so a retried INSERT of exactly those
 * rows is dropped by servers that deduplicate. A redelivery that merges with other
 * partitions' rows gets another token; ReplacingMergeTree still collapses its rows.
 */
export function deduplicationToken(writes: readonly { origin: RowOrigin }[]): string {
  const ranges = writes
    .map(
      ({ origin }) =>
        `${origin.topic}/${origin.partition}/${origin.firstOffset}-${origin.lastOffset}`,
    )
    .sort();
  return createHash('sha256').update(ranges.join(',')).digest('hex');
}

const PERMISSION_ERROR_CODES = new Set([
  164, // READONLY: a users.xml profile with readonly (servers without SQL access control)
  291, // DATABASE_ACCESS_DENIED: allow_databases
  497, // ACCESS_DENIED: no INSERT grant
]);

/** Start-up's check that the service can write its rows; throws TABLE_NOT_WRITABLE naming the fix. */
export async function checkWritable(
  client: ClickHouseClient,
  options: Pick<ClickHouseSinkOptions, 'database' | 'table' | 'user'>,
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
