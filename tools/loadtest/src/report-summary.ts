import type { ProbeTotals } from './load-summary.js';
import type { LoadReport } from './report-model.js';
import type { Distribution } from './stats.js';
import { formatValue } from './thresholds.js';

/** The load test's report summed up in rows: the terminal's and the markdown table. */

export function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function ms(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return value >= 100 ? `${Math.round(value)} ms` : `${value.toFixed(1)} ms`;
}

export function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return `${value.toFixed(value >= 100 ? 0 : 1)} s`;
}

function distributionMs(distribution: Distribution | null): string {
  if (distribution === null) return '–';
  return `p50 ${ms(distribution.p50)} · p95 ${ms(distribution.p95)} · p99 ${ms(distribution.p99)} · max ${ms(distribution.max)} (n=${formatCount(distribution.count)})`;
}

function probeText(probes: ProbeTotals): string {
  return `${formatCount(probes.observed)} observed, ${formatCount(probes.skipped)} skipped, ${formatCount(probes.timedOut)} timed out`;
}

function byKey(values: Readonly<Record<string, number>>): string {
  const entries = Object.entries(values).filter(([, value]) => value > 0);
  return entries.length === 0
    ? ''
    : ` (${entries.map(([key, value]) => `${key} ${formatCount(value)}`).join(', ')})`;
}

function total(values: Readonly<Record<string, number>>): number {
  return Object.values(values).reduce((sum, value) => sum + value, 0);
}

function errorsText(report: LoadReport, what: 'dlq' | 'sinks'): string {
  const e = report.summary.errors;
  if (!e.scraped) return 'unknown (the consumers’ metrics were not read)';
  if (what === 'dlq') {
    const rate = e.deadLetteredTotal / Math.max(1, report.summary.produced);
    return `${formatCount(e.deadLetteredTotal)}${byKey(e.deadLettered)}, ${formatValue(rate)} of produced`;
  }
  const down = Object.entries(e.sinkDownSeconds)
    .filter(([, value]) => value > 0)
    .map(([sink, value]) => `${sink} ${seconds(value)}`);
  return `${formatCount(total(e.sinkRetries))}${byKey(e.sinkRetries)} / ${formatCount(total(e.sinkErrors))}${byKey(e.sinkErrors)}; down ${down.length === 0 ? 'never' : down.join(', ')}`;
}

export function sendErrorsText(report: LoadReport): string {
  const e = report.summary.errors;
  return `${formatCount(e.sendErrors)}${e.lastSendError === null ? '' : ` (last: ${e.lastSendError})`}`;
}

/** Rows of the summary: [what, value]. */
export function summaryRows(report: LoadReport): [string, string][] {
  const s = report.summary;
  const rows: [string, string][] = [
    [
      'production',
      `${seconds(s.productionSeconds)} at target ${report.settings.rate > 0 ? `${formatCount(report.settings.rate)} msg/s` : 'max'}`,
    ],
    ['produced (acked)', `${formatCount(s.produced)} (${formatCount(s.avgProduceRate)} msg/s)`],
    [
      'committed',
      `${formatCount(s.committed)} (${formatCount(s.avgCommitRate)} msg/s over the run)`,
    ],
    ['best 5 s commit rate', `${formatCount(s.sustainedCommitRate)} msg/s`],
    ['max lag / final lag', `${formatCount(s.maxLag)} / ${formatCount(s.finalLag)}`],
    [
      'drained after production',
      s.drainSeconds === null ? 'not within the drain timeout' : seconds(s.drainSeconds),
    ],
    ['latency to Redis (probe)', distributionMs(s.redisLatencyMs)],
    [
      'latency, consumer histogram',
      s.consumerLatencyMs === null
        ? '–'
        : `p50 ${ms(s.consumerLatencyMs.p50)} · p95 ${ms(s.consumerLatencyMs.p95)} · p99 ${ms(s.consumerLatencyMs.p99)} (n=${formatCount(s.consumerLatencyMs.count)})`,
    ],
    ['latency to ClickHouse (probe)', distributionMs(s.clickhouseLatencyMs)],
    ['Redis probes', probeText(s.probes.redis)],
    [
      'ClickHouse probes',
      s.probes.clickhouse === null
        ? 'not run'
        : `${probeText(s.probes.clickhouse)}${s.probes.clickhouseError === null ? '' : ` (${s.probes.clickhouseError})`}`,
    ],
    ['dead-lettered', errorsText(report, 'dlq')],
    ['sink retries / failed writes', errorsText(report, 'sinks')],
    ['send errors', sendErrorsText(report)],
  ];
  if (report.settings.consumerReadyMs.length > 0) {
    rows.push([
      'consumer start to ready',
      report.settings.consumerReadyMs.map((value) => `${formatCount(value)} ms`).join(', '),
    ]);
  }
  for (const process of s.processes) {
    rows.push([
      `process ${process.name}`,
      `CPU avg ${process.avgCpuPercent === null ? '–' : `${Math.round(process.avgCpuPercent)} %`}, max ${process.maxCpuPercent === null ? '–' : `${Math.round(process.maxCpuPercent)} %`}, peak RSS ${process.peakRssMb === null ? '–' : `${Math.round(process.peakRssMb)} MB`}`,
    ]);
  }
  if (s.replicas !== null) {
    rows.push(['ready replicas', `min ${s.replicas.min}, max ${s.replicas.max}`]);
  }
  return rows;
}

export function summaryTable(report: LoadReport): string {
  const rows = summaryRows(report);
  const width = Math.max(...rows.map(([name]) => name.length), 'measure'.length);
  return [
    `| ${'measure'.padEnd(width)} | value |`,
    `| ${'-'.repeat(width)} | ----- |`,
    ...rows.map(([name, value]) => `| ${name.padEnd(width)} | ${value} |`),
  ].join('\n');
}
