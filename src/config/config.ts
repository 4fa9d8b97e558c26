import { readFileSync } from 'node:fs';

import { z } from 'zod';

import { OfferError } from '../errors.js';

/**
 * The one place that reads `process.env`. Every variable is documented with its default
 * here and in the README's configuration table; the Helm chart sets exactly these.
 */

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const OFFSET_RESETS = ['earliest', 'latest'] as const;
const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = {
  true: true,
  false: false,
  '1': true,
  '0': false,
  yes: true,
  no: false,
};
// ClickHouse identifiers are interpolated into DDL and INSERT statements, so only plain
// names are accepted: no quoting rules to get wrong.
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

const text = (fallback: string) => z.string().trim().default(fallback);
const required = () =>
  z.string({ error: 'is required' }).trim().min(1, { error: 'must not be empty' });
const integer = (fallback: number, min: number, max: number) =>
  z
    .string()
    .trim()
    .default(String(fallback))
    .transform((value, ctx) => {
      const parsed = /^-?\d+$/.test(value) ? Number(value) : Number.NaN;
      if (!Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a whole number from ${min} to ${max}`,
        });
        return z.NEVER;
      }
      return parsed;
    });
const flag = (fallback: boolean) =>
  z
    .string()
    .trim()
    .default(String(fallback))
    .transform((value, ctx) => {
      const parsed = BOOLEAN_WORDS[value.toLowerCase()];
      if (parsed === undefined) {
        ctx.addIssue({ code: 'custom', message: 'must be one of true, false, 1, 0, yes, no' });
        return z.NEVER;
      }
      return parsed;
    });
const oneOf = <T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) =>
  z
    .string()
    .trim()
    .default(fallback)
    .transform((value, ctx): T[number] => {
      const lowered = value.toLowerCase();
      if (!(values as readonly string[]).includes(lowered)) {
        ctx.addIssue({ code: 'custom', message: `must be one of ${values.join(', ')}` });
        return z.NEVER;
      }
      return lowered;
    });
const identifier = (fallback: string) =>
  text(fallback).refine((value) => IDENTIFIER.test(value), {
    error: 'must be a plain identifier: letters, digits and _, not starting with a digit',
  });
const url = (protocols: readonly string[]) =>
  required().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { error: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );
const brokerList = () =>
  required().transform((value, ctx) => {
    const brokers = value
      .split(',')
      .map((broker) => broker.trim())
      .filter((broker) => broker.length > 0);
    if (brokers.length === 0 || !brokers.every((broker) => /^[^\s:]+:\d{1,5}$/.test(broker))) {
      ctx.addIssue({
        code: 'custom',
        message: 'must be a comma-separated list of host:port, e.g. kafka-0:9092,kafka-1:9092',
      });
      return z.NEVER;
    }
    return brokers;
  });

const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];

// A CA bundle is read once, at start, so that a wrong path stops start-up with the variable's
// name instead of surfacing later as an opaque TLS handshake failure.
const pemFile = () =>
  z
    .string()
    .trim()
    .optional()
    .transform((path, ctx) => {
      if (path === undefined) return undefined;
      let pem: string;
      try {
        pem = readFileSync(path, 'utf8');
      } catch (error) {
        const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
        ctx.addIssue({ code: 'custom', message: `cannot read the file (${reason})` });
        return z.NEVER;
      }
      if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
        ctx.addIssue({ code: 'custom', message: 'is not a PEM file with CA certificates' });
        return z.NEVER;
      }
      return pem;
    });

const kafkaShape = {
  KAFKA_BROKERS: brokerList(),
  KAFKA_CLIENT_ID: text('realtime-offers'),
  KAFKA_TOPIC: text('streaming-user-registration'),
  KAFKA_DLQ_TOPIC: z.string().trim().optional(),
  KAFKA_GROUP_ID: text('realtime-offers'),
  KAFKA_SASL_MECHANISM: z
    .string()
    .trim()
    .optional()
    .transform((value, ctx): SaslMechanism | undefined => {
      if (value === undefined) return undefined;
      const lowered = value.toLowerCase();
      if (!(SASL_MECHANISMS as readonly string[]).includes(lowered)) {
        ctx.addIssue({
          code: 'custom',
          message: `must be one of ${SASL_MECHANISMS.join(', ')} (or unset for no SASL)`,
        });
        return z.NEVER;
      }
      return lowered as SaslMechanism;
    }),
  KAFKA_SASL_USERNAME: z.string().trim().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
  KAFKA_TLS: flag(false),
  KAFKA_TLS_CA_FILE: pemFile(),
};

interface KafkaSecurityEnv {
  KAFKA_SASL_MECHANISM?: SaslMechanism | undefined;
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD?: string | undefined;
  KAFKA_TLS: boolean;
  KAFKA_TLS_CA_FILE?: string | undefined;
}

/** Cross-field rules of the Kafka security variables, shared by every schema that has them. */
function checkKafkaSecurity(env: KafkaSecurityEnv, ctx: z.RefinementCtx): void {
  if (env.KAFKA_SASL_MECHANISM !== undefined) {
    for (const name of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const) {
      if ((env[name] ?? '') === '') {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: `is required when KAFKA_SASL_MECHANISM is set (${env.KAFKA_SASL_MECHANISM})`,
        });
      }
    }
  } else {
    for (const name of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD'] as const) {
      if (env[name] !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: [name],
          message: 'is set but KAFKA_SASL_MECHANISM is not: set the mechanism, or unset this',
        });
      }
    }
  }
  if (env.KAFKA_TLS_CA_FILE !== undefined && !env.KAFKA_TLS) {
    ctx.addIssue({
      code: 'custom',
      path: ['KAFKA_TLS_CA_FILE'],
      message: 'needs KAFKA_TLS=true',
    });
  }
}

const clickhouseShape = {
  CLICKHOUSE_URL: url(['http:', 'https:']),
  CLICKHOUSE_USER: text('default'),
  CLICKHOUSE_PASSWORD: z.string().default(''),
  CLICKHOUSE_DATABASE: identifier('default'),
  CLICKHOUSE_TABLE: identifier('personal_offer'),
  CLICKHOUSE_REQUEST_TIMEOUT_MS: integer(30_000, 1_000, 600_000),
};

const serviceSchema = z
  .object({
    ...kafkaShape,
    KAFKA_OFFSET_RESET: oneOf(OFFSET_RESETS, 'earliest'),
    KAFKA_PARTITIONS_CONCURRENCY: integer(12, 1, 1_000),
    KAFKA_MAX_BYTES_PER_PARTITION: integer(196_608, 1_024, 104_857_600),
    KAFKA_SESSION_TIMEOUT_MS: integer(30_000, 6_000, 300_000),
    KAFKA_HEARTBEAT_INTERVAL_MS: integer(3_000, 100, 60_000),
    KAFKA_METADATA_MAX_AGE_MS: integer(30_000, 1_000, 3_600_000),
    MESSAGE_MAX_BYTES: integer(65_536, 256, 10_485_760),
    BATCH_MAX_MESSAGES: integer(5_000, 1, 100_000),
    ...clickhouseShape,
    CLICKHOUSE_CREATE_TABLE: flag(false),
    CLICKHOUSE_INSERT_WINDOW_MS: integer(10, 0, 60_000),
    CLICKHOUSE_INSERT_MAX_ROWS: integer(50_000, 1, 1_000_000),
    CLICKHOUSE_DEDUPLICATION_TOKEN: flag(false),
    REDIS_URL: url(['redis:', 'rediss:']),
    REDIS_KEY_PREFIX: z.string().default(''),
    REDIS_TTL_SECONDS: integer(0, 0, 315_360_000),
    MODEL_PATH: text('model/offer_model.onnx'),
    MODEL_THREADS: integer(1, 0, 64),
    SINK_RETRY_INITIAL_MS: integer(100, 1, 60_000),
    SINK_RETRY_MAX_MS: integer(5_000, 1, 600_000),
    HTTP_HOST: text('0.0.0.0'),
    HTTP_PORT: integer(8080, 0, 65_535),
    LOG_LEVEL: oneOf(LOG_LEVELS, 'info'),
    SHUTDOWN_GRACE_MS: integer(25_000, 0, 3_600_000),
  })
  // Cross-field rules: one message per broken rule, named after the variable to change.
  .superRefine((env, ctx) => {
    checkKafkaSecurity(env, ctx);
    if (env.KAFKA_HEARTBEAT_INTERVAL_MS >= env.KAFKA_SESSION_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['KAFKA_HEARTBEAT_INTERVAL_MS'],
        message: `must be lower than KAFKA_SESSION_TIMEOUT_MS (${env.KAFKA_SESSION_TIMEOUT_MS})`,
      });
    }
    if (env.SINK_RETRY_INITIAL_MS > env.SINK_RETRY_MAX_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['SINK_RETRY_INITIAL_MS'],
        message: `must not exceed SINK_RETRY_MAX_MS (${env.SINK_RETRY_MAX_MS})`,
      });
    }
    if (env.KAFKA_DLQ_TOPIC !== undefined && env.KAFKA_DLQ_TOPIC === env.KAFKA_TOPIC) {
      ctx.addIssue({
        code: 'custom',
        path: ['KAFKA_DLQ_TOPIC'],
        message: 'must differ from KAFKA_TOPIC',
      });
    }
  });

const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
const TRACE_EXPORTERS = ['otlp', 'console', 'none'] as const;

// The standard OpenTelemetry variables (the SDK and the OTLP exporter read the rest, such as
// OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES, themselves); validated here so a
// typo in the sampler stops start-up instead of silently tracing nothing.
const tracingSchema = z
  .object({
    OTEL_SDK_DISABLED: flag(false),
    OTEL_SERVICE_NAME: text('realtime-offers'),
    OTEL_TRACES_EXPORTER: oneOf(TRACE_EXPORTERS, 'otlp'),
    OTEL_EXPORTER_OTLP_ENDPOINT: z.string().trim().optional(),
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.string().trim().optional(),
    OTEL_TRACES_SAMPLER: oneOf(TRACE_SAMPLERS, 'parentbased_always_on'),
    OTEL_TRACES_SAMPLER_ARG: z
      .string()
      .trim()
      .optional()
      .transform((value, ctx) => {
        if (value === undefined) return undefined;
        const ratio = Number(value);
        if (value === '' || !Number.isFinite(ratio) || ratio < 0 || ratio > 1) {
          ctx.addIssue({ code: 'custom', message: 'must be a number from 0 to 1' });
          return z.NEVER;
        }
        return ratio;
      }),
    OTEL_BSP_SCHEDULE_DELAY: integer(1_000, 0, 600_000),
    OTEL_BSP_MAX_QUEUE_SIZE: integer(2_048, 1, 1_000_000),
    OTEL_BSP_MAX_EXPORT_BATCH_SIZE: integer(512, 1, 1_000_000),
    OTEL_BSP_EXPORT_TIMEOUT: integer(30_000, 100, 600_000),
  })
  .superRefine((env, ctx) => {
    if (env.OTEL_BSP_MAX_EXPORT_BATCH_SIZE > env.OTEL_BSP_MAX_QUEUE_SIZE) {
      ctx.addIssue({
        code: 'custom',
        path: ['OTEL_BSP_MAX_EXPORT_BATCH_SIZE'],
        message: `must not exceed OTEL_BSP_MAX_QUEUE_SIZE (${env.OTEL_BSP_MAX_QUEUE_SIZE})`,
      });
    }
  });

const senderSchema = z.object(kafkaShape).superRefine(checkKafkaSecurity);
const migrateSchema = z.object(clickhouseShape);

export interface KafkaSaslConfig {
  readonly mechanism: SaslMechanism;
  readonly username: string;
  readonly password: string;
}

export interface KafkaTlsConfig {
  /** PEM CA bundle from KAFKA_TLS_CA_FILE; the system's CAs when undefined. */
  readonly ca?: string;
}

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
}

export interface ServiceConfig {
  readonly kafka: KafkaConnectionConfig & {
    readonly fromBeginning: boolean;
    readonly partitionsConcurrency: number;
    readonly maxBytesPerPartition: number;
    readonly sessionTimeoutMs: number;
    readonly heartbeatIntervalMs: number;
    /** Partitions added to the topic are consumed within this long. */
    readonly metadataMaxAgeMs: number;
  };
  readonly messageMaxBytes: number;
  readonly batchMaxMessages: number;
  readonly clickhouse: ClickHouseConnectionConfig & {
    readonly createTable: boolean;
    readonly insertWindowMs: number;
    readonly insertMaxRows: number;
    readonly deduplicationToken: boolean;
  };
  readonly redis: {
    readonly url: string;
    readonly keyPrefix: string;
    readonly ttlSeconds: number;
  };
  readonly model: { readonly path: string; readonly threads: number };
  readonly sinkRetry: { readonly initialMs: number; readonly maxMs: number };
  readonly http: { readonly host: string; readonly port: number };
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly shutdownGraceMs: number;
}

export interface TracingConfig {
  /** False unless an exporter is configured: tracing off costs next to nothing. */
  readonly enabled: boolean;
  readonly serviceName: string;
  readonly exporter: (typeof TRACE_EXPORTERS)[number];
  readonly sampler: (typeof TRACE_SAMPLERS)[number];
  /** Ratio for the *traceidratio samplers; 1 when unset, as the specification says. */
  readonly samplerRatio: number;
  readonly batch: {
    readonly scheduleDelayMillis: number;
    readonly maxQueueSize: number;
    readonly maxExportBatchSize: number;
    readonly exportTimeoutMillis: number;
  };
}

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
          tls: Object.freeze(
            env.KAFKA_TLS_CA_FILE === undefined ? {} : { ca: env.KAFKA_TLS_CA_FILE },
          ),
        }
      : {}),
  };
}

function clickhouseConnection(env: z.output<typeof migrateSchema>): ClickHouseConnectionConfig {
  return {
    url: env.CLICKHOUSE_URL,
    user: env.CLICKHOUSE_USER,
    password: env.CLICKHOUSE_PASSWORD,
    database: env.CLICKHOUSE_DATABASE,
    table: env.CLICKHOUSE_TABLE,
    requestTimeoutMs: env.CLICKHOUSE_REQUEST_TIMEOUT_MS,
  };
}

/** Configuration of the `consume` command (the service). Throws CONFIG_INVALID. */
export function loadServiceConfig(env: Env = process.env): ServiceConfig {
  const e = parse(serviceSchema, env);
  return Object.freeze({
    kafka: Object.freeze({
      ...kafkaConnection(e),
      fromBeginning: e.KAFKA_OFFSET_RESET === 'earliest',
      partitionsConcurrency: e.KAFKA_PARTITIONS_CONCURRENCY,
      maxBytesPerPartition: e.KAFKA_MAX_BYTES_PER_PARTITION,
      sessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS,
      heartbeatIntervalMs: e.KAFKA_HEARTBEAT_INTERVAL_MS,
      metadataMaxAgeMs: e.KAFKA_METADATA_MAX_AGE_MS,
    }),
    messageMaxBytes: e.MESSAGE_MAX_BYTES,
    batchMaxMessages: e.BATCH_MAX_MESSAGES,
    clickhouse: Object.freeze({
      ...clickhouseConnection(e),
      createTable: e.CLICKHOUSE_CREATE_TABLE,
      insertWindowMs: e.CLICKHOUSE_INSERT_WINDOW_MS,
      insertMaxRows: e.CLICKHOUSE_INSERT_MAX_ROWS,
      deduplicationToken: e.CLICKHOUSE_DEDUPLICATION_TOKEN,
    }),
    redis: Object.freeze({
      url: e.REDIS_URL,
      keyPrefix: e.REDIS_KEY_PREFIX,
      ttlSeconds: e.REDIS_TTL_SECONDS,
    }),
    model: Object.freeze({ path: e.MODEL_PATH, threads: e.MODEL_THREADS }),
    sinkRetry: Object.freeze({ initialMs: e.SINK_RETRY_INITIAL_MS, maxMs: e.SINK_RETRY_MAX_MS }),
    http: Object.freeze({ host: e.HTTP_HOST, port: e.HTTP_PORT }),
    logLevel: e.LOG_LEVEL,
    shutdownGraceMs: e.SHUTDOWN_GRACE_MS,
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
export function loadTracingConfig(env: Env = process.env): TracingConfig {
  const e = parse(tracingSchema, env);
  const hasEndpoint =
    (e.OTEL_EXPORTER_OTLP_ENDPOINT ?? '') !== '' ||
    (e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '') !== '';
  const exporting =
    e.OTEL_TRACES_EXPORTER === 'console' || (e.OTEL_TRACES_EXPORTER === 'otlp' && hasEndpoint);
  return Object.freeze({
    enabled: !e.OTEL_SDK_DISABLED && exporting,
    serviceName: e.OTEL_SERVICE_NAME,
    exporter: e.OTEL_TRACES_EXPORTER,
    sampler: e.OTEL_TRACES_SAMPLER,
    samplerRatio: e.OTEL_TRACES_SAMPLER_ARG ?? 1,
    batch: Object.freeze({
      scheduleDelayMillis: e.OTEL_BSP_SCHEDULE_DELAY,
      maxQueueSize: e.OTEL_BSP_MAX_QUEUE_SIZE,
      maxExportBatchSize: e.OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
      exportTimeoutMillis: e.OTEL_BSP_EXPORT_TIMEOUT,
    }),
  });
}

const smokeSchema = z
  .object({
    ...kafkaShape,
    REDIS_URL: url(['redis:', 'rediss:']),
    REDIS_KEY_PREFIX: z.string().default(''),
  })
  .superRefine(checkKafkaSecurity);

export interface SmokeConfig {
  readonly kafka: KafkaConnectionConfig;
  readonly redis: { readonly url: string; readonly keyPrefix: string };
}

/**
 * Configuration of the `smoke` command (the chart's `helm test`): the Kafka connection to
 * send one registration, and the Redis URL and key prefix to find its offer.
 */
export function loadSmokeConfig(env: Env = process.env): SmokeConfig {
  const e = parse(smokeSchema, env);
  return Object.freeze({
    kafka: Object.freeze(kafkaConnection(e)),
    redis: Object.freeze({ url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX }),
  });
}
