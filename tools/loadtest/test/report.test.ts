import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

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
import { renderHtml, summaryTable } from '../src/report-render.js';
import { escapeXml, formatTick, lineChart, niceStep } from '../src/svg-chart.js';

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
  consumers: 1,
  consumerEnv: { BATCH_MAX_MESSAGES: '2000' },
  consumerReadyMs: [1_234],
  probesPerSecond: 100,
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
    consumerLatencyMs: { count: 900, p50: 20, p95: 40, p99: 60 },
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

function report() {
  return buildReport({
    startedAt: '2026-11-24T10:00:00.000Z',
    machine: MACHINE,
    settings: SETTINGS,
    samples: SAMPLES,
    redisLatencies: [5, 10, 15, 20],
    probes: { observed: 4, skipped: 0, timedOut: 0, pendingAtEnd: 0 },
    consumerLatencyMs: { count: 3_000, p50: 20, p95: 40, p99: 60 },
    productionSeconds: 3,
    clickhouseLatency: [{ t: 0.5, rows: 1_000, p50: 0, p95: 1, p99: 1, max: 1 }],
    clickhouseOverall: { count: 3_000, min: 0, mean: 0.2, p50: 0, p95: 1, p99: 1, max: 1 },
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
    assert.equal(summary.replicas, null);
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
  const html = renderHtml(report());

  it('is one self-contained page: inline SVG, no scripts, no external resources', () => {
    assert.match(html, /^<!doctype html>/);
    assert.ok((html.match(/<svg /g) ?? []).length >= 6);
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//i);
    assert.doesNotMatch(html, /NaN|undefined/);
  });

  it('escapes text that comes from outside', () => {
    assert.match(html, /Test CPU &lt;fast&gt;/);
    assert.doesNotMatch(html, /<fast>/);
  });

  it('adds replica charts and scaling events in Kubernetes mode', () => {
    const start = Date.parse('2026-11-24T10:00:00.000Z');
    const cluster = [0, 1, 2].map((second) =>
      reduceClusterStatus({
        atMs: start + second * 1_000,
        deployment: {
          spec: { replicas: second === 0 ? 1 : 3 },
          status: { replicas: 3, readyReplicas: second < 2 ? 1 : 3 },
        },
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
    const page = renderHtml(
      buildReport({
        ...{
          startedAt: '2026-11-24T10:00:00.000Z',
          machine: MACHINE,
          settings: { ...SETTINGS, mode: 'kubernetes' },
          samples: SAMPLES,
          redisLatencies: [],
          probes: { observed: 0, skipped: 0, timedOut: 0, pendingAtEnd: 0 },
          consumerLatencyMs: null,
          productionSeconds: 3,
          clickhouseLatency: [],
          clickhouseOverall: null,
        },
        cluster,
        scalingEvents: [
          { atMs: start + 1_000, kind: 'desired', from: 1, to: 3, metrics: 's0-kafka-t 9k/5k' },
        ],
      }),
    );
    assert.match(page, /Replicas \(KEDA \/ HPA\)/);
    assert.match(page, /HPA metric/);
    assert.match(page, /replicas asked for 1 → 3 \(s0-kafka-t 9k\/5k\)/);
    assert.match(page, /ready replicas/);
  });
});

describe('lineChart', () => {
  it('draws one path per unbroken run of values and a legend entry per series', () => {
    const svg = lineChart({
      title: 'T & <t>',
      yLabel: 'ms',
      series: [
        {
          name: 'a',
          color: '#000',
          points: [
            [0, 1],
            [1, 2],
            [2, null],
            [3, 4],
            [4, 5],
          ],
        },
        { name: 'b', color: '#111', points: [[0, 3]], dashed: true },
      ],
      markers: [{ x: 2, label: 'end' }],
    });
    assert.equal((svg.match(/<path /g) ?? []).length, 3);
    assert.match(svg, /T &amp; &lt;t&gt;/);
    assert.match(svg, />end</);
    assert.match(svg, /stroke-dasharray="6 4"/);
  });

  it('says so when there is no data, and steps for counts', () => {
    assert.match(lineChart({ title: 'x', yLabel: 'y', series: [] }), /no data/);
    const svg = lineChart({
      title: 'x',
      yLabel: 'y',
      series: [
        {
          name: 's',
          color: '#000',
          step: true,
          points: [
            [0, 1],
            [1, 3],
          ],
        },
      ],
    });
    const path = /d="([^"]+)"/.exec(svg)?.[1] ?? '';
    assert.equal(path.split('L').length, 3);
  });

  it('picks round ticks and short labels', () => {
    assert.equal(niceStep(100, 5), 20);
    assert.equal(niceStep(7, 5), 2);
    assert.equal(niceStep(0, 5), 1);
    assert.equal(formatTick(20_000), '20k');
    assert.equal(formatTick(1_250_000), '1.25M');
    assert.equal(formatTick(0.25), '0.25');
    assert.equal(escapeXml(`"a'`), '&quot;a&#39;');
  });
});

describe('generator events', () => {
  it('round-trips through one log line each, ignoring other lines', () => {
    const event = { loadtest: 'sample', sample: THIRD, latencies: [1, 2] } as const;
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
      machine: MACHINE,
    });
    for (const entry of SAMPLES)
      log.accept({ loadtest: 'sample', sample: entry, latencies: [10, 30] });
    assert.equal(log.finished, false);
    log.accept({
      loadtest: 'end',
      productionSeconds: 3,
      probes: { observed: 8, skipped: 0, timedOut: 0, pendingAtEnd: 0 },
      consumerLatencyMs: null,
      clickhouseOverall: null,
    });
    assert.equal(log.finished, true);
    const rebuilt = log.report([]);
    assert.equal(rebuilt?.summary.redisLatencyMs?.count, 8);
    assert.equal(rebuilt.summary.drainSeconds, 1);
    assert.equal(rebuilt.summary.probes.observed, 8);
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
