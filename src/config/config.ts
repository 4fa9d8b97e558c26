import { z } from 'zod';

import { OfferError } from '../errors.js';
import type { RedisMode, SaslMechanism } from './parsers.js';
import {
  migrateSchema,
  senderSchema,
  serviceSchema,
  smokeSchema,
  tracingSchema,
} from './variables.js';

import { tlsFiles, type TlsFiles } from './tls.js';

export type { RedisMode, SaslMechanism } from './parsers.js';
export type { TlsFiles } from './tls.js';
export { ENVIRONMENT_VARIABLES } from './variables.js';

/**
 * The one place that reads `process.env`. Every variable is declared in variables.ts, with
 * its default, and documented in the README; the Helm chart sets exactly these.
 */

export interface KafkaSaslConfig {
  readonly mechanism: SaslMechanism;
  readonly username: string;
  readonly password: string;
}

/**
 * KAFKA_TLS_CA_FILE (the system's CAs when unset), and for mutual TLS KAFKA_TLS_CERT_FILE,
 * KAFKA_TLS_KEY_FILE and KAFKA_TLS_KEY_PASSWORD.
 */
export type KafkaTlsConfig = TlsFiles;

export interface KafkaConnectionConfig {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** SASL authentication; undefined when KAFKA_SASL_MECHANISM is unset. */
  readonly sasl?: KafkaSaslConfig;
  /** TLS to the brokers; undefined when KAFKA_TLS is false. */
  readonly tls?: KafkaTlsConfig;
  readonly topic: string;
  /** Dead-letter topic; `<topic>.dlq` unless KAFKA_DLQ_TOPIC is set. */
  readonly dlqTopic: string;
  readonly groupId: string;
}

export interface ClickHouseConnectionConfig {
  readonly url: string;
  readonly user: string;
  readonly password: string;
  readonly database: string;
  readonly table: string;
  readonly requestTimeoutMs: number;
  /**
   * Cluster in the server's `remote_servers`: replicated local tables behind a Distributed
   * table of the same name as `table`. Empty: one server, a plain ReplacingMergeTree.
   */
  readonly cluster: string;
  /** Rows expire this many days after they were stored; 0 keeps them for ever. */
  readonly ttlDays: number;
  /**
   * `<table>_shadow` when MODEL_SHADOW_PATH is set: the shadow model's rows, in the same schema
   * as `table` (and the same shape on a cluster). Empty: no shadow scoring, no shadow table.
   */
  readonly shadowTable: string;
  /** CLICKHOUSE_TLS_* files (https only); the system's CAs and no client certificate when undefined. */
  readonly tls?: TlsFiles;
}

export interface RedisConnectionConfig {
  /** `standalone`: one Redis (or a primary with replicas); `cluster`: a Redis Cluster. */
  readonly mode: RedisMode;
  /** The first URL of REDIS_URL: the Redis of standalone mode. */
  readonly url: string;
  /** Every URL of REDIS_URL: in cluster mode the nodes to discover the cluster from. */
  readonly nodes: readonly string[];
  readonly keyPrefix: string;
  /** REDIS_TLS_* files (rediss:// only); the system's CAs and no client certificate when undefined. */
  readonly tls?: TlsFiles;
}

/** The service's settings, as `loadServiceConfig` builds them from its variables. */
export type ServiceConfig = ReturnType<typeof loadServiceConfig>;

/** OpenTelemetry's settings, as `loadTracingConfig` builds them from the OTEL_* variables. */
export type TracingConfig = ReturnType<typeof loadTracingConfig>;

type Env = Readonly<Record<string, string | undefined>>;

/**
 * `scheme://user:secret@host` -> `scheme://user:***@host`, also in values that are not valid
 * URLs (those are exactly the ones an error message shows).
 */
export function redactUrlPassword(text: string): string {
  return text.replace(/(\/\/[^/@\s:]*:)[^/@\s]*@/g, '$1***@');
}

function parse<T extends z.ZodType>(schema: T, env: Env): z.output<T> {
  // Empty strings count as unset so that `FOO=` in an env file falls back to the default,
  // the way Helm renders an empty value.
  const present = Object.fromEntries(
    Object.entries(env).filter(
      ([name, value]) => value !== undefined && (value !== '' || name.endsWith('_PASSWORD')),
    ),
  );
  const result = schema.safeParse(present);
  if (result.success) return result.data;
  const lines = result.error.issues.map((issue) => {
    const name = issue.path.map(String).join('.');
    const value = present[name];
    const shown =
      value === undefined
        ? 'unset'
        : name.endsWith('PASSWORD')
          ? 'set'
          : JSON.stringify(redactUrlPassword(value));
    return `  ${name} (${shown}): ${issue.message}`;
  });
  throw new OfferError('CONFIG_INVALID', `Invalid configuration:\n${lines.join('\n')}`, {
    retriable: false,
  });
}

