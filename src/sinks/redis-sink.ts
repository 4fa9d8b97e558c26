import { Redis, ReplyError } from 'ioredis';

import { OfferError } from '../errors.js';
import type { OfferRecord } from './offer-record.js';

export interface RedisSinkOptions {
  /** Prepended to the user id; empty by default so `redis-cli get 1` finds user 1. */
  readonly keyPrefix: string;
  /** Expiry of each offer key in seconds; 0 keeps keys forever. */
  readonly ttlSeconds: number;
}

// Writes the offer unless the stored one has a higher version, so a redelivered older
// event never replaces a newer offer. Versions are decimal strings without leading zeros
// (they exceed Lua's exact number range), compared by length first, then as text.
const PUT_OFFER_SCRIPT = `
local current = redis.call('GET', KEYS[1])
if current then
  local stored = string.match(current, '"version":"(%d+)"')
  if stored and (#stored > #ARGV[1] or (#stored == #ARGV[1] and stored > ARGV[1])) then
    return 0
  end
end
if tonumber(ARGV[3]) > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
`;

interface OfferCommands {
  putOffer(key: string, version: string, value: string, ttlSeconds: number): unknown;
}

// Reply errors a later attempt can get past: the server is loading, busy, failing over.
const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|MASTERDOWN|READONLY|NOSCRIPT)\b/;

export function toRedisFailure(error: unknown, action: string): OfferError {
  if (error instanceof OfferError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  const permanent = error instanceof ReplyError && !TRANSIENT_REPLY.test(detail);
  return new OfferError('REDIS_FAILED', `Redis ${action} failed: ${detail}`, {
    retriable: !permanent,
    cause: error,
  });
}

export function createRedisClient(url: string): Redis {
  return new Redis(url, {
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

/** Writes each batch of offers in one pipeline round trip. */
export class RedisOfferSink {
  readonly #redis: Redis;
  readonly #options: RedisSinkOptions;

  constructor(redis: Redis, options: RedisSinkOptions) {
    this.#redis = redis;
    this.#options = options;
    redis.defineCommand('putOffer', { numberOfKeys: 1, lua: PUT_OFFER_SCRIPT });
  }

  keyOf(userId: number): string {
    return `${this.#options.keyPrefix}${userId}`;
  }

  get ready(): boolean {
    return this.#redis.status === 'ready';
  }

  /** Resolves with how many keys were written (older events are skipped). */
  async write(records: readonly OfferRecord[]): Promise<number> {
    if (records.length === 0) return 0;
    const pipeline = this.#redis.pipeline();
    const commands = pipeline as unknown as OfferCommands;
    for (const record of records) {
      commands.putOffer(
        this.keyOf(record.user_id),
        record.version,
        JSON.stringify(record),
        this.#options.ttlSeconds,
      );
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
