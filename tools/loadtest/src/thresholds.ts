import type { LoadSummary } from './load-summary.js';

/**
 * Pass/fail criteria of a run, given as `--threshold '<metric><operator><number>'` (like
 * k6's thresholds): `p99_latency_ms<500`, `dlq_rate<0.01`, `max_lag<=10000`. A run whose
 * thresholds do not all hold exits 1.
 */

export const OPERATORS = ['<=', '>=', '<', '>'] as const;
export type Operator = (typeof OPERATORS)[number];

interface MetricDefinition {
  readonly description: string;
  /** The measured value; null when the run has no data for it (which fails the threshold). */
  readonly value: (summary: LoadSummary) => number | null;
}

const sum = (values: Readonly<Record<string, number>>): number =>
  Object.values(values).reduce((total, value) => total + value, 0);
const scrapedOnly =
  (get: (errors: LoadSummary['errors']) => number) =>
  (summary: LoadSummary): number | null =>
    summary.errors.scraped ? get(summary.errors) : null;

/** The metrics a threshold can name, with what they measure (README: "Thresholds"). */
export const THRESHOLD_METRICS = {
  p50_latency_ms: {
    description: 'median Kafka timestamp → offer readable in Redis (sampled users), ms',
    value: (s) => s.redisLatencyMs?.p50 ?? null,
  },
  p95_latency_ms: {
    description: '95th percentile of the same, ms',
    value: (s) => s.redisLatencyMs?.p95 ?? null,
  },
  p99_latency_ms: {
    description: '99th percentile of the same, ms',
    value: (s) => s.redisLatencyMs?.p99 ?? null,
  },
  max_latency_ms: {
    description: 'slowest sampled user to Redis, ms',
    value: (s) => s.redisLatencyMs?.max ?? null,
  },
  clickhouse_p99_latency_ms: {
    description: '99th percentile of Kafka timestamp → row returned by a ClickHouse SELECT, ms',
    value: (s) => s.clickhouseLatencyMs?.p99 ?? null,
  },
  consumer_p99_latency_ms: {
    description: "99th percentile of the consumers' end-to-end histogram (bucket-interpolated), ms",
    value: (s) => s.consumerLatencyMs?.p99 ?? null,
  },
  max_lag: {
    description: 'largest consumer-group lag seen, messages',
    value: (s) => s.maxLag,
  },
  final_lag: {
    description: 'lag at the end of the run, messages',
    value: (s) => s.finalLag,
  },
  drain_s: {
    description: 'seconds from the end of production to zero lag (no data if never)',
    value: (s) => s.drainSeconds,
  },
  produce_rate: {
    description: 'messages acknowledged by the brokers per second of production',
    value: (s) => s.avgProduceRate,
  },
  commit_rate: {
    description: 'messages committed per second over the run (production and drain)',
    value: (s) => s.avgCommitRate,
  },
  sustained_commit_rate: {
    description: 'best 5-second average of messages committed per second',
    value: (s) => s.sustainedCommitRate,
  },
  dlq_messages: {
    description: 'messages the consumers dead-lettered',
    value: scrapedOnly((errors) => errors.deadLetteredTotal),
  },
  dlq_rate: {
    description: 'dead-lettered messages / messages produced',
    value: (s) => (s.errors.scraped ? s.errors.deadLetteredTotal / Math.max(1, s.produced) : null),
  },
  sink_retries: {
    description: 'sink writes retried (all sinks)',
    value: scrapedOnly((errors) => sum(errors.sinkRetries)),
  },
  sink_errors: {
    description: 'failed sink writes (all sinks)',
    value: scrapedOnly((errors) => sum(errors.sinkErrors)),
  },
  sink_down_s: {
    description: 'seconds during which a consumer reported a sink down',
    value: scrapedOnly((errors) => errors.anySinkDownSeconds),
  },
  send_errors: {
    description: 'messages the brokers did not acknowledge to the generator',
    value: (s) => s.errors.sendErrors,
  },
  probe_timeouts: {
    description: 'sampled users whose offer did not appear in Redis or ClickHouse in time',
    value: (s) => s.probes.redis.timedOut + (s.probes.clickhouse?.timedOut ?? 0),
  },
} as const satisfies Record<string, MetricDefinition>;

