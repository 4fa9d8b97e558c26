import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { LoadSummary } from '../src/load-summary.js';
import {
  compare,
  evaluateThresholds,
  parseThreshold,
  THRESHOLD_METRICS,
  thresholdLines,
  ThresholdSyntaxError,
} from '../src/thresholds.js';

const SUMMARY: LoadSummary = {
  productionSeconds: 10,
  produced: 10_000,
  avgProduceRate: 1_000,
  committed: 10_000,
  avgCommitRate: 900,
  sustainedCommitRate: 1_200,
  maxLag: 4_200,
  finalLag: 0,
  drainSeconds: null,
  redisLatencyMs: { count: 100, min: 3, mean: 30, p50: 20, p95: 180, p99: 420, max: 900 },
  clickhouseLatencyMs: null,
  consumerLatencyMs: { count: 10_000, p50: 25, p95: 200, p99: 480 },
  probes: {
    redis: { observed: 100, skipped: 0, timedOut: 2, pendingAtEnd: 0 },
    clickhouse: { observed: 90, skipped: 0, timedOut: 1, pendingAtEnd: 0 },
    clickhouseError: null,
  },
  errors: {
    scraped: true,
    deadLettered: { not_json: 60, missing_id: 40 },
    deadLetteredTotal: 100,
    sinkRetries: { clickhouse: 3, redis: 1 },
    sinkErrors: { clickhouse: 4 },
    sinkDownSeconds: { clickhouse: 2 },
    anySinkDownSeconds: 2,
    sendErrors: 0,
    lastSendError: null,
  },
  processes: [],
  replicas: { min: 1, max: 1 },
};

describe('parseThreshold', () => {
  it('reads <metric><operator><number>, with or without spaces', () => {
    assert.deepEqual(parseThreshold('p99_latency_ms<500'), {
      expression: 'p99_latency_ms<500',
      metric: 'p99_latency_ms',
      operator: '<',
      limit: 500,
    });
    assert.deepEqual(parseThreshold(' dlq_rate <= 0.01 '), {
      expression: 'dlq_rate<=0.01',
      metric: 'dlq_rate',
      operator: '<=',
      limit: 0.01,
    });
    assert.equal(parseThreshold('commit_rate>=1e3').limit, 1_000);
    assert.equal(parseThreshold('max_lag>-1').limit, -1);
  });

  it('refuses anything else naming the flag, the text and what is allowed', () => {
    const cases: [string, RegExp][] = [
      ['p99_latncy_ms<500', /unknown metric "p99_latncy_ms"/],
      ['max_lag==0', /operator "==" is not one of <= >= < >/],
      ['max_lag=<5', /operator "=<" is not one of/],
      ['max_lag<', /not <metric><operator><number>/],
      ['max_lag<ten', /not <metric><operator><number>/],
      ['', /not <metric><operator><number>/],
      ['p(99)<500', /not <metric><operator><number>/],
    ];
    for (const [text, why] of cases) {
      assert.throws(
        () => parseThreshold(text),
        (error: unknown) => {
          assert.ok(error instanceof ThresholdSyntaxError);
          assert.match(error.message, why);
          assert.ok(error.message.startsWith(`--threshold ${JSON.stringify(text)}: `));
          assert.match(error.message, /operators: <= >= < >/);
          assert.match(error.message, /metrics: p50_latency_ms, .*max_lag, .*dlq_rate/);
          return true;
        },
        text,
      );
    }
  });
});

describe('evaluateThresholds', () => {
  const results = evaluateThresholds(
    [
      'p99_latency_ms<500',
      'p99_latency_ms<420',
      'p99_latency_ms<=420',
      'dlq_rate<0.01',
      'dlq_rate<=0.01',
      'max_lag<10000',
      'drain_s<30',
      'clickhouse_p99_latency_ms<1000',
      'sink_retries<5',
      'sink_down_s<1',
      'probe_timeouts<=3',
      'sustained_commit_rate>1000',
    ].map(parseThreshold),
    SUMMARY,
  );
  const outcome = Object.fromEntries(results.map((r) => [r.expression, [r.value, r.passed]]));

  it('compares the measured value with the limit', () => {
    assert.deepEqual(outcome['p99_latency_ms<500'], [420, true]);
    assert.deepEqual(outcome['p99_latency_ms<420'], [420, false]);
    assert.deepEqual(outcome['p99_latency_ms<=420'], [420, true]);
    // 100 dead letters of 10,000 produced.
    assert.deepEqual(outcome['dlq_rate<0.01'], [0.01, false]);
    assert.deepEqual(outcome['dlq_rate<=0.01'], [0.01, true]);
    assert.deepEqual(outcome['max_lag<10000'], [4_200, true]);
    assert.deepEqual(outcome['sink_retries<5'], [4, true]);
    assert.deepEqual(outcome['sink_down_s<1'], [2, false]);
    assert.deepEqual(outcome['probe_timeouts<=3'], [3, true]);
    assert.deepEqual(outcome['sustained_commit_rate>1000'], [1_200, true]);
  });

  it('fails a threshold whose metric has no data', () => {
    assert.deepEqual(outcome['drain_s<30'], [null, false]);
    assert.deepEqual(outcome['clickhouse_p99_latency_ms<1000'], [null, false]);
    const unscraped = { ...SUMMARY, errors: { ...SUMMARY.errors, scraped: false } };
    const dlq = evaluateThresholds([parseThreshold('dlq_rate<1')], unscraped).at(0);
    assert.ok(dlq !== undefined);
    assert.equal(dlq.value, null);
    assert.equal(dlq.passed, false);
  });

  it('has a value for every metric it documents', () => {
    for (const [name, metric] of Object.entries(THRESHOLD_METRICS)) {
      const value: number | null = metric.value(SUMMARY);
      assert.ok(value === null || Number.isFinite(value), name);
      assert.ok(metric.description.length > 10, name);
    }
  });

  it('prints one line per threshold and the verdict', () => {
    const lines = thresholdLines(results.slice(0, 2));
    assert.deepEqual(lines, [
      '✓ p99_latency_ms<500  measured 420',
      '✗ p99_latency_ms<420  measured 420',
      'thresholds: 1 of 2 failed',
    ]);
    assert.deepEqual(thresholdLines([]), []);
  });

  it('knows its four operators', () => {
    assert.equal(compare(1, '<', 2), true);
    assert.equal(compare(2, '<', 2), false);
    assert.equal(compare(2, '>=', 2), true);
    assert.equal(compare(2, '>', 2), false);
  });
});
