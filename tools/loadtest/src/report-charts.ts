import type { LoadReport, LoadSample } from './report-model.js';
import { SERVICE_METRICS } from './service-metrics.js';

/**
 * The report's charts as data: one x axis (seconds since the start), series of y values
 * aligned with it, drawn in the page by uPlot (report-render.ts). Pure, so what each chart
 * holds is tested without a browser.
 */

export interface ChartSeries {
  readonly name: string;
  readonly color: string;
  readonly values: readonly (number | null)[];
  /** `y2`: the right-hand axis (replicas, sinks down). */
  readonly scale?: 'y' | 'y2';
  readonly dashed?: boolean;
  /** Holds each value until the next point (counts such as replicas), instead of a slope. */
  readonly step?: boolean;
  /** Joins the line over missing values (series sampled at other times than the x axis). */
  readonly spanGaps?: boolean;
}

export interface ChartSpec {
  readonly id: string;
  readonly title: string;
  readonly yLabel: string;
  readonly y2Label?: string;
  readonly x: readonly number[];
  readonly series: readonly ChartSeries[];
  /** Vertical lines with a label, e.g. "production ends". */
  readonly markers: readonly { readonly x: number; readonly label: string }[];
  /** A sentence under the chart: what is measured and how precisely. */
  readonly note?: string;
}

const COLORS = {
  produce: '#2563eb',
  commit: '#16a34a',
  lag: '#dc2626',
  lagMax: '#f59e0b',
  p50: '#16a34a',
  p95: '#f59e0b',
  p99: '#dc2626',
  desired: '#7c3aed',
  ready: '#0891b2',
  hpa: '#2563eb',
  palette: ['#2563eb', '#dc2626', '#16a34a', '#f59e0b', '#7c3aed', '#0891b2', '#db2777', '#65a30d'],
} as const;

function color(index: number): string {
  return COLORS.palette[index % COLORS.palette.length] ?? '#000';
}

const QUANTILES = ['p50', 'p95', 'p99'] as const;

/** Keys with a non-zero value in any sample, sorted. */
function keysSeen(
  samples: readonly LoadSample[],
  get: (sample: LoadSample) => Readonly<Record<string, number>> | undefined,
): string[] {
  const keys = new Set<string>();
  for (const sample of samples) {
    for (const [key, value] of Object.entries(get(sample) ?? {})) if (value > 0) keys.add(key);
  }
  return [...keys].sort();
}

/** Per-interval rate of a per-interval count: count / seconds since the previous sample. */
function perSecond(
  samples: readonly LoadSample[],
  count: (sample: LoadSample, index: number) => number | null,
): (number | null)[] {
  return samples.map((sample, index) => {
    const value = count(sample, index);
    const seconds = sample.t - (samples[index - 1]?.t ?? 0);
    return value === null || seconds <= 0 ? null : value / seconds;
  });
}

/**
 * Lag of the samples with the replicas on a second axis. In Kubernetes mode the cluster
 * is read on its own clock (and after the load, to show the scale-down): the x axis is the
 * union of both, each series null where it has no reading and drawn across the gaps.
 */
