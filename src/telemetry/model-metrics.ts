import { Counter, type Registry } from 'prom-client';

import { CATEGORICAL_FIELDS, NUMERIC_FIELDS } from '../contract/registration.js';
import type {
  InputCounts,
  ModelLayout,
  ModelObserver,
  ObservedColumn,
} from '../scoring/model-observation.js';
import { OFFER_PROBABILITY_THRESHOLD, OPTIONAL_FUNCTIONS } from '../scoring/offer.js';
import type { PredictionName } from '../scoring/predictions.js';
import { BatchHistogram, type HistogramSeries } from './batch-histogram.js';

const STRING_FIELDS = Object.keys(CATEGORICAL_FIELDS) as ObservedColumn[];
const NUMBER_FIELDS = Object.keys(NUMERIC_FIELDS) as ObservedColumn[];
const FUNCTION_PREFIX = 'predicted_function_';

/** The six optional functions as the metrics label them: `map`, `sos_signal`, ... */
export const FUNCTIONS = OPTIONAL_FUNCTIONS.map(([name]) => name.slice(FUNCTION_PREFIX.length));

export const PROBABILITY_BUCKETS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1];
/** USD; the training labels run from 0 to 36 (model/metrics.json, model/data). */
export const COST_BUCKETS = [0.5, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40];
/** Days; the training labels run from 0 to 158. */
export const SUBSCRIPTION_BUCKETS = [5, 10, 20, 30, 40, 50, 60, 70, 80, 100, 120, 140, 160];

type Child = ReturnType<Counter<'field'>['labels']>;

function zeroedCounter(
  registry: Registry,
  name: string,
  help: string,
  fields?: readonly string[],
): Counter<'field'> {
  const metric = new Counter({
    name,
    help,
    labelNames: fields === undefined ? [] : (['field'] as const),
    registers: [registry],
  });
  for (const field of fields ?? []) metric.inc({ field }, 0);
  if (fields === undefined) metric.inc(0);
  return metric;
}

/** What the model was fed, per field, beside the rows it scored (so each is a rate per row). */
function inputMetrics(registry: Registry) {
  return {
    rows: zeroedCounter(
      registry,
      'offers_model_rows_total',
      'Rows the model scored (one per registration; a batch scored again counts again).',
    ),
    missing: zeroedCounter(
      registry,
      'offers_model_input_missing_total',
      'Input values missing (null or empty), by field; the model imputes them.',
      [...STRING_FIELDS, ...NUMBER_FIELDS],
    ),
    unseen: zeroedCounter(
      registry,
      'offers_model_input_unseen_total',
      "String inputs outside the model's vocabulary (a category training never saw), by field.",
      STRING_FIELDS,
    ),
    outOfRange: zeroedCounter(
      registry,
      'offers_model_input_out_of_range_total',
      'Number inputs below the training minimum or above its maximum, by field (never counted for a model without input_ranges).',
      NUMBER_FIELDS,
    ),
  };
}

/**
 * The metric names of what a model gave: `offers_model_*` for the live model (the one whose
 * offers reach Redis), `offers_shadow_model_*` for the shadow model (MODEL_SHADOW_PATH), so
 * that the shadow never adds to the live model's series, rates or alerts.
 */
const OUTPUT_PREFIXES = { live: 'offers_model', shadow: 'offers_shadow_model' } as const;
type ModelRole = keyof typeof OUTPUT_PREFIXES;

/** What the model gave: each prediction's distribution, and the offers' mix of functions. */
function outputMetrics(registry: Registry, role: ModelRole) {
  const prefix = OUTPUT_PREFIXES[role];
  const which = role === 'live' ? '' : ' (shadow model, MODEL_SHADOW_PATH)';
  const offersWith = new Counter({
    name: `${prefix}_offers_with_function_total`,
    help: `Offers that include the optional function (its probability above ${OFFER_PROBABILITY_THRESHOLD}), by function${which}.`,
    labelNames: ['function'] as const,
    registers: [registry],
  });
  for (const name of FUNCTIONS) offersWith.inc({ function: name }, 0);
  const probability = new BatchHistogram(
    `${prefix}_function_probability`,
    `Predicted probability that the user uses the optional function, by function${which}.`,
    'function',
    FUNCTIONS,
    PROBABILITY_BUCKETS,
    registry,
  );
  const cost = new BatchHistogram(
    `${prefix}_predicted_cost_usd`,
    `Predicted total payments (USD)${which}.`,
    undefined,
    [''],
    COST_BUCKETS,
    registry,
  );
  const subscription = new BatchHistogram(
    `${prefix}_predicted_subscription`,
    // In days, as the model gives it: promtool asks for seconds behind a time unit, so no suffix.
    `Predicted subscription length, in days${which}.`,
    undefined,
    [''],
    SUBSCRIPTION_BUCKETS,
    registry,
  );
  return {
    offersWith,
    series(name: PredictionName): HistogramSeries {
      if (name === 'predicted_cost') return cost.series('');
      if (name === 'predicted_subscription') return subscription.series('');
      return probability.series(name.slice(FUNCTION_PREFIX.length));
    },
  };
}

