import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { formatEvent, LineSplitter, parseEvent } from '../src/events.js';
import { GeneratorLog } from '../src/generator-log.js';
import { reduceClusterStatus } from '../src/kubernetes/cluster-status.js';
import { defaultOutDir, generateArgs, parseKeyValues, parseOptions } from '../src/options.js';
import { progressLine } from '../src/progress.js';
import {
  buildReport,
  drainSeconds,
  type LoadSample,
  type LoadSettings,
} from '../src/report-model.js';
import { chartSpecs } from '../src/report-charts.js';
import { escapeXml, renderHtml, scriptJson, summaryTable } from '../src/report-render.js';
import { parseThreshold } from '../src/thresholds.js';

const MACHINE = {
  cores: 2,
  cpuModel: 'Test CPU <fast>',
  memoryGiB: 8,
  node: 'v20.0.0',
  platform: 'linux x64',
  kernel: '6.1',
};

const SETTINGS: LoadSettings = {
  mode: 'local',
  topic: 'loadtest-abc',
  groupId: 'loadtest-abc',
  partitions: 12,
  rate: 1_000,
  durationSeconds: 3,
  count: null,
  seed: 42,
  firstUserId: 1_000,
  batchSize: 1_000,
  inFlight: 4,
  invalidEvery: 100,
  consumers: 1,
  consumerEnv: { BATCH_MAX_MESSAGES: '2000' },
  serviceSettings: { BATCH_MAX_MESSAGES: 2_000, MODEL_WORKERS: 1 },
  consumerReadyMs: [1_234],
  probesPerSecond: 100,
  redisPollMs: 10,
  clickhousePollMs: 100,
  drainTimeoutSeconds: 120,
};

const VERSIONS = {
  service: '0.1.0',
  model: 'offer-model-7',
  serviceNode: 'v20.0.0',
  image: null,
  gitCommit: 'abcdef123456',
};

function sample(t: number, produced: number, committed: number, lag: number): LoadSample {
  return {
    t,
    produced,
    produceRate: t === 1 ? null : 1_000,
    committed,
    commitRate: t === 1 ? null : 900,
    lag,
    lagByPartition: [lag, 0],
    redisLatencyMs: { count: 2, min: 5, mean: 10, p50: 10, p95: 14, p99: 15, max: 15 },
    clickhouseLatencyMs: { count: 2, min: 50, mean: 60, p50: 60, p95: 68, p99: 70, max: 70 },
    consumerLatencyMs: { count: 900, p50: 20, p95: 40, p99: 60 },
    errors: {
      deadLettered: { not_json: 10, missing_id: 0 },
      sinkRetries: { clickhouse: t === 2 ? 3 : 0, redis: 0 },
      sinkErrors: { clickhouse: t === 2 ? 3 : 0 },
      sinksDown: t === 2 ? ['clickhouse'] : [],
    },
    sendFailed: t >= 3 ? 5 : 0,
    replicas: 1,
    processes: [
      { name: 'consumer-1', cpuPercent: t * 10, rssMb: 100 + t },
      { name: 'kafka (java)', cpuPercent: null, rssMb: 300 },
    ],
  };
}

const THIRD = sample(3, 3_000, 2_900, 100);
const SAMPLES: LoadSample[] = [
  sample(1, 1_000, 800, 200),
  sample(2, 2_000, 1_800, 200),
  THIRD,
  sample(4, 3_000, 3_000, 0),
];

const PROBES = {
  redis: { observed: 4, skipped: 0, timedOut: 0, pendingAtEnd: 0 },
  clickhouse: { observed: 2, skipped: 0, timedOut: 0, pendingAtEnd: 0 },
  clickhouseError: null,
};

function report(thresholds: readonly string[] = []) {
  return buildReport({
    startedAt: '2026-11-24T10:00:00.000Z',
    machine: MACHINE,
    settings: SETTINGS,
    versions: VERSIONS,
    samples: SAMPLES,
    redisLatencies: [5, 10, 15, 20],
    clickhouseLatencies: [50, 70],
    probes: PROBES,
    consumerLatencyMs: { count: 3_000, p50: 20, p95: 40, p99: 60 },
    productionSeconds: 3,
    lastSendError: 'KafkaJSNumberOfRetriesExceeded',
    thresholds: thresholds.map(parseThreshold),
  });
}

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

describe('the load test command', () => {
  const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
  const run = (args: readonly string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', main, ...args],
        { timeout: 60_000 },
        (error, stdout, stderr) => {
          resolve({ code: error === null ? 0 : (error.code as number | null), stdout, stderr });
        },
      );
    });

  it('exits 1 when a threshold is missed, 0 when all hold, 2 on a bad threshold', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'load-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'report.json');
    await writeFile(file, JSON.stringify(report()));

    const impossible = await run([
      '--mode',
      'check',
      '--report',
      file,
      '--threshold',
      'max_lag<0',
      '--threshold',
      'p99_latency_ms<1000',
    ]);
    assert.equal(impossible.code, 1, impossible.stderr);
    assert.match(impossible.stdout, /✗ max_lag<0 +measured 200/);
    assert.match(impossible.stdout, /✓ p99_latency_ms<1000 +measured 19\.8/);
    assert.match(impossible.stdout, /thresholds: 1 of 2 failed/);

    const held = await run(['--mode', 'check', '--report', file, '--threshold', 'max_lag<=200']);
    assert.equal(held.code, 0, held.stderr);
    assert.match(held.stdout, /thresholds: all 1 passed/);

    const invalid = await run(['--mode', 'local', '--threshold', 'p99<500']);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /^--threshold "p99<500": unknown metric "p99"/);
    assert.match(invalid.stderr, /operators: <= >= < >/);
    assert.match(invalid.stderr, /metrics: p50_latency_ms, /);
  });
});

