import { z } from 'zod';

// Parsers of single environment variables: each turns the text into a typed value or adds
// an issue saying what is allowed; the schemas in variables.ts are made of them.

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const OFFSET_RESETS = ['earliest', 'latest'] as const;
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

export const text = (fallback: string) => z.string().trim().default(fallback);
export const required = () =>
  z.string({ error: 'is required' }).trim().min(1, { error: 'must not be empty' });
export const integer = (fallback: number, min: number, max: number) =>
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
export const flag = (fallback: boolean) =>
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
export const oneOf = <T extends readonly [string, ...string[]]>(values: T, fallback: T[number]) =>
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
export const identifier = (fallback: string) =>
  text(fallback).refine((value) => IDENTIFIER.test(value), {
    error: 'must be a plain identifier: letters, digits and _, not starting with a digit',
  });
// CLICKHOUSE_CLUSTER: empty means one server; otherwise a name from the server's
// remote_servers, interpolated into ON CLUSTER and Distributed(...) like the identifiers above.
export const optionalIdentifier = (meaning: string) =>
  z
    .string()
    .trim()
    .default('')
    .refine((value) => value === '' || IDENTIFIER.test(value), {
      error: `must be ${meaning}: letters, digits and _, not starting with a digit (or empty)`,
    });
/** MODEL_SHA256: a SHA-256 digest as 64 hex digits (compared in lower case), or empty for none. */
export const sha256Hex = () =>
  z
    .string()
    .trim()
    .toLowerCase()
    .default('')
    .refine((value) => value === '' || /^[0-9a-f]{64}$/.test(value), {
      error: 'must be a SHA-256 digest: 64 hexadecimal digits (or empty for no check)',
    });
export const url = (protocols: readonly string[]) =>
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
export const REDIS_MODES = ['standalone', 'cluster'] as const;
export type RedisMode = (typeof REDIS_MODES)[number];
const REDIS_PROTOCOLS: readonly string[] = ['redis:', 'rediss:'];

// REDIS_URL: one URL, or (for a Redis Cluster) a comma-separated list of URLs of its nodes.
// Whether a list is allowed depends on REDIS_MODE: the schemas' cross-field rules decide.
export const redisUrls = () =>
  required().transform((value, ctx) => {
    const urls = value
      .split(',')
      .map((url) => url.trim())
      .filter((url) => url.length > 0);
    const valid = (url: string): boolean => {
      try {
        return REDIS_PROTOCOLS.includes(new URL(url).protocol);
      } catch {
        return false;
      }
    };
    if (urls.length === 0 || !urls.every(valid)) {
      ctx.addIssue({
        code: 'custom',
        message:
          'must be a URL starting with redis:// or rediss:// (with REDIS_MODE=cluster, a comma-separated list of them)',
      });
      return z.NEVER;
    }
    return urls;
  });

export const brokerList = () =>
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

export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;
export type SaslMechanism = (typeof SASL_MECHANISMS)[number];