function lagChart(report: LoadReport, markers: ChartSpec['markers']): ChartSpec {
  const samples = report.samples;
  const maxPartition = (sample: LoadSample): number | null =>
    sample.lagByPartition.length === 0 ? null : Math.max(...sample.lagByPartition);
  const title = 'Consumer group lag and replicas';
  if (report.cluster.length === 0) {
    return {
      id: 'chart-lag',
      title,
      yLabel: 'messages',
      y2Label: 'replicas',
      x: samples.map((sample) => sample.t),
      markers,
      series: [
        { name: 'total lag', color: COLORS.lag, values: samples.map((sample) => sample.lag) },
        {
          name: 'largest partition lag',
          color: COLORS.lagMax,
          dashed: true,
          values: samples.map(maxPartition),
        },
        {
          name: 'consumers answering',
          color: COLORS.ready,
          scale: 'y2',
          step: true,
          values: samples.map((sample) => sample.replicas),
        },
      ],
      note: 'Local mode: the replicas are the consumer processes answering /metrics.',
    };
  }
  const start = Date.parse(report.startedAt);
  const rows = new Map<number, { sample?: LoadSample; cluster?: LoadReport['cluster'][number] }>();
  const at = (t: number): number => Math.round(t * 1000) / 1000;
  for (const sample of samples) rows.set(at(sample.t), { sample });
  for (const cluster of report.cluster) {
    const t = at((cluster.atMs - start) / 1000);
    rows.set(t, { ...rows.get(t), cluster });
  }
  const ordered = [...rows].sort(([a], [b]) => a - b);
  const column = (get: (row: (typeof ordered)[number][1]) => number | null | undefined) =>
    ordered.map(([, row]) => get(row) ?? null);
  return {
    id: 'chart-lag',
    title,
    yLabel: 'messages',
    y2Label: 'replicas',
    x: ordered.map(([t]) => t),
    markers,
    series: [
      {
        name: 'total lag',
        color: COLORS.lag,
        spanGaps: true,
        values: column((row) => row.sample?.lag),
      },
      {
        name: 'largest partition lag',
        color: COLORS.lagMax,
        dashed: true,
        spanGaps: true,
        values: column((row) => (row.sample === undefined ? null : maxPartition(row.sample))),
      },
      {
        name: 'asked for (spec.replicas)',
        color: COLORS.desired,
        scale: 'y2',
        step: true,
        spanGaps: true,
        values: column((row) => row.cluster?.specReplicas),
      },
      {
        name: 'HPA desired',
        color: COLORS.hpa,
        scale: 'y2',
        step: true,
        dashed: true,
        spanGaps: true,
        values: column((row) => row.cluster?.hpa?.desiredReplicas),
      },
      {
        name: 'ready pods',
        color: COLORS.ready,
        scale: 'y2',
        step: true,
        spanGaps: true,
        values: column((row) => row.cluster?.podsReady),
      },
    ],
    note: 'Replicas on the right-hand axis; the cluster is read every second, also after the load (scale-down).',
  };
}

function errorsChart(report: LoadReport, markers: ChartSpec['markers']): ChartSpec {
  const samples = report.samples;
  const series: ChartSeries[] = [];
  let index = 0;
  for (const reason of keysSeen(samples, (sample) => sample.errors?.deadLettered)) {
    series.push({
      name: `dead-lettered: ${reason}`,
      color: color(index++),
      values: perSecond(samples, (sample) =>
        sample.errors === null ? null : (sample.errors.deadLettered[reason] ?? 0),
      ),
    });
  }
  for (const sink of keysSeen(samples, (sample) => sample.errors?.sinkRetries)) {
    series.push({
      name: `retries: ${sink}`,
      color: color(index++),
      dashed: true,
      values: perSecond(samples, (sample) =>
        sample.errors === null ? null : (sample.errors.sinkRetries[sink] ?? 0),
      ),
    });
  }
  series.push({
    name: 'send errors',
    color: '#111827',
    values: perSecond(
      samples,
      (sample, i) => sample.sendFailed - (samples[i - 1]?.sendFailed ?? 0),
    ),
  });
  if (report.summary.errors.scraped) {
    series.push({
      name: 'sinks down',
      color: '#9ca3af',
      scale: 'y2',
      step: true,
      values: samples.map((sample) => sample.errors?.sinksDown.length ?? null),
    });
  }
  return {
    id: 'chart-errors',
    title: 'Errors: dead letters by reason, sink retries, send errors; sinks down',
    yLabel: 'per second',
    ...(report.summary.errors.scraped ? { y2Label: 'sinks down' } : {}),
    x: samples.map((sample) => sample.t),
    markers,
    series,
    note: report.summary.errors.scraped
      ? 'Dead letters and retries from the consumers’ counters (a line per reason or sink that occurred); sinks down from offers_sink_up.'
      : 'The consumers’ metrics are not read in this mode: only the generator’s send errors are known.',
  };
}