describe('generator events', () => {
  it('round-trips through one log line each, ignoring other lines', () => {
    const event = {
      loadtest: 'sample',
      sample: THIRD,
      latencies: [1, 2],
      clickhouseLatencies: [40],
    } as const;
    const line = formatEvent(event);
    assert.ok(!line.includes('\n'));
    assert.deepEqual(parseEvent(line), event);
    assert.equal(parseEvent('   1 s | rate 1,000/s'), undefined);
    assert.equal(parseEvent('{"loadtest":"unknown"}'), undefined);
    assert.equal(parseEvent('{"loadtest":"sample",'), undefined);
  });

  it('splits a chunked stream into whole lines', () => {
    const splitter = new LineSplitter();
    assert.deepEqual(splitter.push('a\nb'), ['a']);
    assert.deepEqual(splitter.push('c\n\nd'), ['bc', '']);
    assert.deepEqual(splitter.end(), ['d']);
    assert.deepEqual(splitter.end(), []);
  });

  it('rebuilds the report from the generator’s log', () => {
    const log = new GeneratorLog();
    assert.equal(log.report([]), undefined);
    log.accept({
      loadtest: 'start',
      startedAtMs: Date.parse('2026-11-24T10:00:00.000Z'),
      startedAt: '2026-11-24T10:00:00.000Z',
      settings: SETTINGS,
      versions: VERSIONS,
      machine: MACHINE,
    });
    for (const entry of SAMPLES)
      log.accept({
        loadtest: 'sample',
        sample: entry,
        latencies: [10, 30],
        clickhouseLatencies: [],
      });
    assert.equal(log.finished, false);
    log.accept({
      loadtest: 'end',
      productionSeconds: 3,
      probes: { ...PROBES, redis: { observed: 8, skipped: 0, timedOut: 0, pendingAtEnd: 0 } },
      consumerLatencyMs: null,
      lastSendError: null,
    });
    assert.equal(log.finished, true);
    const rebuilt = log.report([], { thresholds: [parseThreshold('max_lag<100')] });
    assert.equal(rebuilt?.summary.redisLatencyMs?.count, 8);
    assert.equal(rebuilt.summary.drainSeconds, 1);
    assert.equal(rebuilt.summary.probes.redis.observed, 8);
    assert.equal(rebuilt.verdict, 'failed');
  });
});

describe('options', () => {
  it('has defaults for a 60 s run at 5,000 msg/s', () => {
    const options = parseOptions(['--mode', 'local']);
    assert.equal(options.mode, 'local');
    assert.equal(options.generation.rate, 5_000);
    assert.equal(options.generation.durationSeconds, 60);
    assert.equal(options.generation.count, undefined);
    assert.equal(options.local.partitions, 12);
    assert.equal(options.local.consumers, 1);
    // The Job runs the load test image's entrypoint unless told otherwise.
    assert.equal(options.kubernetes.jobCommand, undefined);
    assert.equal(options.kubernetes.image, undefined);
    assert.deepEqual(
      parseOptions(['--mode', 'kubernetes', '--job-command', 'node  main.js']).kubernetes
        .jobCommand,
      ['node', 'main.js'],
    );
    assert.equal(options.kubernetes.deployment, undefined);
  });

  it('runs by count alone when only --count is given', () => {
    const options = parseOptions(['--mode', 'local', '--count', '100000', '--rate', '0']);
    assert.equal(options.generation.durationSeconds, undefined);
    assert.equal(options.generation.count, 100_000);
    assert.equal(options.generation.rate, 0);
  });

  it('rejects bad values with the option named', () => {
    assert.throws(() => parseOptions([]), /--mode must be one of/);
    assert.throws(() => parseOptions(['--mode', 'cloud']), /--mode must be one of/);
    assert.throws(() => parseOptions(['--mode', 'local', '--rate', '-5']), /--rate/);
    assert.throws(() => parseOptions(['--mode', 'local', '--partitions', '0']), /--partitions/);
    assert.throws(() => parseOptions(['--mode', 'local', '--bogus']), /bogus/);
    assert.throws(
      () => parseKeyValues(['NOVALUE'], 'consumer-env'),
      /--consumer-env takes KEY=VALUE/,
    );
  });

  it('collects consumer settings and forwards the load options to the Job', () => {
    const options = parseOptions([
      '--mode',
      'kubernetes',
      '--rate',
      '20000',
      '--duration',
      '120',
      '--consumer-env',
      'BATCH_MAX_MESSAGES=2000',
      '--consumer-env',
      'A=b=c',
    ]);
    assert.deepEqual(options.local.consumerEnv, { BATCH_MAX_MESSAGES: '2000', A: 'b=c' });
    const args = generateArgs(options.generation);
    const forwarded = parseOptions(args);
    assert.equal(forwarded.mode, 'generate');
    assert.deepEqual(forwarded.generation, options.generation);
    assert.equal(forwarded.progress, false);
  });

  it('names report folders by time', () => {
    assert.equal(
      defaultOutDir('load-test', Date.parse('2026-11-24T10:14:05.999Z')),
      'reports/load-test-20261124-101405',
    );
  });
});

describe('progressLine', () => {
  it('shows rate, sent, consumed, lag, latency and the consumer’s CPU and memory', () => {
    const line = progressLine(THIRD, 'replicas 2/3');
    assert.equal(
      line,
      '   3 s | rate 1,000/s | sent 3,000 | consumed 2,900 (900/s) | lag 100 | p99 15 ms | consumer CPU 30 % RSS 103 MB | replicas 2/3',
    );
  });
});
