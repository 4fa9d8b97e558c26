import { describeMetrics, type ScalingEvent } from './kubernetes/cluster-status.js';
import type { LoadReport } from './report-model.js';
import type { Distribution } from './stats.js';
import { escapeXml, lineChart, type Point, type Series } from './svg-chart.js';

/** The load test's report as a terminal/markdown table and as one self-contained HTML file. */

const COLORS = {
  produce: '#2563eb',
  commit: '#16a34a',
  lag: '#dc2626',
  lagMax: '#f59e0b',
  p50: '#16a34a',
  p95: '#f59e0b',
  p99: '#dc2626',
  desired: '#7c3aed',
  ready: '#16a34a',
  replicas: '#2563eb',
  metric: '#dc2626',
  cpu: ['#2563eb', '#dc2626', '#16a34a', '#f59e0b', '#7c3aed', '#0891b2', '#db2777', '#65a30d'],
} as const;

export function formatCount(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

function ms(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return value >= 100 ? `${Math.round(value)} ms` : `${value.toFixed(1)} ms`;
}

function seconds(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '–';
  return `${value.toFixed(value >= 100 ? 0 : 1)} s`;
}

function distributionMs(distribution: Distribution | null): string {
  if (distribution === null) return '–';
  return `p50 ${ms(distribution.p50)} · p95 ${ms(distribution.p95)} · p99 ${ms(distribution.p99)} · max ${ms(distribution.max)} (n=${formatCount(distribution.count)})`;
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
    [
      'ClickHouse processed_at − event_time',
      s.clickhouseLatencySeconds === null
        ? '–'
        : `p50 ${seconds(s.clickhouseLatencySeconds.p50)} · p99 ${seconds(s.clickhouseLatencySeconds.p99)} · max ${seconds(s.clickhouseLatencySeconds.max)} (whole seconds)`,
    ],
    [
      'probes',
      `${formatCount(s.probes.observed)} observed, ${formatCount(s.probes.skipped)} skipped, ${formatCount(s.probes.timedOut)} timed out`,
    ],
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

function eventText(event: ScalingEvent): string {
  switch (event.kind) {
    case 'desired':
      return `replicas asked for ${event.from ?? '?'} → ${event.to ?? '?'}${event.metrics === '' ? '' : ` (${event.metrics})`}`;
    case 'ready':
      return `ready replicas ${event.from} → ${event.to}`;
    case 'active':
      return `ScaledObject Active = ${String(event.to)}`;
    case 'pod-ready':
      return `pod ${event.pod} ready ${event.seconds.toFixed(1)} s after creation`;
    case 'pod-gone':
      return `pod ${event.pod} gone`;
  }
}

function htmlTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = (values: readonly string[], tag: string): string =>
    values.map((value) => `<${tag}>${escapeXml(value)}</${tag}>`).join('');
  return `<table><thead><tr>${cells(head, 'th')}</tr></thead><tbody>${rows
    .map((row) => `<tr>${cells(row, 'td')}</tr>`)
    .join('')}</tbody></table>`;
}

function charts(report: LoadReport): string[] {
  const samples = report.samples;
  const production = report.summary.productionSeconds;
  const markers = [{ x: production, label: 'production ends' }];
  const pick = (get: (index: number) => number | null): Point[] =>
    samples.map((sample, index) => [sample.t, get(index)] as const);
  const out: string[] = [];

  out.push(
    lineChart({
      title: 'Throughput',
      yLabel: 'messages / s',
      markers,
      series: [
        {
          name: 'produced',
          color: COLORS.produce,
          points: pick((i) => samples[i]?.produceRate ?? null),
        },
        {
          name: 'committed',
          color: COLORS.commit,
          points: pick((i) => samples[i]?.commitRate ?? null),
        },
      ],
    }),
  );
  out.push(
    lineChart({
      title: 'Consumer group lag',
      yLabel: 'messages',
      markers,
      series: [
        { name: 'total lag', color: COLORS.lag, points: pick((i) => samples[i]?.lag ?? null) },
        {
          name: 'largest partition lag',
          color: COLORS.lagMax,
          dashed: true,
          points: pick((i) => {
            const lags = samples[i]?.lagByPartition ?? [];
            return lags.length === 0 ? null : Math.max(...lags);
          }),
        },
      ],
    }),
  );
  out.push(
    lineChart({
      title: 'End-to-end latency: Kafka timestamp → offer readable in Redis (sampled users)',
      yLabel: 'ms',
      markers,
      series: (['p50', 'p95', 'p99'] as const).map((q) => ({
        name: `Redis ${q}`,
        color: COLORS[q],
        points: samples.map((sample) => [sample.t, sample.redisLatencyMs?.[q] ?? null] as const),
      })),
    }),
  );
  if (samples.some((sample) => sample.consumerLatencyMs !== null)) {
    out.push(
      lineChart({
        title:
          'End-to-end latency: the consumers’ histogram (Kafka timestamp → both sinks acked; interpolated within buckets)',
        yLabel: 'ms',
        markers,
        series: (['p50', 'p95', 'p99'] as const).map((q) => ({
          name: `consumer ${q}`,
          color: COLORS[q],
          points: samples.map(
            (sample) => [sample.t, sample.consumerLatencyMs?.[q] ?? null] as const,
          ),
        })),
      }),
    );
  }
  if (report.clickhouseLatency.length > 0) {
    out.push(
      lineChart({
        title: 'ClickHouse: processed_at − event_time by event second (whole seconds)',
        yLabel: 'seconds',
        markers,
        series: (['p50', 'p95', 'p99'] as const).map((q) => ({
          name: `ClickHouse ${q}`,
          color: COLORS[q],
          points: report.clickhouseLatency.map((second) => [second.t, second[q]] as const),
        })),
      }),
    );
  }
  const names = [...new Set(samples.flatMap((sample) => sample.processes.map((p) => p.name)))];
  if (names.length > 0) {
    const series = (field: 'cpuPercent' | 'rssMb'): Series[] =>
      names.map((name, index) => ({
        name,
        color: COLORS.cpu[index % COLORS.cpu.length] ?? '#000',
        points: samples.map(
          (sample) =>
            [sample.t, sample.processes.find((p) => p.name === name)?.[field] ?? null] as const,
        ),
      }));
    out.push(
      lineChart({
        title: 'CPU per process (100 % = one core)',
        yLabel: '% of one core',
        markers,
        series: series('cpuPercent'),
      }),
      lineChart({
        title: 'Resident memory per process',
        yLabel: 'MB',
        markers,
        series: series('rssMb'),
      }),
    );
  }
  if (report.cluster.length > 0) {
    const start = Date.parse(report.startedAt);
    const at = (atMs: number): number => (atMs - start) / 1000;
    out.push(
      lineChart({
        title: 'Replicas (KEDA / HPA)',
        yLabel: 'replicas',
        markers,
        series: [
          {
            name: 'asked for (spec.replicas)',
            color: COLORS.desired,
            step: true,
            points: report.cluster.map((c) => [at(c.atMs), c.specReplicas] as const),
          },
          {
            name: 'HPA desired',
            color: COLORS.replicas,
            step: true,
            dashed: true,
            points: report.cluster.map(
              (c) => [at(c.atMs), c.hpa?.desiredReplicas ?? null] as const,
            ),
          },
          {
            name: 'ready pods',
            color: COLORS.ready,
            step: true,
            points: report.cluster.map((c) => [at(c.atMs), c.podsReady] as const),
          },
        ],
      }),
    );
    const metricNames = [
      ...new Set(report.cluster.flatMap((c) => c.hpa?.metrics.map((m) => m.name) ?? [])),
    ];
    if (metricNames.length > 0) {
      out.push(
        lineChart({
          title: 'HPA metric (KEDA: lag per replica) and its target',
          yLabel: 'value',
          markers,
          series: metricNames.flatMap((name, index) => [
            {
              name: `${name} current`,
              color: COLORS.cpu[index % COLORS.cpu.length] ?? '#000',
              points: report.cluster.map(
                (c) =>
                  [
                    at(c.atMs),
                    c.hpa?.metrics.find((m) => m.name === name)?.current ?? null,
                  ] as const,
              ),
            },
            {
              name: `${name} target`,
              color: COLORS.cpu[index % COLORS.cpu.length] ?? '#000',
              dashed: true,
              points: report.cluster.map(
                (c) =>
                  [
                    at(c.atMs),
                    c.hpa?.metrics.find((m) => m.name === name)?.target ?? null,
                  ] as const,
              ),
            },
          ]),
        }),
      );
    }
  }
  return out;
}

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 24px; color: #111827; max-width: 1160px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 28px; }
.meta { color: #4b5563; font-size: 13px; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #e5e7eb; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f9fafb; }
figure { margin: 16px 0; }
code { background: #f3f4f6; padding: 1px 4px; border-radius: 3px; }
`;

export function renderHtml(report: LoadReport): string {
  const settings = report.settings;
  const env = Object.entries(settings.consumerEnv);
  const start = Date.parse(report.startedAt);
  const sections = [
    `<h1>realtime-offers load test</h1>`,
    `<p class="meta">${escapeXml(report.startedAt)} · mode ${escapeXml(settings.mode)} · topic <code>${escapeXml(settings.topic)}</code> (${settings.partitions ?? '?'} partitions) · group <code>${escapeXml(settings.groupId)}</code><br>` +
      `machine: ${report.machine.cores} cores, ${escapeXml(report.machine.cpuModel)}, ${report.machine.memoryGiB} GiB, Node ${escapeXml(report.machine.node)}, ${escapeXml(report.machine.platform)}</p>`,
    `<h2>Summary</h2>`,
    htmlTable(['measure', 'value'], summaryRows(report)),
    env.length === 0 ? '' : `<h2>Consumer settings</h2>${htmlTable(['variable', 'value'], env)}`,
    `<h2>Charts</h2>`,
    ...charts(report).map((svg) => `<figure>${svg}</figure>`),
  ];
  if (report.scalingEvents.length > 0) {
    sections.push(
      `<h2>Scaling events</h2>`,
      htmlTable(
        ['t (s)', 'event'],
        report.scalingEvents.map((event) => [
          ((event.atMs - start) / 1000).toFixed(1),
          eventText(event),
        ]),
      ),
    );
  }
  const last = report.cluster.at(-1);
  if (last !== undefined) {
    sections.push(
      `<h2>Pods at the end</h2>`,
      htmlTable(
        ['pod', 'phase', 'ready', 'restarts'],
        last.pods.map((pod) => [
          pod.name,
          pod.terminating ? `${pod.phase} (terminating)` : pod.phase,
          pod.ready ? 'yes' : 'no',
          String(pod.restarts),
        ]),
      ),
      `<p class="meta">HPA metrics at the end: ${escapeXml(describeMetrics(last) || '–')}</p>`,
    );
  }
  sections.push(
    `<p class="meta">Raw data: report.json next to this file. Latency to Redis is measured on sampled users (about ${settings.probesPerSecond}/s) by polling; its resolution is the poll interval.</p>`,
  );
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>realtime-offers load test ${escapeXml(report.startedAt)}</title>
<style>${STYLE}</style>
</head>
<body>
${sections.join('\n')}
</body>
</html>
`;
}
