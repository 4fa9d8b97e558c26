/**
 * Every failure the service handles on purpose is an `OfferError` with a stable `code`.
 * Whether a failure is retried, dead-lettered or fatal is decided from `code` and
 * `retriable` in `src/pipeline/failure-policy.ts`, never from message text.
 */
export const ERROR_CODES = [
  /** An environment variable is missing or has a value outside what is allowed. */
  'CONFIG_INVALID',
  /** The Kafka brokers refused this client at start (SASL, TLS trust, authorization). */
  'KAFKA_REFUSED',
  /** A store was not ready within the start-up window (STARTUP_TIMEOUT_MS). */
  'STARTUP_TIMEOUT',
  /** The model file is missing, unreadable or lacks the expected inputs/outputs. */
  'MODEL_INVALID',
  /** A ClickHouse request failed. */
  'CLICKHOUSE_FAILED',
  /**
   * `migrate` found a difference between the ClickHouse schema and the settings that it cannot
   * close safely (another engine, partitioning or column type); it names each and the way forward.
   */
  'SCHEMA_REFUSED',
  /** At start, the ClickHouse table is missing, lacks a column the service writes, or may not be inserted into. */
  'TABLE_NOT_WRITABLE',
  /** A Redis command failed. */
  'REDIS_FAILED',
  /** Writing a rejected message to the dead-letter topic failed. */
  'DLQ_FAILED',
  /** The broker refused an offset commit for good (e.g. no Read ACL on the group). */
  'KAFKA_COMMIT_FAILED',
  /** The Kafka consumer stopped and will not restart by itself. */
  'KAFKA_CONSUMER_CRASHED',
  /** Work was abandoned because its partition was revoked or the service is stopping. */
  'ABORTED',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class OfferError extends Error {
  override readonly name = 'OfferError';
  readonly code: ErrorCode;
  /** True when repeating the same operation later can succeed (network, outage, timeout). */
  readonly retriable: boolean;

  constructor(code: ErrorCode, message: string, options: { retriable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retriable = options.retriable;
  }
}

export function isOfferError(error: unknown, code?: ErrorCode): error is OfferError {
  return error instanceof OfferError && (code === undefined || error.code === code);
}

/** An error's message without the line break that OpenSSL's and old ClickHouse's end with. */
export function errorMessage(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).trim();
}

/** Which side of a TLS handshake said no, decided from Node's error code. */
export type TlsRefusalSide = 'server-certificate' | 'client-certificate' | 'protocol';

export interface TlsRefusal {
  readonly code: string;
  readonly side: TlsRefusalSide;
}

// This client does not trust the server's certificate as configured (the CA setting).
const SERVER_CERTIFICATE_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
// Node names an OpenSSL error after its reason text: OpenSSL 3 says "ssl/tls alert ..." where
// OpenSSL 1.1 said "sslv3 alert ...", so the alerts of both spellings are listed.
const alertCodes = (...alerts: string[]): string[] =>
  alerts.flatMap((alert) => [`ERR_SSL_SSLV3_ALERT_${alert}`, `ERR_SSL_SSL/TLS_ALERT_${alert}`]);
// The server's alerts when it refuses this client's certificate, or that it sent none.
const CLIENT_CERTIFICATE_CODES: ReadonlySet<string> = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  ...alertCodes(
    'BAD_CERTIFICATE',
    'CERTIFICATE_UNKNOWN',
    'CERTIFICATE_EXPIRED',
    'CERTIFICATE_REVOKED',
    'UNSUPPORTED_CERTIFICATE',
  ),
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
  'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR',
]);
// TLS spoken to a port that does not answer in TLS, or no protocol in common.
const PROTOCOL_CODES: ReadonlySet<string> = new Set([
  'ERR_SSL_WRONG_VERSION_NUMBER',
  'ERR_SSL_PACKET_LENGTH_TOO_LONG',
  ...alertCodes('HANDSHAKE_FAILURE'),
  'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION',
  'ERR_SSL_UNSUPPORTED_PROTOCOL',
]);

/**
 * The TLS refusal in an error's chain (`cause`, kafkajs's `originalError`, an
 * AggregateError's `errors`), if there is one: a handshake no retry changes while the
 * certificates and settings stay as they are.
 */
export function tlsRefusalOf(error: unknown, depth = 0): TlsRefusal | undefined {
  if (depth > 10 || typeof error !== 'object' || error === null) return undefined;
  const { code, cause, originalError, errors } = error as {
    code?: unknown;
    cause?: unknown;
    originalError?: unknown;
    errors?: unknown;
  };
  if (typeof code === 'string') {
    if (SERVER_CERTIFICATE_CODES.has(code)) return { code, side: 'server-certificate' };
    if (CLIENT_CERTIFICATE_CODES.has(code)) return { code, side: 'client-certificate' };
    if (PROTOCOL_CODES.has(code)) return { code, side: 'protocol' };
  }
  const nested: readonly unknown[] = Array.isArray(errors) ? errors : [];
  for (const next of [cause, originalError, ...nested]) {
    const found = tlsRefusalOf(next, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** The settings of one store that a TLS refusal points at. */
export interface TlsSettings {
  /** The setting that turns TLS on (e.g. `KAFKA_TLS`, `the https:// of CLICKHOUSE_URL`). */
  readonly tls: string;
  /** `<STORE>_TLS` prefix of the CA, certificate and key files. */
  readonly prefix: 'KAFKA' | 'CLICKHOUSE' | 'REDIS';
}

/** What a TLS refusal means and which setting to look at, for a start-up error. */
export function describeTlsRefusal(refusal: TlsRefusal, settings: TlsSettings): string {
  const { prefix } = settings;
  switch (refusal.side) {
    case 'server-certificate':
      return refusal.code === 'ERR_TLS_CERT_ALTNAME_INVALID'
        ? `the server's certificate does not name the host connected to (${refusal.code}): connect by a name the certificate lists`
        : `the server's certificate is not trusted (${refusal.code}): ${prefix}_TLS_CA_FILE must hold the CA that signed it (unset: the system's CAs)`;
    case 'client-certificate':
      return `the server refused this client's certificate, or its absence (${refusal.code}): ${prefix}_TLS_CERT_FILE and ${prefix}_TLS_KEY_FILE must be a certificate signed by a CA the server trusts`;
    case 'protocol':
      return `no TLS session with the server (${refusal.code}): the port may not serve TLS (${settings.tls}), or the two sides share no TLS version`;
  }
}
