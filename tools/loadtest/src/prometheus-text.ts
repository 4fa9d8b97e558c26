import type { Bucket } from './stats.js';

/** One line of the Prometheus text exposition format. */
export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

// name, optional {labels}, value (timestamps after the value are ignored).
const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
// One label pair; values escape `\`, `"` and newlines with a backslash.
const LABEL_PAIR = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

function unescapeLabel(value: string): string {
  return value.replace(/\\(.)/g, (_, char: string) => (char === 'n' ? '\n' : char));
}

function parseValue(text: string): number {
  switch (text) {
    case '+Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
    default:
      return Number(text);
  }
}

export function parsePrometheusText(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (match === null) continue;
    const [, name = '', labelText = '', valueText = ''] = match;
    const labels: Record<string, string> = {};
    for (const pair of labelText.matchAll(LABEL_PAIR)) {
      const [, key = '', value = ''] = pair;
      labels[key] = unescapeLabel(value);
    }
    samples.push({ name, labels, value: parseValue(valueText) });
  }
  return samples;
}

/** Sum of every sample of one metric (all label sets); undefined when it is absent. */
export function metricSum(samples: readonly MetricSample[], name: string): number | undefined {
  let found = false;
  let sum = 0;
  for (const sample of samples) {
    if (sample.name !== name) continue;
    found = true;
    sum += sample.value;
  }
  return found ? sum : undefined;
}

/** Cumulative buckets of histogram `name` (label sets other than `le` are added up). */
export function histogramBuckets(samples: readonly MetricSample[], name: string): Bucket[] {
  const counts = new Map<number, number>();
  for (const sample of samples) {
    if (sample.name !== `${name}_bucket`) continue;
    const le = sample.labels.le;
    if (le === undefined) continue;
    const bound = parseValue(le);
    counts.set(bound, (counts.get(bound) ?? 0) + sample.value);
  }
  return [...counts].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
}
