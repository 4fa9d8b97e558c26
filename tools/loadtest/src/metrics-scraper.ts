import {
  histogramBuckets,
  metricSum,
  parsePrometheusText,
  type MetricSample,
} from './prometheus-text.js';
import { SERVICE_METRICS } from './service-metrics.js';
import { bucketDelta, histogramCount, histogramQuantile, type Bucket } from './stats.js';

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

/** Sum of one metric's samples per value of one label, over every scraped process. */
export function sumByLabel(
  scraped: readonly (readonly MetricSample[])[],
  name: string,
  label: string,
): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const samples of scraped) {
    for (const sample of samples) {
      const key = sample.labels[label];
      if (sample.name !== name || key === undefined) continue;
      sums[key] = (sums[key] ?? 0) + sample.value;
    }
  }
  return sums;
}

/** `next - prev` per key; a key that went down (a restarted consumer) counts from zero. */
export function counterDelta(
  prev: Readonly<Record<string, number>>,
  next: Readonly<Record<string, number>>,
): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [key, value] of Object.entries(next)) {
    const before = prev[key] ?? 0;
    delta[key] = value >= before ? value - before : value;
  }
  return delta;
}

/** What the consumers report about failures, per interval. */
export interface ErrorWindow {
  /** Messages dead-lettered in the interval, by rejection reason. */
  readonly deadLettered: Readonly<Record<string, number>>;
  /** Sink writes retried in the interval, by sink. */
  readonly sinkRetries: Readonly<Record<string, number>>;
  /** Failed sink writes in the interval, by sink. */
  readonly sinkErrors: Readonly<Record<string, number>>;
  /** Sinks that at least one consumer reported down at the scrape. */
  readonly sinksDown: readonly string[];
}

/** Versions the consumers report in `offers_build_info` (the first consumer's). */
export interface BuildInfo {
  readonly version: string | null;
  readonly modelVersion: string | null;
  readonly nodeVersion: string | null;
}

export function buildInfoOf(samples: readonly MetricSample[]): BuildInfo | null {
  const info = samples.find((sample) => sample.name === SERVICE_METRICS.buildInfo);
  if (info === undefined) return null;
  return {
    version: info.labels.version ?? null,
    modelVersion: info.labels.model_version ?? null,
    nodeVersion: info.labels.node_version ?? null,
  };
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
  /** Failures since the previous scrape. */
  readonly errors: ErrorWindow;
  readonly buildInfo: BuildInfo | null;
}

interface Counters {
  readonly deadLettered: Record<string, number>;
  readonly sinkRetries: Record<string, number>;
  readonly sinkErrors: Record<string, number>;
}

/**
 * Scrapes the `/metrics` endpoints of the consumers every time `scrape` is called and turns
 * the cumulative end-to-end histogram and failure counters into per-interval values.
 */
export class MetricsScraper {
  readonly #urls: () => readonly string[];
  #first: Bucket[] | undefined;
  #previous: Bucket[] | undefined;
  #previousCounters: Counters | undefined;

  constructor(urls: () => readonly string[]) {
    this.#urls = urls;
  }

  /** Endpoints to scrape now; 0 when there is nothing to read. */
  get targets(): number {
    return this.#urls().length;
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
    return this.accept(parsed);
  }

  /** One scrape's parsed samples, one array per consumer that answered. */
  accept(parsed: readonly (readonly MetricSample[])[]): ScrapeResult {
    const current = sumBuckets(
      parsed.map((samples) => histogramBuckets(samples, SERVICE_METRICS.endToEndLatency)),
    );
    const first = (this.#first ??= current);
    const previous = this.#previous ?? current;
    this.#previous = current;
    const sum = (name: string): number =>
      parsed.reduce((total, samples) => total + (metricSum(samples, name) ?? 0), 0);
    const counters: Counters = {
      deadLettered: sumByLabel(parsed, SERVICE_METRICS.deadLettered, 'reason'),
      sinkRetries: sumByLabel(parsed, SERVICE_METRICS.sinkRetries, 'sink'),
      sinkErrors: sumByLabel(parsed, SERVICE_METRICS.sinkErrors, 'sink'),
    };
    const before = this.#previousCounters ?? counters;
    this.#previousCounters = counters;
    const down = new Set<string>();
    for (const samples of parsed) {
      for (const sample of samples) {
        const sink = sample.labels.sink;
        if (sample.name === SERVICE_METRICS.sinkUp && sink !== undefined && sample.value < 1) {
          down.add(sink);
        }
      }
    }
    return {
      up: parsed.length,
      scored: sum(SERVICE_METRICS.scored),
      consumed: sum(SERVICE_METRICS.consumed),
      window: windowOf(bucketDelta(previous, current)),
      total: windowOf(bucketDelta(first, current)),
      errors: {
        deadLettered: counterDelta(before.deadLettered, counters.deadLettered),
        sinkRetries: counterDelta(before.sinkRetries, counters.sinkRetries),
        sinkErrors: counterDelta(before.sinkErrors, counters.sinkErrors),
        sinksDown: [...down].sort(),
      },
      buildInfo: parsed.map(buildInfoOf).find((info) => info !== null) ?? null,
    };
  }
}
