import type { ConnectionOptions } from 'node:tls';

import { SpanKind } from '@opentelemetry/api';
import { Redis, ReplyError } from 'ioredis';

import type { TlsFiles } from '../config/config.js';
import { describeTlsRefusal, errorMessage, OfferError, tlsRefusalOf } from '../errors.js';
import { ATTR } from '../telemetry/semconv.js';
import type { StoredOffer } from './offer-record.js';
import type { Sink, SinkSpan } from './sink.js';

/** The span of a Redis offer write (one script call per batch, standalone or Cluster). */
export function redisOfferSpan(keyOf: (userId: number) => string): SinkSpan<StoredOffer> {
  return {
    name: 'EVALSHA',
    kind: SpanKind.CLIENT,
    attributes: {
      [ATTR.dbSystem]: 'redis',
      [ATTR.dbSystemName]: 'redis',
      [ATTR.dbOperation]: 'EVALSHA',
    },
    rowsOf: 'accepted',
    rowAttributes: (offer) => ({ [ATTR.redisKey]: keyOf(offer.userId) }),
  };
}

export interface RedisSinkOptions {
  /** Prepended to the user id; empty by default so `redis-cli get 1` finds user 1. */
  readonly keyPrefix: string;
  /** Expiry of each offer key in seconds; 0 keeps keys forever. */
  readonly ttlSeconds: number;
}

// Writes each offer unless the stored one has a higher version, so a redelivered older
// event never replaces a newer offer. Versions are decimal strings without leading zeros
// (they exceed Lua's exact number range), compared by length first, then as text. The
// stored value starts with its version (StoredOffer.json), so reading it is an anchored
// match on the first few bytes, not a scan of the whole value; values written before
// the version came first are still read by the scan.
// One command per offer: SET ... GET writes and returns what it replaced; in the rare case
// that was newer (a redelivery), it is put back (its expiry restarts). The script runs
// atomically, so no reader sees the older offer in between. Needs Redis 6.2 or later.
// KEYS: offer keys; ARGV[1]: TTL seconds (0 = none); then a version and a value per key.
// The cluster sink (redis-cluster-sink.ts) runs the same script and arguments per hash slot.
export const PUT_OFFERS_SCRIPT = `
local ttl = tonumber(ARGV[1])
local written = 0
for i, key in ipairs(KEYS) do
  local version = ARGV[2 * i]
  local value = ARGV[2 * i + 1]
  local current
  if ttl > 0 then
    current = redis.call('SET', key, value, 'EX', ttl, 'GET')
  else
    current = redis.call('SET', key, value, 'GET')
  end
  local stored = current
    and (string.match(current, '^{"version":"(%d+)"') or string.match(current, '"version":"(%d+)"'))
  if stored and (#stored > #version or (#stored == #version and stored > version)) then
    if ttl > 0 then
      redis.call('SET', key, current, 'EX', ttl)
    else
      redis.call('SET', key, current)
    end
  else
    written = written + 1
  end
end
return written
`;

// Keys per script call: a batch of 5,000 offers is 10 calls in one pipeline round trip,
// instead of 5,000 commands each with its own promise and timer on the client, while one
// call still holds the server for well under a millisecond per hundred keys.
export const KEYS_PER_CALL = 500;

export interface OfferCommands {
  putOffers(keyCount: number, ...keysAndArgs: (string | number)[]): unknown;
}

/** Appends what follows a putOffers call's keys: the TTL, then each offer's version and value. */
export function appendOfferArgs(
  args: (string | number)[],
  records: readonly StoredOffer[],
  ttlSeconds: number,
): void {
  args.push(ttlSeconds);
  for (const record of records) args.push(record.version, record.json);
}

// Reply errors a later attempt can get past: the server is loading or busy, out of memory
// (maxmemory with a noeviction policy), unable to persist (MISCONF), short of in-sync replicas
// (NOREPLICAS), or in a failover (READONLY replica, MASTERDOWN, cluster redirections).
const TRANSIENT_REPLY =
  /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|NOSCRIPT|OOM|MISCONF|NOREPLICAS|MOVED|ASK)\b/;

/** The server refused the credentials or their rights: no retry changes that. */
export const AUTH_REFUSAL = /^(WRONGPASS|NOAUTH|NOPERM)\b/;

/**
 * One start-up attempt on an ioredis client (one Redis or a cluster): done when it is ready;
 * retriable while it is still (re)connecting on its own or the server is not there; final when
 * the server refused the credentials or their rights, a TLS handshake failed on a certificate,
 * or `final` says a cause is (a misconfiguration no retry changes). `causes` are the client's
 * last error events: ioredis rejects a connect with "Connection is closed." and reports why
 * only as an event.
 */
export async function connectAttempt(
  client: { readonly status: string; connect(): Promise<void> },
  action: string,
  lastErrors: () => readonly unknown[],
  options: {
    /** A cause no retry changes (a misconfiguration), by its text. */
    readonly final?: (cause: string) => boolean;
    /** When the connect failed: finds the cause the client's events did not report. */
    readonly diagnose?: () => Promise<unknown>;
  } = {},
): Promise<void> {
  const { status } = client;
  if (status === 'ready') return;
  // Still (re)connecting on its own: a refusal it already met is final all the same (the
  // handshake's alert may arrive after the first attempt gave up on a closed connection).
  if (status !== 'wait' && status !== 'end') {
    throw connectFailure(`not connected yet: ${status}`, action, lastErrors(), options.final);
  }
  try {
    await client.connect();
  } catch (error) {
    const diagnosed = await options.diagnose?.().catch(() => undefined);
    throw connectFailure(errorMessage(error), action, [...lastErrors(), diagnosed], options.final);
  }
}

