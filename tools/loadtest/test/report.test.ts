import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { reduceClusterStatus } from '../src/kubernetes/cluster-status.js';
import { buildReport, drainSeconds } from '../src/report-model.js';
import { chartSpecs } from '../src/report-charts.js';
import { escapeXml, renderHtml, scriptJson } from '../src/report-render.js';
import { summaryTable } from '../src/report-summary.js';
import { MACHINE, PROBES, report, SAMPLES, SETTINGS, VERSIONS } from './sample-report.js';

describe('buildReport', () => {
  it('summarises throughput, lag, drain, latency and processes', () => {
    const { summary } = report();
    assert.equal(summary.produced, 3_000);
    assert.equal(summary.avgProduceRate, 1_000);
    assert.equal(summary.committed, 3_000);
    assert.equal(summary.avgCommitRate, 750);
    assert.equal(summary.maxLag, 200);
    assert.equal(summary.finalLag, 0);
    assert.equal(summary.drainSeconds, 1);
    assert.equal(summary.redisLatencyMs?.max, 20);
    assert.equal(summary.redisLatencyMs.p50, 12.5);
    assert.deepEqual(summary.processes, [
      { name: 'consumer-1', avgCpuPercent: 25, maxCpuPercent: 40, peakRssMb: 104 },
      { name: 'kafka (java)', avgCpuPercent: null, maxCpuPercent: null, peakRssMb: 300 },
    ]);
    assert.deepEqual(summary.replicas, { min: 1, max: 1 });
    assert.equal(summary.clickhouseLatencyMs?.max, 70);
  });

  it('adds up the errors of the run: dead letters, retries, down time, send errors', () => {
    const { errors } = report().summary;
    assert.equal(errors.scraped, true);
    assert.deepEqual(errors.deadLettered, { not_json: 40, missing_id: 0 });
    assert.equal(errors.deadLetteredTotal, 40);
    assert.deepEqual(errors.sinkRetries, { clickhouse: 3, redis: 0 });
    // ClickHouse was down in the sample at t = 2, which covers the second from t = 1.
    assert.deepEqual(errors.sinkDownSeconds, { clickhouse: 1 });
    assert.equal(errors.anySinkDownSeconds, 1);
    assert.equal(errors.sendErrors, 5);
    assert.equal(errors.lastSendError, 'KafkaJSNumberOfRetriesExceeded');
  });

  it('evaluates the thresholds into a verdict', () => {
    assert.equal(report().verdict, 'no thresholds');
    assert.equal(report(['max_lag<=200', 'dlq_rate<0.02']).verdict, 'passed');
    const failed = report(['max_lag<=200', 'send_errors<1']);
    assert.equal(failed.verdict, 'failed');
    assert.deepEqual(
      failed.thresholds.map((t) => [t.expression, t.value, t.passed]),
      [
        ['max_lag<=200', 200, true],
        ['send_errors<1', 5, false],
      ],
    );
  });

  it('reports no drain when the lag never reached zero after production', () => {
    assert.equal(drainSeconds(SAMPLES.slice(0, 3), 3), null);
    assert.equal(drainSeconds(SAMPLES, 10), null);
  });
});

describe('summaryTable', () => {
  it('is a markdown table with the key numbers', () => {
    const table = summaryTable(report());
    const lines = table.split('\n');
    assert.match(lines[0] ?? '', /^\| measure +\| value \|$/);
    assert.match(table, /\| produced \(acked\) +\| 3,000 \(1,000 msg\/s\) \|/);
    assert.match(table, /\| drained after production +\| 1\.0 s \|/);
    assert.match(table, /p99 19\.\d ms/);
    assert.match(table, /consumer start to ready +\| 1,234 ms/);
    assert.match(table, /process consumer-1 +\| CPU avg 25 %, max 40 %, peak RSS 104 MB/);
  });
});

