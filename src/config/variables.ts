import { z } from 'zod';

import { flag, integer, LOG_LEVELS, OFFSET_RESETS, oneOf, sha256Hex, text } from './parsers.js';
import {
  checkClickHouseTls,
  checkKafkaSecurity,
  checkRedisTopology,
  clickhouseShape,
  kafkaShape,
  redisShape,
} from './store-variables.js';

// The environment variables, declared as zod schemas: one per command (the service, the
// OpenTelemetry set-up, send/topics/lag, migrate, smoke), with their cross-field rules.

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
    MODEL_SHA256: sha256Hex(),
    MODEL_THREADS: integer(1, 0, 64),
    MODEL_WORKERS: integer(1, 0, 16),
    MODEL_SHADOW_PATH: text(''),
    MODEL_SHADOW_SHA256: sha256Hex(),
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
    if (env.MODEL_SHADOW_PATH !== '' && env.MODEL_SHADOW_PATH === env.MODEL_PATH) {
      ctx.addIssue({
        code: 'custom',
        path: ['MODEL_SHADOW_PATH'],
        message:
          'must differ from MODEL_PATH (the shadow is a candidate model: another file), or be empty for no shadow scoring',
      });
    }
    if (env.MODEL_SHADOW_SHA256 !== '' && env.MODEL_SHADOW_PATH === '') {
      ctx.addIssue({
        code: 'custom',
        path: ['MODEL_SHADOW_SHA256'],
        message: 'checks the shadow model: set MODEL_SHADOW_PATH too, or leave it empty',
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
// MODEL_SHADOW_PATH only says whether the shadow table is part of the schema.
export const migrateSchema = z
  .object({ ...clickhouseShape, MODEL_SHADOW_PATH: text('') })
  .superRefine(checkClickHouseTls);

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
