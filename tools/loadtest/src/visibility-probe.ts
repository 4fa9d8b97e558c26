import type { ClickHouseClient } from '@clickhouse/client';
import type { Redis } from 'ioredis';

import { versionEventMs } from '../../../src/sinks/offer-record.js';

/**
 * End-to-end latency as a reader sees it: from the Kafka message timestamp of a sampled
 * registration to the moment its offer can be read from a store (Redis by key, ClickHouse
 * by a SELECT), measured by polling with this process's clock.
 *
 * The producer's timestamp is recovered from the stored offer itself: `version` is the
 * Kafka timestamp in milliseconds followed by six digits of the offset. That is the exact
 * timestamp the consumer saw, needs no extra producer API, keeps millisecond precision
 * where the store's own time columns have whole seconds (ClickHouse 18.16's DateTime), and
 * tells an offer of this run apart from one left by an earlier run for the same user id.
 */

const VERSION_FIELD = /"version":"(\d+)"/;

/** Kafka timestamp (ms) of a `version`; undefined when it is not one or carries no time. */
export function versionTimestampMs(version: string): number | undefined {
  if (!/^\d+$/.test(version)) return undefined;
  const eventMs = versionEventMs(version);
  return eventMs === 0 ? undefined : eventMs;
}

/** Kafka timestamp (ms) of a stored offer, from its `version`; undefined if absent. */
export function offerTimestampMs(storedJson: string): number | undefined {
  const match = VERSION_FIELD.exec(storedJson);
  return match?.[1] === undefined ? undefined : versionTimestampMs(match[1]);
}

/**
 * Reads the Kafka timestamps (ms) of the stored offers of some users: one entry per user id,
 * undefined where no offer is stored yet.
 */
export type OfferLookup = (userIds: readonly number[]) => Promise<(number | undefined)[]>;

export function redisLookup(redis: Redis, keyPrefix: string): OfferLookup {
  return async (userIds) => {
    const values = await redis.mget(...userIds.map((userId) => `${keyPrefix}${userId}`));
    return values.map((stored) => (stored == null ? undefined : offerTimestampMs(stored)));
  };
}

/** The newest `version` of each user in the table, as a query without FINAL sees it. */
export function clickhouseLookup(
  client: ClickHouseClient,
  database: string,
  table: string,
): OfferLookup {
  return async (userIds) => {
    // Ids inline, not as query parameters: ClickHouse 18.16 has no query parameters, and
    // the ids are whole numbers this process generated.
    const ids = userIds.map((userId) => String(Math.trunc(userId))).join(',');
    const result = await client.query({
      query: `SELECT user_id, toString(max(version)) AS version FROM ${database}.${table}
              WHERE user_id IN (${ids}) GROUP BY user_id`,
      format: 'JSONEachRow',
    });
    const rows = await result.json<{ user_id: number | string; version: string }>();
    const byUser = new Map(rows.map((row) => [Number(row.user_id), row.version]));
    return userIds.map((userId) => {
      const version = byUser.get(userId);
      return version === undefined ? undefined : versionTimestampMs(version);
    });
  };
}

export interface VisibilityProbeOptions {
  /** How often pending users are looked up; the latency resolution. */
  readonly pollIntervalMs: number;
  /** At most this many users are watched at once; further samples are skipped. */
  readonly maxPending: number;
  /** A watched user whose offer did not appear within this long counts as timed out. */
  readonly timeoutMs: number;
  /** Users per lookup. */
  readonly chunkSize: number;
}

export interface ProbeCounts {
  readonly pending: number;
  readonly skipped: number;
  readonly timedOut: number;
  readonly observed: number;
}

export class VisibilityProbe {
  readonly #lookup: OfferLookup;
  readonly #options: VisibilityProbeOptions;
  /** User id → wall clock when its registration was handed to the producer. */
  readonly #pending = new Map<number, number>();
  #latencies: number[] = [];
  #skipped = 0;
  #timedOut = 0;
  #observed = 0;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  #errors = 0;
  #lastError: string | undefined;

  constructor(lookup: OfferLookup, options: VisibilityProbeOptions) {
    this.#lookup = lookup;
    this.#options = options;
  }

  /** Watches one user whose registration was handed to the producer at `sentAtMs`. */
  track(userId: number, sentAtMs: number): void {
    if (this.#pending.size >= this.#options.maxPending) {
      this.#skipped += 1;
      return;
    }
    this.#pending.set(userId, sentAtMs);
  }

  start(): void {
    this.#timer ??= setInterval(() => {
      if (this.#polling) return;
      this.#polling = true;
      void this.poll().finally(() => {
        this.#polling = false;
      });
    }, this.#options.pollIntervalMs);
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Latencies (ms) observed since the previous call. */
  drain(): number[] {
    const latencies = this.#latencies;
    this.#latencies = [];
    return latencies;
  }

  get counts(): ProbeCounts {
    return {
      pending: this.#pending.size,
      skipped: this.#skipped,
      timedOut: this.#timedOut,
      observed: this.#observed,
    };
  }

  /** Failed lookups, and the last one's message. */
  get errors(): { readonly count: number; readonly last: string | undefined } {
    return { count: this.#errors, last: this.#lastError };
  }

  /** One round of lookups over every pending user (the timer calls it). */
  async poll(): Promise<void> {
    if (this.#pending.size === 0) return;
    const userIds = [...this.#pending.keys()];
    for (let start = 0; start < userIds.length; start += this.#options.chunkSize) {
      const chunk = userIds.slice(start, start + this.#options.chunkSize);
      let timestamps: (number | undefined)[];
      try {
        timestamps = await this.#lookup(chunk);
      } catch (error) {
        this.#errors += 1;
        this.#lastError = error instanceof Error ? error.message : String(error);
        return;
      }
      const seenAtMs = Date.now();
      chunk.forEach((userId, index) => {
        const sentAtMs = this.#pending.get(userId);
        if (sentAtMs === undefined) return;
        const timestampMs = timestamps[index];
        // An offer older than our send is a previous run's offer for the same id.
        if (timestampMs !== undefined && timestampMs >= sentAtMs - 1_000) {
          this.#pending.delete(userId);
          this.#latencies.push(Math.max(0, seenAtMs - timestampMs));
          this.#observed += 1;
        } else if (seenAtMs - sentAtMs > this.#options.timeoutMs) {
          this.#pending.delete(userId);
          this.#timedOut += 1;
        }
      });
    }
  }
}
