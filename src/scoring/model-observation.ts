import type { CATEGORICAL_FIELDS, NUMERIC_FIELDS } from '../contract/registration.js';
import type { PredictionName } from './predictions.js';

/** The model's input columns, named after the message fields they come from. */
export type ObservedColumn = keyof typeof CATEGORICAL_FIELDS | keyof typeof NUMERIC_FIELDS;

/** How the loaded model lays out what an observer is handed, in the model's own order. */
export interface ModelLayout {
  /** Input columns, in the order of `InputCounts`' arrays. */
  readonly columns: readonly ObservedColumn[];
  /** Output columns, in the order of the prediction matrix's rows. */
  readonly predictions: readonly PredictionName[];
}

/**
 * What the encoder saw in one batch, one slot per input column (the model's order). Filled
 * while the batch is encoded, so that observing a batch costs no second pass over it.
 */
export class InputCounts {
  /** Null (or the empty string) in the message. */
  readonly missing: Float64Array;
  /** A string the model's vocabulary does not hold: the model treats it as no category. */
  readonly unseen: Float64Array;
  /** A number below the training minimum or above the training maximum. */
  readonly outOfRange: Float64Array;

  constructor(width: number) {
    this.missing = new Float64Array(width);
    this.unseen = new Float64Array(width);
    this.outOfRange = new Float64Array(width);
  }
}

/**
 * Watches the model: handed every successful run's input counts and its [rows, predictions]
 * output matrix. Runs on the hot path, once per batch: it must be cheap and never throw.
 */
export interface ModelObserver {
  observe(inputs: InputCounts, outputs: Float32Array, rows: number): void;
}

/** Makes the observer of a loaded model, given the model's layout. */
export type ModelObserverFactory = (layout: ModelLayout) => ModelObserver;
