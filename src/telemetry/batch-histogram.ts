import type { Metric, Registry } from 'prom-client';

/**
 * One labelled series of a BatchHistogram: its buckets, sum and count, added to directly.
 * `counts[i]` holds the values in (bounds[i-1], bounds[i]]; the last slot those above every
 * bound (+Inf). Cumulated only when scraped.
 */
export class HistogramSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: Float64Array) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  /** Adds every `stride`-th value of `values` from `start`, `rows` of them (NaN left out). */
  addColumn(values: Float32Array, start: number, stride: number, rows: number): void {
    const { bounds, counts } = this;
    const last = bounds.length;
    let sum = 0;
    let count = 0;
    for (let row = 0, at = start; row < rows; row += 1, at += stride) {
      const value = values[at] ?? Number.NaN;
      // A NaN would poison the sum for good; the model does not give one, the guard is cheap.
      if (Number.isNaN(value)) continue;
      let bucket = 0;
      while (bucket < last && value > (bounds[bucket] ?? 0)) bucket += 1;
      counts[bucket] = (counts[bucket] ?? 0) + 1;
      sum += value;
      count += 1;
    }
    this.sum += sum;
    this.count += count;
  }
}

interface Sample {
  readonly metricName: string;
  readonly labels: Record<string, string | number>;
  readonly value: number;
}

/**
 * A Prometheus histogram fed a batch at a time: a series per label value, made at start and
 * kept by the caller, so that adding a batch's values is a loop over a typed array (no label
 * lookup, no call per value). prom-client's Histogram offers only one `observe` per value,
 * each hashing its labels, which costs more than the model's whole output per message.
 */
export class BatchHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #series = new Map<string, HistogramSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    /** No label: one series, named ''. */
    private readonly labelName: string | undefined,
    labelValues: readonly string[],
    buckets: readonly number[],
    registry: Registry,
  ) {
    const bounds = Float64Array.from(buckets);
    for (const value of labelValues) this.#series.set(value, new HistogramSeries(bounds));
    // The registry formats any metric whose get() yields samples; its types list only its own.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of a label value given at construction. */
  series(labelValue: string): HistogramSeries {
    const series = this.#series.get(labelValue);
    if (series === undefined) throw new Error(`${this.name} has no series ${labelValue}`);
    return series;
  }

  get(): Promise<{
    name: string;
    help: string;
    type: string;
    aggregator: string;
    values: Sample[];
  }> {
    const values: Sample[] = [];
    for (const [labelValue, series] of this.#series) {
      const labels: Record<string, string> =
        this.labelName === undefined ? {} : { [this.labelName]: labelValue };
      let cumulative = 0;
      series.bounds.forEach((bound, index) => {
        cumulative += series.counts[index] ?? 0;
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { ...labels, le: bound },
          value: cumulative,
        });
      });
      values.push({
        metricName: `${this.name}_bucket`,
        labels: { ...labels, le: '+Inf' },
        value: series.count,
      });
      values.push({ metricName: `${this.name}_sum`, labels, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: series.count });
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }

  reset(): void {
    for (const series of this.#series.values()) {
      series.counts.fill(0);
      series.sum = 0;
      series.count = 0;
    }
  }
}
