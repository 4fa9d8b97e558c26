import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { dueMessages } from '../../../src/cli/pacing.js';
import { groupPosition } from '../src/lag.js';
import { counterDelta, MetricsScraper, sumBuckets, windowOf } from '../src/metrics-scraper.js';
import { histogramBuckets, metricSum, parsePrometheusText } from '../src/prometheus-text.js';
import {
  bucketDelta,
  histogramQuantile,
  maxSustainedRate,
  quantile,
  RateSampler,
  summarize,
} from '../src/stats.js';

describe('quantile and summarize', () => {
  it('interpolates between the closest ranks', () => {
    const sorted = [10, 20, 30, 40];
    assert.equal(quantile(sorted, 0), 10);
    assert.equal(quantile(sorted, 1), 40);
    assert.equal(quantile(sorted, 0.5), 25);
    assert.ok(Math.abs(quantile(sorted, 0.95) - 38.5) < 1e-9);
    assert.equal(quantile([7], 0.99), 7);
    assert.ok(Number.isNaN(quantile([], 0.5)));
  });

  it('matches the nearest rank on 1..100', () => {
    const values = Array.from({ length: 100 }, (_, index) => 100 - index);
    const summary = summarize(values);
    assert.ok(summary);
    assert.equal(summary.count, 100);
    assert.equal(summary.min, 1);
    assert.equal(summary.max, 100);
    assert.equal(summary.mean, 50.5);
    assert.ok(Math.abs(summary.p50 - 50.5) < 1e-9);
    assert.ok(Math.abs(summary.p95 - 95.05) < 1e-9);
    assert.ok(Math.abs(summary.p99 - 99.01) < 1e-9);
  });

  it('is null without values, and does not reorder its input', () => {
    assert.equal(summarize([]), null);
    const values = [3, 1, 2];
    summarize(values);
    assert.deepEqual(values, [3, 1, 2]);
  });
});

describe('histogram quantiles (Prometheus semantics)', () => {
  const buckets = [
    { le: 0.01, count: 10 },
    { le: 0.05, count: 60 },
    { le: 0.1, count: 90 },
    { le: 0.25, count: 100 },
    { le: Number.POSITIVE_INFINITY, count: 100 },
  ];

  it('interpolates linearly inside the bucket that holds the rank', () => {
    assert.equal(histogramQuantile(buckets, 0.05), 0.005);
    assert.ok(Math.abs((histogramQuantile(buckets, 0.5) ?? 0) - 0.042) < 1e-12);
    assert.ok(Math.abs((histogramQuantile(buckets, 0.9) ?? 0) - 0.1) < 1e-12);
    assert.ok(Math.abs((histogramQuantile(buckets, 0.99) ?? 0) - 0.235) < 1e-12);
  });

  it('answers the highest finite bound for ranks in +Inf, and null when empty', () => {
    const slow = [
      { le: 0.1, count: 1 },
      { le: Number.POSITIVE_INFINITY, count: 10 },
    ];
    assert.equal(histogramQuantile(slow, 0.99), 0.1);
    assert.equal(histogramQuantile([{ le: 1, count: 0 }], 0.5), null);
    assert.equal(histogramQuantile([], 0.5), null);
  });

  it('takes per-interval deltas and survives a counter reset', () => {
    const before = buckets.map((bucket) => ({ ...bucket, count: bucket.count / 2 }));
    assert.deepEqual(
      bucketDelta(before, buckets).map((bucket) => bucket.count),
      [5, 30, 45, 50, 50],
    );
    const restarted = buckets.map((bucket) => ({ ...bucket, count: 1 }));
    assert.deepEqual(
      bucketDelta(buckets, restarted).map((bucket) => bucket.count),
      [0, 0, 0, 0, 0],
    );
  });

  it('adds the histograms of several consumers and summarises a window in ms', () => {
    const total = sumBuckets([buckets, buckets]);
    assert.equal(total.at(-1)?.count, 200);
    const window = windowOf(total);
    assert.equal(window.count, 200);
    assert.ok(Math.abs((window.p50 ?? 0) - 42) < 1e-9);
  });
});