function kafkaConnection(env: z.output<typeof senderSchema>): KafkaConnectionConfig {
  const dlqTopic = env.KAFKA_DLQ_TOPIC ?? '';
  const mechanism = env.KAFKA_SASL_MECHANISM;
  return {
    brokers: env.KAFKA_BROKERS,
    clientId: env.KAFKA_CLIENT_ID,
    topic: env.KAFKA_TOPIC,
    dlqTopic: dlqTopic === '' ? `${env.KAFKA_TOPIC}.dlq` : dlqTopic,
    groupId: env.KAFKA_GROUP_ID,
    ...(mechanism === undefined
      ? {}
      : {
          sasl: Object.freeze({
            mechanism,
            username: env.KAFKA_SASL_USERNAME ?? '',
            password: env.KAFKA_SASL_PASSWORD ?? '',
          }),
        }),
    ...(env.KAFKA_TLS
      ? {
          tls:
            tlsFiles({
              ca: env.KAFKA_TLS_CA_FILE,
              cert: env.KAFKA_TLS_CERT_FILE,
              key: env.KAFKA_TLS_KEY_FILE,
              password: env.KAFKA_TLS_KEY_PASSWORD,
            }) ?? Object.freeze({}),
        }
      : {}),
  };
}

function redisConnection(env: z.output<typeof smokeSchema>): RedisConnectionConfig {
  const [url = ''] = env.REDIS_URL;
  const tls = tlsFiles({
    ca: env.REDIS_TLS_CA_FILE,
    cert: env.REDIS_TLS_CERT_FILE,
    key: env.REDIS_TLS_KEY_FILE,
    password: env.REDIS_TLS_KEY_PASSWORD,
  });
  return {
    mode: env.REDIS_MODE,
    url,
    nodes: Object.freeze([...env.REDIS_URL]),
    keyPrefix: env.REDIS_KEY_PREFIX,
    ...(tls === undefined ? {} : { tls }),
  };
}

/** The table of the shadow model's rows, beside the offers table. */
export const shadowTableName = (table: string): string => `${table}_shadow`;

function clickhouseConnection(env: z.output<typeof migrateSchema>): ClickHouseConnectionConfig {
  const tls = tlsFiles({
    ca: env.CLICKHOUSE_TLS_CA_FILE,
    cert: env.CLICKHOUSE_TLS_CERT_FILE,
    key: env.CLICKHOUSE_TLS_KEY_FILE,
    password: env.CLICKHOUSE_TLS_KEY_PASSWORD,
  });
  return {
    url: env.CLICKHOUSE_URL,
    user: env.CLICKHOUSE_USER,
    password: env.CLICKHOUSE_PASSWORD,
    database: env.CLICKHOUSE_DATABASE,
    table: env.CLICKHOUSE_TABLE,
    requestTimeoutMs: env.CLICKHOUSE_REQUEST_TIMEOUT_MS,
    cluster: env.CLICKHOUSE_CLUSTER,
    ttlDays: env.CLICKHOUSE_TTL_DAYS,
    shadowTable: env.MODEL_SHADOW_PATH === '' ? '' : shadowTableName(env.CLICKHOUSE_TABLE),
    ...(tls === undefined ? {} : { tls }),
  };
}

