import type { ClusterSample, ScalingEvent } from './kubernetes/cluster-status.js';
import type { ErrorWindow, HistogramWindow } from './metrics-scraper.js';
import type { MachineInfo } from './proc-stats.js';
import { maxSustainedRate, summarize, type Distribution } from './stats.js';
import type { ErrorSummary, LoadSummary, Probes, ProcessSummary } from './load-summary.js';
import { evaluateThresholds, type Threshold, type ThresholdResult } from './thresholds.js';

export type {
  ErrorSummary,
  LoadSummary,
  ProbeTotals,
  Probes,
  ProcessSummary,
} from './load-summary.js';

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
  /** Kafka timestamp → row returned by a ClickHouse SELECT, for the users sampled. */
  readonly clickhouseLatencyMs: Distribution | null;
  /** The consumers' own `offers_end_to_end_latency_seconds`, this interval's observations. */
  readonly consumerLatencyMs: HistogramWindow | null;
  /** Failures the consumers reported in this interval; null when they were not scraped. */
  readonly errors: ErrorWindow | null;
  /** Messages of produce requests the brokers did not acknowledge, since the start. */
  readonly sendFailed: number;
  /** Consumers answering (local) or ready pods (Kubernetes); null when unknown. */
  readonly replicas: number | null;
  readonly processes: readonly ProcessSample[];
}

export interface LoadSettings {
  readonly mode: string;
  readonly topic: string;
  readonly groupId: string;
  readonly partitions: number | null;
  readonly rate: number;
  readonly durationSeconds: number | null;
  readonly count: number | null;
  readonly seed: number;
  readonly firstUserId: number;
  /** Messages per produce request and requests in flight. */
  readonly batchSize: number;
  readonly inFlight: number;
  /** Every Nth message is invalid (0: none). */
  readonly invalidEvery: number;
  readonly consumers: number | null;
  /** The consumer settings given with --consumer-env. */
  readonly consumerEnv: Readonly<Record<string, string>>;
  /** The service's settings that shape throughput and latency, as the consumers ran them. */
  readonly serviceSettings: Readonly<Record<string, string | number | boolean>>;
  /** Per consumer started by the run: from spawn to the first 200 of /readyz. */
  readonly consumerReadyMs: readonly number[];
  readonly probesPerSecond: number;
  readonly redisPollMs: number;
  readonly clickhousePollMs: number;
  readonly drainTimeoutSeconds: number;
}

/** What ran: the service and model the consumers reported, the load test's own source. */
export interface RunVersions {
  readonly service: string | null;
  readonly model: string | null;
  /** The consumers' Node.js (the load test's own is in `machine`). */
  readonly serviceNode: string | null;
  /** The Deployment's image in Kubernetes mode. */
  readonly image: string | null;
  /** `git describe`-style commit of the checkout the load test ran from, `-dirty` if changed. */
  readonly gitCommit: string | null;
}

export interface LoadReport {
  readonly kind: 'realtime-offers-load-test';
  readonly version: 2;
  readonly startedAt: string;
  readonly machine: MachineInfo;
  readonly settings: LoadSettings;
  readonly versions: RunVersions;
  readonly samples: readonly LoadSample[];
  readonly cluster: readonly ClusterSample[];
  readonly scalingEvents: readonly ScalingEvent[];
  readonly summary: LoadSummary;
  /** Each --threshold with its measured value; the verdict fails if any failed. */
  readonly thresholds: readonly ThresholdResult[];
  readonly verdict: Verdict;
}

export type Verdict = 'passed' | 'failed' | 'no thresholds';

export function verdictOf(results: readonly ThresholdResult[]): Verdict {
  if (results.length === 0) return 'no thresholds';
  return results.every((result) => result.passed) ? 'passed' : 'failed';
}

export interface ReportParts {
  readonly startedAt: string;
  readonly machine: MachineInfo;
  readonly settings: LoadSettings;
  readonly versions: RunVersions;
  readonly samples: readonly LoadSample[];
  /** Every Redis probe latency of the run (ms). */
  readonly redisLatencies: readonly number[];
  /** Every ClickHouse probe latency of the run (ms). */
  readonly clickhouseLatencies: readonly number[];
  readonly probes: Probes;
  /** The consumers' histogram over the whole run. */
  readonly consumerLatencyMs: HistogramWindow | null;
  readonly productionSeconds: number;
  readonly lastSendError?: string | null;
  readonly cluster?: readonly ClusterSample[];
  readonly scalingEvents?: readonly ScalingEvent[];
  readonly thresholds?: readonly Threshold[];
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

function addUp(into: Record<string, number>, from: Readonly<Record<string, number>>): void {
  for (const [key, value] of Object.entries(from)) into[key] = (into[key] ?? 0) + value;
}

/** Failures over the run, from the per-interval values of the samples. */
export function summarizeErrors(
  samples: readonly LoadSample[],
  lastSendError: string | null,
): ErrorSummary {
  const deadLettered: Record<string, number> = {};
  const sinkRetries: Record<string, number> = {};
  const sinkErrors: Record<string, number> = {};
  const sinkDownSeconds: Record<string, number> = {};
  let scraped = false;
  let anySinkDownSeconds = 0;
  let previousT = 0;
  for (const sample of samples) {
    const errors = sample.errors;
    if (errors !== null) {
      scraped = true;
      addUp(deadLettered, errors.deadLettered);
      addUp(sinkRetries, errors.sinkRetries);
      addUp(sinkErrors, errors.sinkErrors);
      for (const sink of errors.sinksDown) {
        sinkDownSeconds[sink] = (sinkDownSeconds[sink] ?? 0) + (sample.t - previousT);
      }
      if (errors.sinksDown.length > 0) anySinkDownSeconds += sample.t - previousT;
    }
    previousT = sample.t;
  }
  return {
    scraped,
    deadLettered,
    deadLetteredTotal: Object.values(deadLettered).reduce((sum, value) => sum + value, 0),
    sinkRetries,
    sinkErrors,
    sinkDownSeconds,
    anySinkDownSeconds,
    sendErrors: samples.at(-1)?.sendFailed ?? 0,
    lastSendError,
  };
}

export function buildReport(parts: ReportParts): LoadReport {
  const samples = parts.samples;
  const last = samples.at(-1);
  const totalSeconds = Math.max(last?.t ?? 0, 0.001);
  const cluster = parts.cluster ?? [];
  const replicas =
    cluster.length > 0
      ? cluster.map((sample) => sample.readyReplicas)
      : samples.flatMap((sample) => (sample.replicas === null ? [] : [sample.replicas]));
  const summary: LoadSummary = {
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
    clickhouseLatencyMs: summarize(parts.clickhouseLatencies),
    consumerLatencyMs: parts.consumerLatencyMs,
    probes: parts.probes,
    errors: summarizeErrors(samples, parts.lastSendError ?? null),
    processes: summarizeProcesses(samples),
    replicas:
      replicas.length === 0 ? null : { min: Math.min(...replicas), max: Math.max(...replicas) },
  };
  const thresholds = evaluateThresholds(parts.thresholds ?? [], summary);
  return {
    kind: 'realtime-offers-load-test',
    version: 2,
    startedAt: parts.startedAt,
    machine: parts.machine,
    settings: parts.settings,
    versions: parts.versions,
    samples,
    cluster,
    scalingEvents: parts.scalingEvents ?? [],
    summary,
    thresholds,
    verdict: verdictOf(thresholds),
  };
}
