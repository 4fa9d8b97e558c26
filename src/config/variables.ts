import { z } from 'zod';

import {
  brokerList,
  flag,
  identifier,
  integer,
  LOG_LEVELS,
  OFFSET_RESETS,
  oneOf,
  optionalIdentifier,
  REDIS_MODES,
  redisUrls,
  type RedisMode,
  SASL_MECHANISMS,
  type SaslMechanism,
  text,
  url,
} from './parsers.js';
import { caFile, certificateFile, checkTlsFiles, keyFile, keyPassword } from './tls.js';

// The environment variables, declared as zod schemas: one per command (the service, the
// OpenTelemetry set-up, send/topics/lag, migrate, smoke), with their cross-field rules.

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
  KAFKA_TLS_CA_FILE: caFile(),
  KAFKA_TLS_CERT_FILE: certificateFile(),
  KAFKA_TLS_KEY_FILE: keyFile(),
  KAFKA_TLS_KEY_PASSWORD: keyPassword(),
};

interface KafkaSecurityEnv {
  KAFKA_SASL_MECHANISM?: SaslMechanism | undefined;
  KAFKA_SASL_USERNAME?: string | undefined;
  KAFKA_SASL_PASSWORD?: string | undefined;
  KAFKA_TLS: boolean;
  KAFKA_TLS_CA_FILE?: string | undefined;
  KAFKA_TLS_CERT_FILE?: string | undefined;
  KAFKA_TLS_KEY_FILE?: string | undefined;
  KAFKA_TLS_KEY_PASSWORD?: string | undefined;
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
  checkTlsFiles(
    'KAFKA',
    {
      ca: env.KAFKA_TLS_CA_FILE,
      cert: env.KAFKA_TLS_CERT_FILE,
      key: env.KAFKA_TLS_KEY_FILE,
      password: env.KAFKA_TLS_KEY_PASSWORD,
    },
    env.KAFKA_TLS,
    'KAFKA_TLS=true',
    ctx,
  );
}

const redisShape = {
  REDIS_MODE: oneOf(REDIS_MODES, 'standalone'),
  REDIS_URL: redisUrls(),
  REDIS_KEY_PREFIX: z.string().default(''),
  REDIS_TLS_CA_FILE: caFile(),
  REDIS_TLS_CERT_FILE: certificateFile(),
  REDIS_TLS_KEY_FILE: keyFile(),
  REDIS_TLS_KEY_PASSWORD: keyPassword(),
};

interface RedisTopologyEnv {
  REDIS_MODE: RedisMode;
  REDIS_URL: string[];
  REDIS_WAIT_REPLICAS?: number;
  REDIS_TLS_CA_FILE?: string | undefined;
  REDIS_TLS_CERT_FILE?: string | undefined;
  REDIS_TLS_KEY_FILE?: string | undefined;
  REDIS_TLS_KEY_PASSWORD?: string | undefined;
}

/**
 * Cross-field rules of the Redis variables: one URL for one Redis; for a cluster, node URLs
 * that agree on what the client needs once (TLS, user, password) and no database but 0.
 */