export function chartSpecs(report: LoadReport): ChartSpec[] {
  const samples = report.samples;
  const markers = [{ x: report.summary.productionSeconds, label: 'production ends' }];
  const x = samples.map((sample) => sample.t);
  const latencyChart = (
    id: string,
    store: string,
    title: string,
    note: string,
    get: (sample: LoadSample) => Partial<Record<(typeof QUANTILES)[number], number | null>> | null,
  ): ChartSpec => ({
    id,
    title,
    yLabel: 'ms',
    x,
    markers,
    series: QUANTILES.map((q) => ({
      name: `${store} ${q}`,
      color: COLORS[q],
      values: samples.map((sample) => get(sample)?.[q] ?? null),
    })),
    note,
  });
  const charts: ChartSpec[] = [
    {
      id: 'chart-throughput',
      title: 'Throughput',
      yLabel: 'messages / s',
      x,
      markers,
      series: [
        {
          name: 'produced',
          color: COLORS.produce,
          values: samples.map((s) => s.produceRate),
        },
        { name: 'committed', color: COLORS.commit, values: samples.map((s) => s.commitRate) },
      ],
    },
    lagChart(report, markers),
    errorsChart(report, markers),
    latencyChart(
      'chart-redis-latency',
      'Redis',
      'End-to-end latency: Kafka timestamp → offer readable in Redis (sampled users)',
      `Polled every ${report.settings.redisPollMs} ms: that is the resolution.`,
      (sample) => sample.redisLatencyMs,
    ),
  ];
  if (samples.some((sample) => sample.clickhouseLatencyMs !== null)) {
    charts.push(
      latencyChart(
        'chart-clickhouse-latency',
        'ClickHouse',
        'End-to-end latency: Kafka timestamp → row returned by a ClickHouse SELECT (sampled users)',
        `The same sampled users, looked up by user_id every ${report.settings.clickhousePollMs} ms (the resolution) and timed with the Kafka timestamp inside the row's version (milliseconds), not with processed_at − event_time: those are DateTime, whole seconds, so a row stored 300 ms after its event reads 0 or 1 s.`,
        (sample) => sample.clickhouseLatencyMs,
      ),
    );
  }
  if (samples.some((sample) => sample.consumerLatencyMs !== null)) {
    charts.push(
      latencyChart(
        'chart-consumer-latency',
        'consumer',
        'End-to-end latency: the consumers’ histogram (Kafka timestamp → both sinks acked)',
        `${SERVICE_METRICS.endToEndLatency}, interpolated within its buckets (…, 25, 50, 100, 250, 500 ms, 1 s, …).`,
        (sample) => sample.consumerLatencyMs,
      ),
    );
  }
  const names = [...new Set(samples.flatMap((sample) => sample.processes.map((p) => p.name)))];
  if (names.length > 0) {
    const perProcess = (field: 'cpuPercent' | 'rssMb'): ChartSeries[] =>
      names.map((name, index) => ({
        name,
        color: color(index),
        values: samples.map(
          (sample) => sample.processes.find((p) => p.name === name)?.[field] ?? null,
        ),
      }));
    charts.push(
      {
        id: 'chart-cpu',
        title: 'CPU per process (100 % = one core)',
        yLabel: '% of one core',
        x,
        markers,
        series: perProcess('cpuPercent'),
      },
      {
        id: 'chart-memory',
        title: 'Resident memory per process',
        yLabel: 'MB',
        x,
        markers,
        series: perProcess('rssMb'),
      },
    );
  }
  const metricNames = [
    ...new Set(report.cluster.flatMap((c) => c.hpa?.metrics.map((m) => m.name) ?? [])),
  ];
  if (metricNames.length > 0) {
    const start = Date.parse(report.startedAt);
    const metric = (name: string, field: 'current' | 'target') =>
      report.cluster.map((c) => c.hpa?.metrics.find((m) => m.name === name)?.[field] ?? null);
    charts.push({
      id: 'chart-hpa',
      title: 'HPA metric (KEDA: lag per replica) and its target',
      yLabel: 'value',
      x: report.cluster.map((c) => (c.atMs - start) / 1000),
      markers,
      series: metricNames.flatMap((name, index) => [
        { name: `${name} current`, color: color(index), values: metric(name, 'current') },
        {
          name: `${name} target`,
          color: color(index),
          dashed: true,
          values: metric(name, 'target'),
        },
      ]),
    });
  }
  return charts;
}
