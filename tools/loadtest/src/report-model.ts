import type { ClusterSample, ScalingEvent } from './kubernetes/cluster-status.js';
import type { HistogramWindow } from './metrics-scraper.js';
import type { MachineInfo } from './proc-stats.js';
import { maxSustainedRate, summarize, type Distribution } from './stats.js';

/** CPU and memory of one local process at one sample. */
export interface ProcessSample {
  readonly name: string;
  /** Percent of one core over the last interval (200 = two cores busy). */
  readonly cpuPercent: number | null;
  readonly rssMb: number | null;
}

/** What the load test measured during one interval (normally one second). */
export interface LoadSample {
  /** Seconds since production started. */
  readonly t: number;
  /** Messages the brokers acknowledged since the start. */
  readonly produced: number;
  readonly produceRate: number | null;
  /** Messages committed by the consumer group since the start. */
  readonly committed: number;
  readonly commitRate: number | null;
  readonly lag: number;
  readonly lagByPartition: readonly number[];
  /** Kafka timestamp → offer readable in Redis, for the users sampled in this interval. */
  readonly redisLatencyMs: Distribution | null;
  /** The consumers' own `offers_end_to_end_latency_seconds`, this interval's observations. */
  readonly consumerLatencyMs: HistogramWindow | null;
  readonly processes: readonly ProcessSample[];
}

/** ClickHouse's view: `processed_at - event_time` of the rows of one event second. */
export interface ClickHouseSecond {
  /** Seconds since production started (of `event_time`). */
  readonly t: number;
  readonly rows: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly max: number;
}

export interface LoadSettings {
  readonly mode: string;
  readonly topic: string;
  readonly groupId: string;
  readonly partitions: number | null;
  readonly rate: number;
  readonly durationSeconds: number | null;
  readonly count: number | null;
  readonly consumers: number | null;
  readonly consumerEnv: Readonly<Record<string, string>>;
  /** Per consumer started by the run: from spawn to the first 200 of /readyz. */
  readonly consumerReadyMs: readonly number[];
  readonly probesPerSecond: number;
}

export interface ProbeTotals {
  readonly observed: number;
  readonly skipped: number;
  readonly timedOut: number;
  readonly pendingAtEnd: number;
}

export interface ProcessSummary {
  readonly name: string;
  readonly avgCpuPercent: number | null;
  readonly maxCpuPercent: number | null;
  readonly peakRssMb: number | null;
}

export interface LoadSummary {
  readonly productionSeconds: number;
  readonly produced: number;
  readonly avgProduceRate: number;
  readonly committed: number;
  /** Committed messages over the whole run, production and drain. */
  readonly avgCommitRate: number;
  /** Best average over 5 consecutive seconds. */
  readonly sustainedCommitRate: number;
  readonly maxLag: number;
  readonly finalLag: number;
  /** From the end of production until the lag was zero; null if it never was. */
  readonly drainSeconds: number | null;
  readonly redisLatencyMs: Distribution | null;
  readonly consumerLatencyMs: HistogramWindow | null;
  readonly clickhouseLatencySeconds: Distribution | null;
  readonly probes: ProbeTotals;
  readonly processes: readonly ProcessSummary[];
  readonly replicas: { readonly min: number; readonly max: number } | null;
}

export interface LoadReport {
  readonly kind: 'realtime-offers-load-test';
  readonly version: 1;
  readonly startedAt: string;
  readonly machine: MachineInfo;
  readonly settings: LoadSettings;
  readonly samples: readonly LoadSample[];
  readonly clickhouseLatency: readonly ClickHouseSecond[];
  readonly cluster: readonly ClusterSample[];
  readonly scalingEvents: readonly ScalingEvent[];
  readonly summary: LoadSummary;
}

export interface ReportParts {
  readonly startedAt: string;
  readonly machine: MachineInfo;
  readonly settings: LoadSettings;
  readonly samples: readonly LoadSample[];
  /** Every Redis probe latency of the run (ms). */
  readonly redisLatencies: readonly number[];
  readonly probes: ProbeTotals;
  /** The consumers' histogram over the whole run. */
  readonly consumerLatencyMs: HistogramWindow | null;
  readonly productionSeconds: number;
  readonly clickhouseLatency: readonly ClickHouseSecond[];
  /** `processed_at - event_time` over every row of the run, seconds. */
  readonly clickhouseOverall: Distribution | null;
  readonly cluster?: readonly ClusterSample[];
  readonly scalingEvents?: readonly ScalingEvent[];
}

function summarizeProcesses(samples: readonly LoadSample[]): ProcessSummary[] {
  const byName = new Map<string, { cpu: number[]; rss: number[] }>();
  for (const sample of samples) {
    for (const process of sample.processes) {
      const entry = byName.get(process.name) ?? { cpu: [], rss: [] };
      if (process.cpuPercent !== null) entry.cpu.push(process.cpuPercent);
      if (process.rssMb !== null) entry.rss.push(process.rssMb);
      byName.set(process.name, entry);
    }
  }
  return [...byName].map(([name, { cpu, rss }]) => ({
    name,
    avgCpuPercent: cpu.length === 0 ? null : cpu.reduce((a, b) => a + b, 0) / cpu.length,
    maxCpuPercent: cpu.length === 0 ? null : Math.max(...cpu),
    peakRssMb: rss.length === 0 ? null : Math.max(...rss),
  }));
}

/** Seconds from the end of production until the first sample with zero lag. */
export function drainSeconds(
  samples: readonly LoadSample[],
  productionSeconds: number,
): number | null {
  const drained = samples.find((sample) => sample.t >= productionSeconds && sample.lag === 0);
  return drained === undefined ? null : Math.max(0, drained.t - productionSeconds);
}

export function buildReport(parts: ReportParts): LoadReport {
  const samples = parts.samples;
  const last = samples.at(-1);
  const totalSeconds = Math.max(last?.t ?? 0, 0.001);
  const cluster = parts.cluster ?? [];
  const replicas = cluster.map((sample) => sample.readyReplicas);
  return {
    kind: 'realtime-offers-load-test',
    version: 1,
    startedAt: parts.startedAt,
    machine: parts.machine,
    settings: parts.settings,
    samples,
    clickhouseLatency: parts.clickhouseLatency,
    cluster,
    scalingEvents: parts.scalingEvents ?? [],
    summary: {
      productionSeconds: parts.productionSeconds,
      produced: last?.produced ?? 0,
      avgProduceRate: (last?.produced ?? 0) / Math.max(parts.productionSeconds, 0.001),
      committed: last?.committed ?? 0,
      avgCommitRate: (last?.committed ?? 0) / totalSeconds,
      sustainedCommitRate: maxSustainedRate(
        samples.map((sample) => sample.commitRate ?? 0),
        5,
      ),
      maxLag: samples.reduce((max, sample) => Math.max(max, sample.lag), 0),
      finalLag: last?.lag ?? 0,
      drainSeconds: drainSeconds(samples, parts.productionSeconds),
      redisLatencyMs: summarize(parts.redisLatencies),
      consumerLatencyMs: parts.consumerLatencyMs,
      clickhouseLatencySeconds: parts.clickhouseOverall,
      probes: parts.probes,
      processes: summarizeProcesses(samples),
      replicas:
        replicas.length === 0 ? null : { min: Math.min(...replicas), max: Math.max(...replicas) },
    },
  };
}