function checkRedisTopology(env: RedisTopologyEnv, ctx: z.RefinementCtx): void {
  const urls = env.REDIS_URL.map((url) => new URL(url));
  checkTlsFiles(
    'REDIS',
    {
      ca: env.REDIS_TLS_CA_FILE,
      cert: env.REDIS_TLS_CERT_FILE,
      key: env.REDIS_TLS_KEY_FILE,
      password: env.REDIS_TLS_KEY_PASSWORD,
    },
    urls.every((url) => url.protocol === 'rediss:'),
    'REDIS_URL to start with rediss:// (TLS)',
    ctx,
  );
  if (env.REDIS_MODE === 'standalone') {
    if (urls.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['REDIS_URL'],
        message: `holds ${urls.length} URLs, but one Redis takes one (for a Redis Cluster set REDIS_MODE=cluster)`,
      });
    }
    if ((env.REDIS_WAIT_REPLICAS ?? 0) > 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['REDIS_WAIT_REPLICAS'],
        message: 'needs REDIS_MODE=cluster (set it to 0, or unset it, for one Redis)',
      });
    }
    return;
  }
  const [first] = urls;
  const same = (url: URL): boolean =>
    url.protocol === first?.protocol &&
    url.username === first.username &&
    url.password === first.password;
  if (!urls.every(same)) {
    ctx.addIssue({
      code: 'custom',
      path: ['REDIS_URL'],
      message:
        'with REDIS_MODE=cluster, every node URL must have the same scheme, user and password',
    });
  }
  if (!urls.every((url) => url.pathname === '' || url.pathname === '/' || url.pathname === '/0')) {
    ctx.addIssue({
      code: 'custom',
      path: ['REDIS_URL'],
      message: 'with REDIS_MODE=cluster, the database must be 0: a Redis Cluster has no other',
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
  CLICKHOUSE_CLUSTER: optionalIdentifier("the name of a cluster in the server's remote_servers"),
  CLICKHOUSE_TTL_DAYS: integer(0, 0, 36_500),
  CLICKHOUSE_TLS_CA_FILE: caFile(),
  CLICKHOUSE_TLS_CERT_FILE: certificateFile(),
  CLICKHOUSE_TLS_KEY_FILE: keyFile(),
  CLICKHOUSE_TLS_KEY_PASSWORD: keyPassword(),
};

interface ClickHouseTlsEnv {
  CLICKHOUSE_URL: string;
  CLICKHOUSE_TLS_CA_FILE?: string | undefined;
  CLICKHOUSE_TLS_CERT_FILE?: string | undefined;
  CLICKHOUSE_TLS_KEY_FILE?: string | undefined;
  CLICKHOUSE_TLS_KEY_PASSWORD?: string | undefined;
}

function checkClickHouseTls(env: ClickHouseTlsEnv, ctx: z.RefinementCtx): void {
  checkTlsFiles(
    'CLICKHOUSE',
    {
      ca: env.CLICKHOUSE_TLS_CA_FILE,
      cert: env.CLICKHOUSE_TLS_CERT_FILE,
      key: env.CLICKHOUSE_TLS_KEY_FILE,
      password: env.CLICKHOUSE_TLS_KEY_PASSWORD,
    },
    new URL(env.CLICKHOUSE_URL).protocol === 'https:',
    'CLICKHOUSE_URL to start with https://',
    ctx,
  );
}

export const serviceSchema = z
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
    ...redisShape,
    REDIS_TTL_SECONDS: integer(0, 0, 315_360_000),
    REDIS_WAIT_REPLICAS: integer(0, 0, 5),
    MODEL_PATH: text('model/offer_model.onnx'),
    MODEL_THREADS: integer(1, 0, 64),
    MODEL_WORKERS: integer(1, 0, 16),
    SINK_RETRY_INITIAL_MS: integer(100, 1, 60_000),
    SINK_RETRY_MAX_MS: integer(5_000, 1, 600_000),
    HTTP_HOST: text('0.0.0.0'),
    HTTP_PORT: integer(8080, 0, 65_535),
    LOG_LEVEL: oneOf(LOG_LEVELS, 'info'),
    SHUTDOWN_GRACE_MS: integer(25_000, 0, 3_600_000),
    STARTUP_TIMEOUT_MS: integer(60_000, 0, 3_600_000),
    NETWORK_POLICY_ENABLED: flag(false),
  })
  // Cross-field rules: one message per broken rule, named after the variable to change.
  .superRefine((env, ctx) => {
    checkKafkaSecurity(env, ctx);
    checkRedisTopology(env, ctx);
    checkClickHouseTls(env, ctx);
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

export const TRACE_SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export const TRACE_EXPORTERS = ['otlp', 'console', 'none'] as const;

// The standard OpenTelemetry variables (the SDK and the OTLP exporter read the rest, such as
// OTEL_EXPORTER_OTLP_HEADERS and OTEL_RESOURCE_ATTRIBUTES, themselves); validated here so a
// typo in the sampler stops start-up instead of silently tracing nothing.
export const tracingSchema = z
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

export const senderSchema = z.object(kafkaShape).superRefine(checkKafkaSecurity);
export const migrateSchema = z.object(clickhouseShape).superRefine(checkClickHouseTls);

export const smokeSchema = z
  .object({
    ...kafkaShape,
    ...redisShape,
  })
  .superRefine((env, ctx) => {
    checkKafkaSecurity(env, ctx);
    checkRedisTopology(env, ctx);
  });

/**
 * Every environment variable the service and its commands read, declared once: the schemas
 * above are the list. The README's tables and the chart's env test are checked against it.
 */
export const ENVIRONMENT_VARIABLES: readonly string[] = [
  ...new Set(
    [serviceSchema, tracingSchema, senderSchema, migrateSchema, smokeSchema].flatMap((schema) =>
      Object.keys(schema.shape),
    ),
  ),
].sort();
