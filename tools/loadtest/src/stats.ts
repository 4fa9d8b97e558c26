/**
 * Small statistics used by the load test and the benchmark: percentiles of raw samples,
 * quantiles of Prometheus histograms, and rates of monotonic counters.
 */

export interface Distribution {
  readonly count: number;
  readonly min: number;
  readonly mean: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * The q-quantile of ascending values, interpolated between the two closest ranks (the
 * "type 7" estimator of R and NumPy's default), so small samples do not jump between
 * neighbours when one value is added.
 */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = Math.min(1, Math.max(0, q)) * (sorted.length - 1);
  const lower = Math.floor(position);
  const below = sorted[lower] ?? Number.NaN;
  const above = sorted[Math.min(lower + 1, sorted.length - 1)] ?? below;
  return below + (above - below) * (position - lower);
}

export function summarize(values: readonly number[]): Distribution | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: sorted.length,
    min: sorted[0] ?? Number.NaN,
    mean: sum / sorted.length,
    p50: quantile(sorted, 0.5),
    p95: quantile(sorted, 0.95),
    p99: quantile(sorted, 0.99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/** One cumulative histogram bucket: `count` observations were at most `le`. */
export interface Bucket {
  readonly le: number;
  readonly count: number;
}

/** Buckets of `next` minus those of `prev` (same bounds): the observations in between. */
export function bucketDelta(prev: readonly Bucket[], next: readonly Bucket[]): Bucket[] {
  const before = new Map(prev.map((bucket) => [bucket.le, bucket.count]));
  return next.map((bucket) => ({
    le: bucket.le,
    // A restarted process resets its counters; its new totals are then the whole delta.
    count: Math.max(0, bucket.count - (before.get(bucket.le) ?? 0)),
  }));
}

/**
 * Prometheus' `histogram_quantile`: find the bucket holding rank q × total and interpolate
 * linearly inside it (the first bucket starts at 0). A rank in the +Inf bucket answers the
 * highest finite bound, as Prometheus does. Null when the histogram is empty.
 */
export function histogramQuantile(buckets: readonly Bucket[], q: number): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total <= 0) return null;
  const rank = Math.min(1, Math.max(0, q)) * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bucket of sorted) {
    if (bucket.count >= rank && bucket.count > lowerCount) {
      if (bucket.le === Number.POSITIVE_INFINITY) return lowerBound;
      const inBucket = bucket.count - lowerCount;
      return lowerBound + (bucket.le - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    if (bucket.le !== Number.POSITIVE_INFINITY) lowerBound = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerBound;
}

/** Total number of observations of a cumulative histogram. */
export function histogramCount(buckets: readonly Bucket[]): number {
  let max = 0;
  for (const bucket of buckets) max = Math.max(max, bucket.count);
  return max;
}

/**
 * Rate of a monotonic counter between successive observations. The first observation only
 * sets the baseline; a counter that went down (a restarted producer of the number) is
 * treated as starting again from zero.
 */
export class RateSampler {
  #lastAtMs: number | undefined;
  #lastValue = 0;

  /** Per-second rate since the previous call, or undefined on the first call. */
  observe(atMs: number, value: number): number | undefined {
    const lastAt = this.#lastAtMs;
    const lastValue = this.#lastValue;
    this.#lastAtMs = atMs;
    this.#lastValue = value;
    if (lastAt === undefined || atMs <= lastAt) return undefined;
    const delta = value >= lastValue ? value - lastValue : value;
    return (delta * 1000) / (atMs - lastAt);
  }
}

/**
 * Highest average rate over any window of `windowSeconds` consecutive per-second rates:
 * the sustained throughput, less noisy than the single best second.
 */
export function maxSustainedRate(rates: readonly number[], windowSeconds: number): number {
  if (rates.length === 0) return 0;
  const width = Math.max(1, Math.min(windowSeconds, rates.length));
  let sum = 0;
  for (let index = 0; index < width; index += 1) sum += rates[index] ?? 0;
  let best = sum;
  for (let index = width; index < rates.length; index += 1) {
    sum += (rates[index] ?? 0) - (rates[index - width] ?? 0);
    best = Math.max(best, sum);
  }
  return best / width;
}