describe('prometheus text', () => {
  const text = [
    '# HELP offers_scored_total Registrations scored.',
    '# TYPE offers_scored_total counter',
    'offers_scored_total 1234',
    'offers_messages_consumed_total{topic="a"} 10',
    'offers_messages_consumed_total{topic="b \\"quoted\\""} 5',
    'offers_end_to_end_latency_seconds_bucket{le="0.005"} 3',
    'offers_end_to_end_latency_seconds_bucket{le="0.01"} 7',
    'offers_end_to_end_latency_seconds_bucket{le="+Inf"} 9',
    'offers_end_to_end_latency_seconds_sum 0.2',
    'offers_end_to_end_latency_seconds_count 9',
    'process_resident_memory_bytes 1.5e+08 1732460000000',
  ].join('\n');

  it('parses names, labels (with escapes), values and ignores timestamps', () => {
    const samples = parsePrometheusText(text);
    assert.equal(metricSum(samples, 'offers_scored_total'), 1234);
    assert.equal(metricSum(samples, 'offers_messages_consumed_total'), 15);
    assert.equal(metricSum(samples, 'process_resident_memory_bytes'), 1.5e8);
    assert.equal(metricSum(samples, 'absent'), undefined);
    assert.ok(samples.some((sample) => sample.labels.topic === 'b "quoted"'));
  });

  it('extracts cumulative buckets in bound order', () => {
    assert.deepEqual(
      histogramBuckets(parsePrometheusText(text), 'offers_end_to_end_latency_seconds'),
      [
        { le: 0.005, count: 3 },
        { le: 0.01, count: 7 },
        { le: Number.POSITIVE_INFINITY, count: 9 },
      ],
    );
  });
});

describe('MetricsScraper errors', () => {
  const scrape = (dlq: number, retries: number, up: number, version = '1.2.0') =>
    parsePrometheusText(
      [
        `offers_dead_lettered_total{reason="not_json"} ${dlq}`,
        'offers_dead_lettered_total{reason="missing_id"} 0',
        `offers_sink_retries_total{sink="clickhouse"} ${retries}`,
        'offers_sink_retries_total{sink="redis"} 0',
        'offers_sink_errors_total{sink="clickhouse",retriable="true"} 0',
        `offers_sink_up{sink="clickhouse"} ${up}`,
        'offers_sink_up{sink="redis"} 1',
        `offers_build_info{version="${version}",model_version="m-7",node_version="v20.1.0"} 1`,
      ].join('\n'),
    );

  it('gives per-interval dead letters and retries, the sinks down and the build', () => {
    const scraper = new MetricsScraper(() => []);
    const first = scraper.accept([scrape(5, 1, 1)]);
    assert.deepEqual(first.errors.deadLettered, { not_json: 0, missing_id: 0 });
    assert.equal(first.buildInfo?.modelVersion, 'm-7');
    // Two consumers: their counters add up; one of them reports ClickHouse down.
    const second = scraper.accept([scrape(9, 4, 0), scrape(2, 0, 1)]);
    assert.deepEqual(second.errors.deadLettered, { not_json: 6, missing_id: 0 });
    assert.deepEqual(second.errors.sinkRetries, { clickhouse: 3, redis: 0 });
    assert.deepEqual(second.errors.sinksDown, ['clickhouse']);
    assert.equal(second.up, 2);
  });

  it('counts a counter that went down (a restarted consumer) from zero', () => {
    assert.deepEqual(counterDelta({ a: 10, b: 1 }, { a: 3, b: 4, c: 2 }), { a: 3, b: 3, c: 2 });
  });
});

describe('rates', () => {
  it('gives the per-second rate between observations, not on the first', () => {
    const sampler = new RateSampler();
    assert.equal(sampler.observe(1_000, 0), undefined);
    assert.equal(sampler.observe(2_000, 5_000), 5_000);
    assert.equal(sampler.observe(2_500, 6_000), 2_000);
    // A counter that went back (a restarted process) starts again from zero.
    assert.equal(sampler.observe(3_500, 100), 100);
    assert.equal(sampler.observe(3_500, 200), undefined);
  });

  it('finds the best sustained window', () => {
    assert.equal(maxSustainedRate([1, 10, 10, 10, 1], 3), 10);
    assert.equal(maxSustainedRate([4, 8], 5), 6);
    assert.equal(maxSustainedRate([], 5), 0);
  });

  it('paces production against the schedule from the start', () => {
    assert.equal(dueMessages(1_000, 0, 1e9), 0);
    assert.equal(dueMessages(1_000, 1_500, 1e9), 1_500);
    assert.equal(dueMessages(5_000, 10_000, 20_000), 20_000);
    assert.equal(dueMessages(0, 5, 777), 777);
  });
});

describe('groupPosition', () => {
  it('computes lag per partition, counting a partition without commit from 0', () => {
    const position = groupPosition(
      new Map([
        [1, '100'],
        [0, '50'],
        [2, '0'],
      ]),
      new Map([
        [0, '50'],
        [1, '-1'],
      ]),
    );
    assert.deepEqual(position.lagByPartition, [0, 100, 0]);
    assert.equal(position.lag, 100);
    assert.equal(position.endTotal, 150);
    assert.equal(position.committedTotal, 50);
  });
});
