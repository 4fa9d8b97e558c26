import type { Redis } from 'ioredis';

/**
 * End-to-end latency as a reader sees it: from the Kafka message timestamp of a sampled
 * registration to the moment its offer can be read from Redis.
 *
 * The producer's timestamp is recovered from the stored offer itself: `version` is the
 * Kafka timestamp in milliseconds followed by six digits of the offset. That is the exact
 * timestamp the consumer saw, needs no extra producer API, and tells an offer of this run
 * apart from one left by an earlier run for the same user id.
 */

const VERSION_FIELD = /"version":"(\d+)"/;

/** Kafka timestamp (ms) of a stored offer, from its `version`; undefined if absent. */
export function offerTimestampMs(storedJson: string): number | undefined {
  const match = VERSION_FIELD.exec(storedJson);
  if (match?.[1] === undefined || match[1].length <= 6) return undefined;
  return Number(match[1].slice(0, -6));
}

export interface RedisProbeOptions {
  readonly keyPrefix: string;
  /** How often pending keys are read; the latency resolution. */
  readonly pollIntervalMs: number;
  /** At most this many users are watched at once; further samples are skipped. */
  readonly maxPending: number;
  /** A watched user whose offer did not appear within this long counts as timed out. */
  readonly timeoutMs: number;
  /** Keys per MGET. */
  readonly chunkSize: number;
}

export interface ProbeCounts {
  readonly pending: number;
  readonly skipped: number;
  readonly timedOut: number;
  readonly observed: number;
}

interface Pending {
  readonly userId: number;
  readonly sentAtMs: number;
}

export class RedisLatencyProbe {
  readonly #redis: Redis;
  readonly #options: RedisProbeOptions;
  readonly #pending = new Map<string, Pending>();
  #latencies: number[] = [];
  #skipped = 0;
  #timedOut = 0;
  #observed = 0;
  #timer: NodeJS.Timeout | undefined;
  #polling = false;
  #errors = 0;

  constructor(redis: Redis, options: RedisProbeOptions) {
    this.#redis = redis;
    this.#options = options;
  }

  /** Watches one user whose registration was handed to the producer at `sentAtMs`. */
  track(userId: number, sentAtMs: number): void {
    if (this.#pending.size >= this.#options.maxPending) {
      this.#skipped += 1;
      return;
    }
    this.#pending.set(`${this.#options.keyPrefix}${userId}`, { userId, sentAtMs });
  }

  start(): void {
    this.#timer ??= setInterval(() => {
      if (this.#polling) return;
      this.#polling = true;
      void this.#poll().finally(() => {
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

  get errors(): number {
    return this.#errors;
  }

  async #poll(): Promise<void> {
    if (this.#pending.size === 0) return;
    const keys = [...this.#pending.keys()];
    for (let start = 0; start < keys.length; start += this.#options.chunkSize) {
      const chunk = keys.slice(start, start + this.#options.chunkSize);
      let values: (string | null)[];
      try {
        values = await this.#redis.mget(...chunk);
      } catch {
        this.#errors += 1;
        return;
      }
      const seenAtMs = Date.now();
      chunk.forEach((key, index) => {
        const entry = this.#pending.get(key);
        if (entry === undefined) return;
        const stored = values[index];
        const timestampMs = stored == null ? undefined : offerTimestampMs(stored);
        // An offer older than our send is a previous run's offer for the same id.
        if (timestampMs !== undefined && timestampMs >= entry.sentAtMs - 1_000) {
          this.#pending.delete(key);
          this.#latencies.push(Math.max(0, seenAtMs - timestampMs));
          this.#observed += 1;
        } else if (seenAtMs - entry.sentAtMs > this.#options.timeoutMs) {
          this.#pending.delete(key);
          this.#timedOut += 1;
        }
      });
    }
  }
}