/** A failed connection attempt, final when one of its causes is a refusal. */
function connectFailure(
  what: string,
  action: string,
  causes: readonly unknown[],
  final: (cause: string) => boolean = () => false,
): OfferError {
  const texts = causes.filter((cause) => cause !== undefined).map(errorMessage);
  const known = texts.filter((cause) => cause !== '');
  const detail = `${what}${known.length === 0 ? '' : ` (${known.join('; ')})`}`;
  const tls = causes.map((cause) => tlsRefusalOf(cause)).find((found) => found !== undefined);
  if (tls !== undefined) {
    const advice = describeTlsRefusal(tls, { prefix: 'REDIS', tls: 'the rediss:// of REDIS_URL' });
    return new OfferError('REDIS_FAILED', `Redis ${action} failed: ${detail}; ${advice}`, {
      retriable: false,
    });
  }
  if (texts.some((cause) => AUTH_REFUSAL.test(cause))) {
    return new OfferError(
      'REDIS_FAILED',
      `Redis ${action} failed: ${detail}; check the user and password of REDIS_URL, and the user's rights (README, "Security")`,
      { retriable: false },
    );
  }
  if (texts.some(final)) {
    return new OfferError('REDIS_FAILED', `Redis ${action} failed: ${detail}`, {
      retriable: false,
    });
  }
  return toRedisFailure(new Error(detail), action);
}

export function toRedisFailure(error: unknown, action: string): OfferError {
  if (error instanceof OfferError) return error;
  const detail = errorMessage(error);
  const permanent = error instanceof ReplyError && !TRANSIENT_REPLY.test(detail);
  return new OfferError('REDIS_FAILED', `Redis ${action} failed: ${detail}`, {
    retriable: !permanent,
    cause: error,
  });
}

/** ioredis's `tls` (Node's TLS options) from the REDIS_TLS_* files. */
export function redisTlsOptions(tls: TlsFiles): ConnectionOptions {
  const { ca, cert, key, passphrase } = tls;
  return {
    ...(ca === undefined ? {} : { ca }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(passphrase === undefined ? {} : { passphrase }),
  };
}

/** One Redis; `tls` applies to a rediss:// URL (the config allows it with no other). */
export function createRedisClient(url: string, tls?: TlsFiles): Redis {
  return new Redis(url, {
    ...(tls === undefined ? {} : { tls: redisTlsOptions(tls) }),
    lazyConnect: true,
    // Fail commands at once while disconnected instead of queueing them: the pipeline
    // retries with backoff and pauses consumption, so nothing piles up in memory.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: 10_000,
    connectTimeout: 5_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
}

/**
 * Writes each batch of offers in one pipeline round trip. The multi-key script needs a
 * single Redis (or a primary with replicas); on a Redis Cluster, where one call's keys must
 * share a hash slot, RedisClusterOfferSink (redis-cluster-sink.ts) writes them.
 */
export class RedisOfferSink implements Sink<StoredOffer> {
  readonly name = 'redis';
  readonly span: SinkSpan<StoredOffer>;
  readonly #redis: Redis;
  readonly #options: RedisSinkOptions;
  #lastConnectionError: unknown;

  constructor(redis: Redis, options: RedisSinkOptions) {
    this.#redis = redis;
    this.#options = options;
    this.span = redisOfferSpan((userId) => this.keyOf(userId));
    redis.on('error', (error: unknown) => {
      this.#lastConnectionError = error;
    });
    // No fixed key count: each call passes how many keys it carries.
    redis.defineCommand('putOffers', { lua: PUT_OFFERS_SCRIPT });
  }

  keyOf(userId: number): string {
    return `${this.#options.keyPrefix}${userId}`;
  }

  get ready(): boolean {
    return this.#redis.status === 'ready';
  }

  async close(): Promise<void> {
    await this.#redis.quit();
  }

  /** One start-up attempt; see connectAttempt for what is retried and what is final. */
  async healthcheck(): Promise<void> {
    await connectAttempt(this.#redis, 'connection', () => [this.#lastConnectionError]);
  }

  async write(records: readonly StoredOffer[]): Promise<void> {
    await this.put(records);
  }

  /** Writes the offers; resolves with how many keys were written (older events are skipped). */
  async put(records: readonly StoredOffer[]): Promise<number> {
    if (records.length === 0) return 0;
    const pipeline = this.#redis.pipeline();
    const commands = pipeline as unknown as OfferCommands;
    for (let start = 0; start < records.length; start += KEYS_PER_CALL) {
      const slice = records.slice(start, start + KEYS_PER_CALL);
      const args: (string | number)[] = slice.map((record) => this.keyOf(record.userId));
      appendOfferArgs(args, slice, this.#options.ttlSeconds);
      commands.putOffers(slice.length, ...args);
    }
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipeline.exec();
    } catch (error) {
      throw toRedisFailure(error, 'pipeline');
    }
    if (replies === null) throw toRedisFailure(new Error('pipeline was discarded'), 'pipeline');
    let written = 0;
    for (const [error, reply] of replies) {
      if (error) throw toRedisFailure(error, 'offer write');
      written += Number(reply);
    }
    return written;
  }
}
