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

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
