// The figures of a whole run that the report shows and thresholds are judged on.
import type { HistogramWindow } from './metrics-scraper.js';
import type { Distribution } from './stats.js';

export interface ProbeTotals {
  readonly observed: number;
  readonly skipped: number;
  readonly timedOut: number;
  readonly pendingAtEnd: number;
}

/** The probes of both stores; ClickHouse's is null when the run had no ClickHouse to read. */
export interface Probes {
  readonly redis: ProbeTotals;
  readonly clickhouse: ProbeTotals | null;
  /** Why a store could not be read, if it could not (e.g. no SELECT permission). */
  readonly clickhouseError: string | null;
}

/** Failures over the whole run. */
export interface ErrorSummary {
  /** False when the consumers' metrics were not read (Kubernetes mode): the next four are unknown. */
  readonly scraped: boolean;
  readonly deadLettered: Readonly<Record<string, number>>;
  readonly deadLetteredTotal: number;
  readonly sinkRetries: Readonly<Record<string, number>>;
  readonly sinkErrors: Readonly<Record<string, number>>;
  /** Seconds during which at least one consumer reported the sink down, by sink. */
  readonly sinkDownSeconds: Readonly<Record<string, number>>;
  /** Seconds during which any sink was reported down. */
  readonly anySinkDownSeconds: number;
  readonly sendErrors: number;
  readonly lastSendError: string | null;
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
  readonly clickhouseLatencyMs: Distribution | null;
  readonly consumerLatencyMs: HistogramWindow | null;
  readonly probes: Probes;
  readonly errors: ErrorSummary;
  readonly processes: readonly ProcessSummary[];
  readonly replicas: { readonly min: number; readonly max: number } | null;
}