describe('renderHtml', () => {
  const html = renderHtml(report(['max_lag<=200', 'send_errors<1']));

  it('is one self-contained page: uPlot and the data inline, nothing fetched', () => {
    assert.match(html, /^<!doctype html>/);
    assert.doesNotMatch(html, /<script[^>]*\ssrc=/i);
    assert.doesNotMatch(html, /<link/i);
    assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//i);
    // uPlot's browser build is in the page, and the charts' data parses back.
    assert.match(html, /var uPlot=function\(\)/);
    const data = /<script type="application\/json" id="chart-data">(.*?)<\/script>/s.exec(
      html,
    )?.[1];
    assert.ok(data !== undefined);
    const specs = JSON.parse(data) as { id: string }[];
    assert.deepEqual(
      specs.map((spec) => spec.id),
      chartSpecs(report()).map((spec) => spec.id),
    );
    for (const spec of specs) assert.match(html, new RegExp(`<div id="${spec.id}"></div>`));
    assert.doesNotMatch(data, /NaN|undefined/);
  });

  it('shows the verdict, each threshold, the errors and the run settings', () => {
    assert.match(html, /FAILED: 1 of 2 thresholds missed/);
    assert.match(html, /<td>send_errors&lt;1<\/td><td>5<\/td><td>FAIL<\/td>/);
    assert.match(html, /<td>max_lag&lt;=200<\/td><td>200<\/td><td>pass<\/td>/);
    assert.match(html, /<h2>Errors<\/h2>/);
    assert.match(html, /<td> {2}dead-lettered: not_json<\/td><td>40<\/td>/);
    assert.match(
      html,
      /sink clickhouse: retries \/ failed writes \/ down<\/td><td>3 \/ 3 \/ 1\.0 s/,
    );
    assert.match(html, /<td>git commit<\/td><td>abcdef123456<\/td>/);
    assert.match(html, /<td>model<\/td><td>offer-model-7<\/td>/);
    assert.match(html, /<td>BATCH_MAX_MESSAGES<\/td><td>2000<\/td>/);
    assert.match(html, /<td>produce batch \/ in flight<\/td><td>1,000 \/ 4<\/td>/);
    assert.match(html, /<td>machine<\/td><td>2 cores, Test CPU &lt;fast&gt;, 8 GiB<\/td>/);
  });

  it('escapes text that comes from outside, in HTML and inside the scripts', () => {
    assert.doesNotMatch(html, /<fast>/);
    assert.equal(escapeXml(`"a'`), '&quot;a&#39;');
    const json = scriptJson({ name: '</script><script>alert(1)</script>' });
    assert.doesNotMatch(json, /<\/script/i);
    assert.deepEqual(JSON.parse(json), { name: '</script><script>alert(1)</script>' });
  });

  it('puts replicas on the lag chart and the scaling events in Kubernetes mode', () => {
    const start = Date.parse('2026-11-24T10:00:00.000Z');
    const cluster = [0.5, 1.5, 2.5].map((second) =>
      reduceClusterStatus({
        atMs: start + second * 1_000,
        deployment: {
          spec: { replicas: second === 0.5 ? 1 : 3 },
          status: { replicas: 3, readyReplicas: second < 2 ? 1 : 3 },
        },
        pods: [1, 2, 3].map((index) => ({
          metadata: { name: `consumer-${index}` },
          status: {
            phase: 'Running',
            conditions: [{ type: 'Ready', status: index === 1 || second > 2 ? 'True' : 'False' }],
          },
        })),
        hpa: {
          spec: {
            metrics: [
              {
                type: 'External',
                external: { metric: { name: 's0-kafka-t' }, target: { averageValue: '5k' } },
              },
            ],
          },
          status: {
            desiredReplicas: 3,
            currentMetrics: [
              {
                type: 'External',
                external: { metric: { name: 's0-kafka-t' }, current: { averageValue: '9k' } },
              },
            ],
          },
        },
      }),
    );
    const k8s = buildReport({
      startedAt: '2026-11-24T10:00:00.000Z',
      machine: MACHINE,
      settings: { ...SETTINGS, mode: 'kubernetes' },
      versions: VERSIONS,
      samples: SAMPLES.map((entry) => ({ ...entry, errors: null })),
      redisLatencies: [],
      clickhouseLatencies: [],
      probes: PROBES,
      consumerLatencyMs: null,
      productionSeconds: 3,
      cluster,
      scalingEvents: [
        { atMs: start + 1_000, kind: 'desired', from: 1, to: 3, metrics: 's0-kafka-t 9k/5k' },
      ],
    });
    const lag = chartSpecs(k8s).find((spec) => spec.id === 'chart-lag');
    assert.ok(lag !== undefined);
    // Samples at 1, 2, 3, 4 s and cluster readings at 0.5, 1.5, 2.5 s on one x axis.
    assert.deepEqual(lag.x, [0.5, 1, 1.5, 2, 2.5, 3, 4]);
    const series = new Map(lag.series.map((entry) => [entry.name, entry]));
    assert.deepEqual(series.get('total lag')?.values, [null, 200, null, 200, null, 100, 0]);
    assert.deepEqual(series.get('ready pods')?.values, [1, null, 1, null, 3, null, null]);
    assert.equal(series.get('ready pods')?.scale, 'y2');
    assert.equal(series.get('asked for (spec.replicas)')?.step, true);
    assert.equal(lag.y2Label, 'replicas');
    assert.ok(chartSpecs(k8s).some((spec) => spec.id === 'chart-hpa'));
    // Without the consumers' metrics the errors chart has the send errors alone.
    const errors = chartSpecs(k8s).find((spec) => spec.id === 'chart-errors');
    assert.deepEqual(
      errors?.series.map((entry) => entry.name),
      ['send errors'],
    );
    const page = renderHtml(k8s);
    assert.match(page, /replicas asked for 1 → 3 \(s0-kafka-t 9k\/5k\)/);
    assert.match(page, /not read in this mode/);
  });
});

describe('chartSpecs (local mode)', () => {
  const specs = chartSpecs(report());
  const byId = new Map(specs.map((spec) => [spec.id, spec]));

  it('draws the consumers answering on the lag chart’s second axis', () => {
    const replicas = byId.get('chart-lag')?.series.find((entry) => entry.scale === 'y2');
    assert.ok(replicas !== undefined);
    assert.equal(replicas.name, 'consumers answering');
    assert.deepEqual(replicas.values, [1, 1, 1, 1]);
    assert.equal(replicas.step, true);
  });

  it('charts errors per second: a line per dead-letter reason and retried sink that occurred', () => {
    const errors = byId.get('chart-errors');
    assert.ok(errors !== undefined);
    assert.deepEqual(
      errors.series.map((entry) => entry.name),
      ['dead-lettered: not_json', 'retries: clickhouse', 'send errors', 'sinks down'],
    );
    const values = new Map(errors.series.map((e) => [e.name, e.values]));
    assert.deepEqual(values.get('retries: clickhouse'), [0, 3, 0, 0]);
    assert.deepEqual(values.get('send errors'), [0, 0, 5, 0]);
    assert.deepEqual(values.get('sinks down'), [0, 1, 0, 0]);
  });

  it('charts ClickHouse latency from the probe, in ms, with its poll interval', () => {
    const clickhouse = byId.get('chart-clickhouse-latency');
    assert.ok(clickhouse !== undefined);
    assert.deepEqual(
      clickhouse.series.find((e) => e.name === 'ClickHouse p99')?.values,
      [70, 70, 70, 70],
    );
    assert.match(clickhouse.note ?? '', /every 100 ms/);
  });
});
