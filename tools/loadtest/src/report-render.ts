import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

import { describeMetrics, type ScalingEvent } from './kubernetes/cluster-status.js';
import { chartSpecs } from './report-charts.js';
import type { LoadReport } from './report-model.js';
import { formatCount, seconds, sendErrorsText, summaryRows } from './report-summary.js';
import { formatValue } from './thresholds.js';

/** The load test's report as one self-contained HTML file (its table: report-summary.ts). */

export function escapeXml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** JSON that can stand inside a <script> element: no `</script>`, no `<!--`. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replaceAll('<', '\\u003c')
    .replaceAll('\u2028', '\\u2028')
    .replaceAll('\u2029', '\\u2029');
}

let uplot: { js: string; css: string } | undefined;

/** uPlot's browser build and style sheet, pinned by the lock file, inlined into every report. */
function uplotAssets(): { js: string; css: string } {
  if (uplot !== undefined) return uplot;
  const require = createRequire(import.meta.url);
  const js = readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const css = readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  uplot = { js: js.replaceAll('</script', '<\\/script'), css };
  return uplot;
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

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 24px; color: #111827; max-width: 1160px; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 28px; }
h3 { font-size: 15px; margin: 0 0 4px; }
.meta, .note { color: #4b5563; font-size: 13px; }
.note { margin: 2px 0 0; }
table { border-collapse: collapse; font-size: 13px; margin: 8px 0; }
th, td { border: 1px solid #e5e7eb; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f9fafb; }
figure { margin: 20px 0; }
code { background: #f3f4f6; padding: 1px 4px; border-radius: 3px; }
.verdict { display: inline-block; padding: 6px 14px; border-radius: 4px; font-weight: 600; }
.passed { background: #dcfce7; color: #166534; }
.failed { background: #fee2e2; color: #991b1b; }
.none { background: #f3f4f6; color: #374151; }
.columns { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; }
`;

/**
 * Draws every chart of the page from the JSON next to it. Plain browser JavaScript: it runs
 * in the reader's browser, after uPlot's own script.
 */
const DRAW_CHARTS = `
(function () {
  var specs = JSON.parse(document.getElementById('chart-data').textContent);
  var width = Math.max(600, Math.min(1120, document.body.clientWidth));
  function markers(list) {
    return { hooks: { draw: [function (u) {
      var ctx = u.ctx, ratio = window.devicePixelRatio || 1;
      ctx.save();
      ctx.strokeStyle = '#9ca3af'; ctx.fillStyle = '#6b7280';
      ctx.setLineDash([4 * ratio, 3 * ratio]);
      ctx.font = (12 * ratio) + 'px system-ui, sans-serif';
      list.forEach(function (m) {
        var x = Math.round(u.valToPos(m.x, 'x', true));
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
        ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke();
        var right = x > u.bbox.left + u.bbox.width - 130 * ratio;
        ctx.textAlign = right ? 'right' : 'left';
        ctx.fillText(m.label, x + (right ? -4 : 4) * ratio, u.bbox.top + 12 * ratio);
      });
      ctx.restore();
    }] } };
  }
  specs.forEach(function (spec) {
    var hasY2 = spec.series.some(function (s) { return s.scale === 'y2'; });
    var axes = [
      { label: 'seconds since the start' },
      { label: spec.yLabel, scale: 'y', size: 60 },
    ];
    // Every chart keeps room for a right-hand axis, so that the x axes of all charts line up.
    axes.push(hasY2
      ? { label: spec.y2Label, scale: 'y2', side: 1, size: 50, grid: { show: false }, incrs: [1, 2, 5, 10, 20, 50] }
      : { label: ' ', scale: 'y', side: 1, size: 50, grid: { show: false }, ticks: { show: false }, values: function () { return []; } });
    var opts = {
      width: width, height: 300,
      plugins: [markers(spec.markers)],
      legend: { live: false },
      scales: {
        x: { time: false },
        y: { range: function (u, min, max) { return [0, max > 0 ? max * 1.08 : 1]; } },
        y2: { range: function (u, min, max) { return [0, Math.max(2, Math.ceil((max || 0) * 1.25))]; } },
      },
      axes: axes,
      series: [{ label: 't (s)' }].concat(spec.series.map(function (s) {
        return {
          label: s.name, stroke: s.color, width: 1.8, scale: s.scale || 'y',
          dash: s.dashed ? [6, 4] : undefined,
          paths: s.step ? uPlot.paths.stepped({ align: 1 }) : undefined,
          spanGaps: !!s.spanGaps,
        };
      })),
    };
    var data = [spec.x].concat(spec.series.map(function (s) { return s.values; }));
    new uPlot(opts, data, document.getElementById(spec.id));
  });
})();
`;

function thresholdSection(report: LoadReport): string {
  const verdict = report.verdict;
  const badge =
    verdict === 'passed'
      ? `<span class="verdict passed">PASSED: all ${report.thresholds.length} thresholds held</span>`
      : verdict === 'failed'
        ? `<span class="verdict failed">FAILED: ${report.thresholds.filter((t) => !t.passed).length} of ${report.thresholds.length} thresholds missed</span>`
        : `<span class="verdict none">no thresholds given (--threshold)</span>`;
  if (report.thresholds.length === 0) return `<h2>Verdict</h2>${badge}`;
  return `<h2>Verdict</h2>${badge}${htmlTable(
    ['threshold', 'measured', 'result'],
    report.thresholds.map((result) => [
      result.expression,
      formatValue(result.value),
      result.passed ? 'pass' : 'FAIL',
    ]),
  )}`;
}

function errorsSection(report: LoadReport): string {
  const e = report.summary.errors;
  const rows: string[][] = [];
  if (e.scraped) {
    rows.push(['dead-lettered, total', formatCount(e.deadLetteredTotal)]);
    for (const [reason, count] of Object.entries(e.deadLettered)) {
      if (count > 0) rows.push([`  dead-lettered: ${reason}`, formatCount(count)]);
    }
    const sinks = [
      ...new Set([
        ...Object.keys(e.sinkRetries),
        ...Object.keys(e.sinkErrors),
        ...Object.keys(e.sinkDownSeconds),
      ]),
    ].sort();
    for (const sink of sinks) {
      rows.push([
        `sink ${sink}: retries / failed writes / down`,
        `${formatCount(e.sinkRetries[sink] ?? 0)} / ${formatCount(e.sinkErrors[sink] ?? 0)} / ${seconds(e.sinkDownSeconds[sink] ?? 0)}`,
      ]);
    }
  } else {
    rows.push(['dead letters, sink retries, sink down time', 'not read in this mode']);
  }
  rows.push(['send errors (not acknowledged by Kafka)', sendErrorsText(report)]);
  return `<h2>Errors</h2>${htmlTable(['what', 'count'], rows)}`;
}

function settingsSection(report: LoadReport): string {
  const s = report.settings;
  const v = report.versions;
  const m = report.machine;
  const text = (value: string | number | null): string =>
    value === null ? '–' : typeof value === 'number' ? formatCount(value) : value;
  const load: [string, string][] = [
    ['start', report.startedAt],
    ['mode', s.mode],
    ['rate', s.rate > 0 ? `${formatCount(s.rate)} msg/s` : 'as fast as acknowledged'],
    ['duration', s.durationSeconds === null ? '–' : `${s.durationSeconds} s`],
    ['count', text(s.count)],
    ['topic (partitions)', `${s.topic} (${s.partitions ?? '?'})`],
    ['consumer group', s.groupId],
    ['produce batch / in flight', `${formatCount(s.batchSize)} / ${s.inFlight}`],
    ['invalid messages', s.invalidEvery > 0 ? `every ${formatCount(s.invalidEvery)}th` : 'none'],
    ['seed / first user id', `${s.seed} / ${s.firstUserId}`],
    ['consumers', text(s.consumers)],
    [
      'probes',
      `${s.probesPerSecond} users/s; Redis every ${s.redisPollMs} ms, ClickHouse ${s.clickhousePollMs > 0 ? `every ${s.clickhousePollMs} ms` : 'off'}`,
    ],
    ['drain timeout', `${s.drainTimeoutSeconds} s`],
  ];
  const versions: [string, string][] = [
    ['service', text(v.service)],
    ['model', text(v.model)],
    ['service Node.js', text(v.serviceNode)],
    ['image', text(v.image)],
    ['git commit', text(v.gitCommit)],
    ['machine', `${m.cores} cores, ${m.cpuModel}, ${m.memoryGiB} GiB`],
    ['load test Node.js / OS', `${m.node} / ${m.platform}, kernel ${m.kernel}`],
  ];
  const service = Object.entries(s.serviceSettings).map(([name, value]) => [name, String(value)]);
  const given = Object.entries(s.consumerEnv);
  return `<h2>Run settings</h2><div class="columns">${htmlTable(['load', 'value'], load)}${htmlTable(
    ['versions and machine', 'value'],
    versions,
  )}${htmlTable(['service setting', 'value'], service)}</div>${
    given.length === 0
      ? ''
      : `<p class="meta">Given with --consumer-env: ${given.map(([key, value]) => `<code>${escapeXml(`${key}=${value}`)}</code>`).join(' ')}</p>`
  }`;
}

export function renderHtml(report: LoadReport): string {
  const start = Date.parse(report.startedAt);
  const specs = chartSpecs(report);
  const { js, css } = uplotAssets();
  const sections = [
    `<h1>realtime-offers load test</h1>`,
    `<p class="meta">${escapeXml(report.startedAt)} · mode ${escapeXml(report.settings.mode)} · ${report.machine.cores} cores · service ${escapeXml(report.versions.service ?? '?')} · commit ${escapeXml(report.versions.gitCommit ?? '?')}</p>`,
    thresholdSection(report),
    `<h2>Summary</h2>`,
    htmlTable(['measure', 'value'], summaryRows(report)),
    errorsSection(report),
    settingsSection(report),
    `<h2>Charts</h2>`,
    `<noscript><p>The charts are drawn by the script inlined in this page; their data is in report.json.</p></noscript>`,
    ...specs.map(
      (spec) =>
        `<figure><h3>${escapeXml(spec.title)}</h3><div id="${spec.id}"></div>${spec.note === undefined ? '' : `<p class="note">${escapeXml(spec.note)}</p>`}</figure>`,
    ),
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
    `<p class="meta">Raw data: report.json next to this file. Latencies to Redis and ClickHouse are measured on sampled users (about ${report.settings.probesPerSecond}/s) by polling; their resolution is the poll interval. Charts: uPlot, inlined.</p>`,
  );
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>realtime-offers load test ${escapeXml(report.startedAt)}</title>
<style>${css}</style>
<style>${STYLE}</style>
</head>
<body>
${sections.join('\n')}
<script>${js}</script>
<script type="application/json" id="chart-data">${scriptJson(specs)}</script>
<script>${DRAW_CHARTS}</script>
</body>
</html>
`;
}