/** Configuration of the `consume` command (the service). Throws CONFIG_INVALID. */
export function loadServiceConfig(env: Env = process.env) {
  const e = parse(serviceSchema, env);
  return Object.freeze({
    kafka: Object.freeze({
      ...kafkaConnection(e),
      fromBeginning: e.KAFKA_OFFSET_RESET === 'earliest',
      partitionsConcurrency: e.KAFKA_PARTITIONS_CONCURRENCY,
      maxBytesPerPartition: e.KAFKA_MAX_BYTES_PER_PARTITION,
      sessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: e.KAFKA_HEARTBEAT_INTERVAL_MS,
      /** Partitions added to the topic are consumed within this long. */
      metadataMaxAgeMs: e.KAFKA_METADATA_MAX_AGE_MS,
    }),
    messageMaxBytes: e.MESSAGE_MAX_BYTES,
    batchMaxMessages: e.BATCH_MAX_MESSAGES,
    clickhouse: Object.freeze({
      ...clickhouseConnection(e),
      createTable: e.CLICKHOUSE_CREATE_TABLE,
      /** How long a write waits for others to share its INSERT. */
      windowMs: e.CLICKHOUSE_INSERT_WINDOW_MS,
      /** An INSERT is sent at once when this many rows are waiting. */
      maxRows: e.CLICKHOUSE_INSERT_MAX_ROWS,
      deduplicationToken: e.CLICKHOUSE_DEDUPLICATION_TOKEN,
    }),
    redis: Object.freeze({
      ...redisConnection(e),
      ttlSeconds: e.REDIS_TTL_SECONDS,
      /** Cluster mode: each node's write waits until this many of its replicas have it. */
      waitReplicas: e.REDIS_WAIT_REPLICAS,
    }),
    model: Object.freeze({
      path: e.MODEL_PATH,
      /** Expected SHA-256 of the model file (hex); empty: not checked. */
      sha256: e.MODEL_SHA256,
      threads: e.MODEL_THREADS,
      workers: e.MODEL_WORKERS,
      /**
       * A candidate model scored on the same batches, its rows stored in
       * `clickhouse.shadowTable` only (never in Redis); undefined when MODEL_SHADOW_PATH is empty.
       */
      shadow:
        e.MODEL_SHADOW_PATH === ''
          ? undefined
          : Object.freeze({ path: e.MODEL_SHADOW_PATH, sha256: e.MODEL_SHADOW_SHA256 }),
    }),
    sinkRetry: Object.freeze({ initialMs: e.SINK_RETRY_INITIAL_MS, maxMs: e.SINK_RETRY_MAX_MS }),
    http: Object.freeze({ host: e.HTTP_HOST, port: e.HTTP_PORT }),
    logLevel: e.LOG_LEVEL,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
    /** How long start-up waits for each store to answer (StartupWindow). */
    startupTimeoutMs: e.STARTUP_TIMEOUT_MS,
    /**
     * A NetworkPolicy limits the pods' egress to configured ports (the chart's, when on): a
     * store that does not answer at start may be one on a port it leaves out.
     */
    networkPolicy: e.NETWORK_POLICY_ENABLED,
  });
}

/** Configuration of the `send` and `topics` commands: only the Kafka connection. */
export function loadKafkaConfig(env: Env = process.env): KafkaConnectionConfig {
  return Object.freeze(kafkaConnection(parse(senderSchema, env)));
}

/** Configuration of the `migrate` command: only the ClickHouse connection. */
export function loadClickHouseConfig(env: Env = process.env): ClickHouseConnectionConfig {
  return Object.freeze(clickhouseConnection(parse(migrateSchema, env)));
}

/**
 * OpenTelemetry tracing, from the standard OTEL_* variables. Tracing is on when an OTLP
 * endpoint is set (or OTEL_TRACES_EXPORTER=console), unless OTEL_SDK_DISABLED=true or
 * OTEL_TRACES_EXPORTER=none.
 */
export function loadTracingConfig(env: Env = process.env) {
  const e = parse(tracingSchema, env);
  const hasEndpoint =
    (e.OTEL_EXPORTER_OTLP_ENDPOINT ?? '') !== '' ||
    (e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '') !== '';
  const exporting =
    e.OTEL_TRACES_EXPORTER === 'console' || (e.OTEL_TRACES_EXPORTER === 'otlp' && hasEndpoint);
  return Object.freeze({
    /** False unless an exporter is configured: tracing off costs next to nothing. */
    enabled: !e.OTEL_SDK_DISABLED && exporting,
    serviceName: e.OTEL_SERVICE_NAME,
    exporter: e.OTEL_TRACES_EXPORTER,
    sampler: e.OTEL_TRACES_SAMPLER,
    /** Ratio for the *traceidratio samplers; 1 when unset, as the specification says. */
    samplerRatio: e.OTEL_TRACES_SAMPLER_ARG ?? 1,
    batch: Object.freeze({
      scheduleDelayMillis: e.OTEL_BSP_SCHEDULE_DELAY,
      maxQueueSize: e.OTEL_BSP_MAX_QUEUE_SIZE,
      maxExportBatchSize: e.OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
      exportTimeoutMillis: e.OTEL_BSP_EXPORT_TIMEOUT,
    }),
  });
}

export interface SmokeConfig {
  readonly kafka: KafkaConnectionConfig;
  readonly redis: RedisConnectionConfig;
}

/**
 * Configuration of the `smoke` command (the chart's `helm test`): the Kafka connection to
 * send one registration, and the Redis URL and key prefix to find its offer.
 */
export function loadSmokeConfig(env: Env = process.env): SmokeConfig {
  const e = parse(smokeSchema, env);
  return Object.freeze({
    kafka: Object.freeze(kafkaConnection(e)),
    redis: Object.freeze(redisConnection(e)),
  });
}
