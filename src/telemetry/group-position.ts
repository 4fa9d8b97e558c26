import type { Gauge } from 'prom-client';

/** Where the consumer group stands on one partition of the input topic. */
export interface GroupPosition {
  readonly topic: string;
  readonly partition: number;
  readonly end: number;
  /** -1 before the group's first commit on the partition. */
  readonly committed: number;
  readonly lag: number;
}

export type GroupPositionSource = () => Promise<readonly GroupPosition[]>;

export interface GroupPositionGauges {
  readonly lag: Gauge<'topic' | 'partition'>;
  readonly end: Gauge<'topic' | 'partition'>;
  readonly committed: Gauge<'topic' | 'partition'>;
  readonly failures: { inc(): void };
}

/** Answers within a scrape timeout (Prometheus' default is 10 s) even when Kafka does not. */
const READ_TIMEOUT_MS = 3_000;
/** Scrapes closer together than this share one reading, so a busy scraper costs Kafka little. */
const MAX_AGE_MS = 1_000;

/**
 * The group's lag, end and committed offsets per partition, read from Kafka when /metrics is
 * scraped (no timer, no cost without a scraper). Every replica reports the whole group, so
 * the numbers survive a replica that stops committing: the others still show its partitions.
 * A reading that fails or times out removes the series rather than leaving stale ones, and
 * counts in `failures`; it never fails the scrape.
 */
export class GroupPositionReader {
  readonly #gauges: GroupPositionGauges;
  readonly #now: () => number;
  #source: GroupPositionSource | undefined;
  #inFlight: Promise<void> | undefined;
  #readAt = Number.NEGATIVE_INFINITY;

  constructor(gauges: GroupPositionGauges, now: () => number = () => performance.now()) {
    this.#gauges = gauges;
    this.#now = now;
  }

  /** Starts reporting from `source` (the service sets it once its Kafka client exists). */
  use(source: GroupPositionSource): void {
    this.#source = source;
  }

  /** Brings the gauges up to date; concurrent calls (one per gauge of a scrape) share a read. */
  refresh(): Promise<void> {
    const source = this.#source;
    if (source === undefined || this.#now() - this.#readAt < MAX_AGE_MS) return Promise.resolve();
    this.#inFlight ??= this.#read(source).finally(() => {
      this.#readAt = this.#now();
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  async #read(source: GroupPositionSource): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(new Error(`no answer within ${READ_TIMEOUT_MS} ms`));
      }, READ_TIMEOUT_MS);
    });
    const { lag, end, committed, failures } = this.#gauges;
    try {
      const positions = await Promise.race([source(), timeout]);
      for (const gauge of [lag, end, committed]) gauge.reset();
      for (const position of positions) {
        const labels = { topic: position.topic, partition: String(position.partition) };
        lag.set(labels, position.lag);
        end.set(labels, position.end);
        committed.set(labels, position.committed);
      }
    } catch {
      for (const gauge of [lag, end, committed]) gauge.reset();
      failures.inc();
    } finally {
      clearTimeout(timer);
    }
  }
}