/**
 * The model's inputs and outputs: per field, the missing values, the strings outside the
 * model's vocabulary and the numbers outside the training range, beside the rows scored; the
 * distribution of each prediction; how many offers include each optional function. Every
 * series exists from the start at 0.
 */
export function createModelMetrics(registry: Registry) {
  const inputs = inputMetrics(registry);
  const outputs = outputMetrics(registry, 'live');
  const shadowRows = zeroedCounter(
    registry,
    'offers_shadow_model_rows_total',
    'Rows the shadow model (MODEL_SHADOW_PATH) scored; 0 while shadow scoring is off.',
  );
  const shadowOutputs = outputMetrics(registry, 'shadow');
  const offersWithOf = (outputCounters: typeof outputs, name: PredictionName) =>
    name.startsWith(FUNCTION_PREFIX)
      ? outputCounters.offersWith.labels({ function: name.slice(FUNCTION_PREFIX.length) })
      : undefined;
  const only =
    (metric: Counter<'field'>, fields: readonly ObservedColumn[]) => (field: ObservedColumn) =>
      fields.includes(field) ? metric.labels({ field }) : undefined;
  return {
    /** The observer of a loaded model: children and series looked up once, in the model's order. */
    observer(layout: ModelLayout): ModelObserver {
      return new ModelMetricsObserver({
        rows: inputs.rows,
        missing: layout.columns.map((field) => inputs.missing.labels({ field })),
        unseen: layout.columns.map(only(inputs.unseen, STRING_FIELDS)),
        outOfRange: layout.columns.map(only(inputs.outOfRange, NUMBER_FIELDS)),
        series: layout.predictions.map((name) => outputs.series(name)),
        offersWith: layout.predictions.map((name) => offersWithOf(outputs, name)),
      });
    },
    /**
     * The observer of the shadow model: its outputs only (it is fed the same registrations as
     * the live model, whose observer already counts their inputs).
     */
    shadowObserver(layout: ModelLayout): ModelObserver {
      return new ModelMetricsObserver({
        rows: shadowRows,
        missing: [],
        unseen: [],
        outOfRange: [],
        series: layout.predictions.map((name) => shadowOutputs.series(name)),
        offersWith: layout.predictions.map((name) => offersWithOf(shadowOutputs, name)),
      });
    },
  };
}

interface Targets {
  readonly rows: Counter;
  /** Per input column (the model's order). */
  readonly missing: readonly Child[];
  /** Per input column too; undefined where the count does not apply (unseen numbers, say). */
  readonly unseen: readonly (Child | undefined)[];
  readonly outOfRange: readonly (Child | undefined)[];
  /** Per output column (the model's order); offersWith undefined for the two regressions. */
  readonly series: readonly HistogramSeries[];
  readonly offersWith: readonly (Child | undefined)[];
}

/** Adds one batch: a few counter increments and one pass per output column. */
export class ModelMetricsObserver implements ModelObserver {
  constructor(private readonly targets: Targets) {}

  observe(inputs: InputCounts, outputs: Float32Array, rows: number): void {
    const { targets } = this;
    targets.rows.inc(rows);
    addCounts(targets.missing, inputs.missing);
    addCounts(targets.unseen, inputs.unseen);
    addCounts(targets.outOfRange, inputs.outOfRange);
    const width = targets.series.length;
    for (let column = 0; column < width; column += 1) {
      targets.series[column]?.addColumn(outputs, column, width, rows);
      const offers = targets.offersWith[column];
      if (offers !== undefined) {
        const above = countAbove(outputs, column, width, rows, OFFER_PROBABILITY_THRESHOLD);
        if (above > 0) offers.inc(above);
      }
    }
  }
}

function addCounts(children: readonly (Child | undefined)[], counts: Float64Array): void {
  for (let column = 0; column < children.length; column += 1) {
    const count = counts[column] ?? 0;
    if (count > 0) children[column]?.inc(count);
  }
}

/** How many of every `stride`-th value from `start` are above `threshold`. */
export function countAbove(
  values: Float32Array,
  start: number,
  stride: number,
  rows: number,
  threshold: number,
): number {
  let above = 0;
  for (let row = 0, at = start; row < rows; row += 1, at += stride) {
    if ((values[at] ?? 0) > threshold) above += 1;
  }
  return above;
}

export type ModelMetrics = ReturnType<typeof createModelMetrics>;