export type ThresholdMetric = keyof typeof THRESHOLD_METRICS;
const METRIC_NAMES = Object.keys(THRESHOLD_METRICS) as ThresholdMetric[];

export interface Threshold {
  /** As given, trimmed. */
  readonly expression: string;
  readonly metric: ThresholdMetric;
  readonly operator: Operator;
  readonly limit: number;
}

export interface ThresholdResult extends Threshold {
  readonly value: number | null;
  readonly passed: boolean;
}

export class ThresholdSyntaxError extends Error {}

const FORM = /^\s*([a-z0-9_]+)\s*(<=|>=|<|>)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*$/i;

export function thresholdHelp(): string {
  return [
    'form: <metric><operator><number>, e.g. p99_latency_ms<500, dlq_rate<0.01, max_lag<=10000',
    `operators: ${OPERATORS.join(' ')}`,
    `metrics: ${METRIC_NAMES.join(', ')}`,
  ].join('\n');
}

/** Parses one `--threshold` value; throws ThresholdSyntaxError naming the flag and what is allowed. */
export function parseThreshold(text: string): Threshold {
  const fail = (why: string): never => {
    throw new ThresholdSyntaxError(
      `--threshold ${JSON.stringify(text)}: ${why}\n${thresholdHelp()}`,
    );
  };
  const match = FORM.exec(text);
  if (match === null) {
    const operator = /(==|!=|=<|=>|=)/.exec(text)?.[1];
    return fail(
      operator === undefined
        ? 'not <metric><operator><number>'
        : `operator ${JSON.stringify(operator)} is not one of ${OPERATORS.join(' ')}`,
    );
  }
  const [, name = '', operator = '', number = ''] = match;
  if (!(METRIC_NAMES as readonly string[]).includes(name)) {
    fail(`unknown metric ${JSON.stringify(name)}`);
  }
  const limit = Number(number);
  if (!Number.isFinite(limit)) fail(`${number} is not a finite number`);
  return {
    expression: `${name}${operator}${number}`,
    metric: name as ThresholdMetric,
    operator: operator as Operator,
    limit,
  };
}

export function compare(value: number, operator: Operator, limit: number): boolean {
  switch (operator) {
    case '<':
      return value < limit;
    case '<=':
      return value <= limit;
    case '>':
      return value > limit;
    case '>=':
      return value >= limit;
  }
}

/** Each threshold against the run's summary; a metric without data fails its threshold. */
export function evaluateThresholds(
  thresholds: readonly Threshold[],
  summary: LoadSummary,
): ThresholdResult[] {
  return thresholds.map((threshold) => {
    const value: number | null = THRESHOLD_METRICS[threshold.metric].value(summary);
    const measured = value !== null && Number.isFinite(value) ? value : null;
    return {
      ...threshold,
      value: measured,
      passed: measured !== null && compare(measured, threshold.operator, threshold.limit),
    };
  });
}

/** `12.3`, `0.0042`, `10,000`: enough digits to see why a threshold passed or failed. */
export function formatValue(value: number | null): string {
  if (value === null) return 'no data';
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return Math.abs(value) >= 100 ? value.toFixed(1) : String(Number(value.toPrecision(3)));
}

/** The k6-style block printed after a run: one line per threshold, then the verdict. */
export function thresholdLines(results: readonly ThresholdResult[]): string[] {
  if (results.length === 0) return [];
  const width = Math.max(...results.map((result) => result.expression.length));
  return [
    ...results.map(
      (result) =>
        `${result.passed ? '✓' : '✗'} ${result.expression.padEnd(width)}  measured ${formatValue(result.value)}`,
    ),
    results.every((result) => result.passed)
      ? `thresholds: all ${results.length} passed`
      : `thresholds: ${results.filter((result) => !result.passed).length} of ${results.length} failed`,
  ];
}
