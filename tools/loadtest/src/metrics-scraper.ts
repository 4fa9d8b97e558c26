import {
  histogramBuckets,
  metricSum,
  parsePrometheusText,
  type MetricSample,
} from './prometheus-text.js';
import { bucketDelta, histogramCount, histogramQuantile, type Bucket } from './stats.js';

export const END_TO_END_HISTOGRAM = 'offers_end_to_end_latency_seconds';

/** Quantiles of the consumers' own end-to-end histogram over one interval, in ms. */
export interface HistogramWindow {
  readonly count: number;
  readonly p50: number | null;
  readonly p95: number | null;
  readonly p99: number | null;
}

export function windowOf(buckets: readonly Bucket[]): HistogramWindow {
  const ms = (seconds: number | null): number | null => (seconds === null ? null : seconds * 1000);
  return {
    count: histogramCount(buckets),
    p50: ms(histogramQuantile(buckets, 0.5)),
    p95: ms(histogramQuantile(buckets, 0.95)),
    p99: ms(histogramQuantile(buckets, 0.99)),
  };
}

/** Adds up cumulative buckets of several processes (the same bounds in each). */
export function sumBuckets(sets: readonly (readonly Bucket[])[]): Bucket[] {
  const counts = new Map<number, number>();
  for (const buckets of sets) {
    for (const bucket of buckets)
      counts.set(bucket.le, (counts.get(bucket.le) ?? 0) + bucket.count);
  }
  return [...counts].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}

export interface ScrapeResult {
  /** Consumers that answered. */
  readonly up: number;
  readonly scored: number;
  readonly consumed: number;
  /** End-to-end histogram since the previous scrape. */
  readonly window: HistogramWindow;
  /** End-to-end histogram since the first scrape. */
  readonly total: HistogramWindow;
}

/**
 * Scrapes the `/metrics` endpoints of the consumers every time `scrape` is called and turns
 * the cumulative end-to-end histogram into per-interval quantiles.
 */
export class MetricsScraper {
  readonly #urls: () => readonly string[];
  #first: Bucket[] | undefined;
  #previous: Bucket[] | undefined;

  constructor(urls: () => readonly string[]) {
    this.#urls = urls;
  }

  async scrape(): Promise<ScrapeResult | undefined> {
    const urls = this.#urls();
    if (urls.length === 0) return undefined;
    const texts = await Promise.all(
      urls.map(async (url) => {
        try {
          const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
          return response.ok ? await response.text() : undefined;
        } catch {
          return undefined;
        }
      }),
    );
    const parsed: MetricSample[][] = texts
      .filter((text): text is string => text !== undefined)
      .map((text) => parsePrometheusText(text));
    if (parsed.length === 0) return undefined;
    const current = sumBuckets(
      parsed.map((samples) => histogramBuckets(samples, END_TO_END_HISTOGRAM)),
    );
    const first = (this.#first ??= current);
    const previous = this.#previous ?? current;
    this.#previous = current;
    const sum = (name: string): number =>
      parsed.reduce((total, samples) => total + (metricSum(samples, name) ?? 0), 0);
    return {
      up: parsed.length,
      scored: sum('offers_scored_total'),
      consumed: sum('offers_messages_consumed_total'),
      window: windowOf(bucketDelta(previous, current)),
      total: windowOf(bucketDelta(first, current)),
    };
  }
}
