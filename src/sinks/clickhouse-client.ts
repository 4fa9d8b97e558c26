import { createPrivateKey } from 'node:crypto';
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

// The ClickHouse client of the service and of `migrate`, and what its failures mean.

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
