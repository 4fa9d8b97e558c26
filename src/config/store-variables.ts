import { z } from 'zod';

import {
  brokerList,
  flag,
  identifier,
  integer,
  oneOf,
  optionalIdentifier,
  REDIS_MODES,
  redisUrls,
  SASL_MECHANISMS,
  type SaslMechanism,
  text,
  url,
} from './parsers.js';
import { caFile, certificateFile, checkTlsFiles, keyFile, keyPassword } from './tls.js';

// The variables of each store (Kafka, Redis, ClickHouse) as zod shapes, with the rules that
// tie several of them together; the commands' schemas (variables.ts) are made of them.

/** The parsed values of a shape: the one declaration of each variable gives its type. */
type ShapeOutput<Shape extends z.ZodRawShape> = z.output<z.ZodObject<Shape>>;

export const kafkaShape = {
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

/** Cross-field rules of the Kafka security variables, shared by every schema that has them. */
export function checkKafkaSecurity(
  env: ShapeOutput<typeof kafkaShape>,
  ctx: z.RefinementCtx,
): void {
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

export const redisShape = {
  REDIS_MODE: oneOf(REDIS_MODES, 'standalone'),
  REDIS_URL: redisUrls(),
  REDIS_KEY_PREFIX: z.string().default(''),
  REDIS_TLS_CA_FILE: caFile(),
  REDIS_TLS_CERT_FILE: certificateFile(),
  REDIS_TLS_KEY_FILE: keyFile(),
  REDIS_TLS_KEY_PASSWORD: keyPassword(),
};

/**
 * Cross-field rules of the Redis variables: one URL for one Redis; for a cluster, node URLs
 * that agree on what the client needs once (TLS, user, password) and no database but 0.
 */
export function checkRedisTopology(
  env: ShapeOutput<typeof redisShape> & { REDIS_WAIT_REPLICAS?: number },
  ctx: z.RefinementCtx,
): void {
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

export const clickhouseShape = {
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

export function checkClickHouseTls(
  env: ShapeOutput<typeof clickhouseShape>,
  ctx: z.RefinementCtx,
): void {
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
