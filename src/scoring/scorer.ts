import { readFile } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import type { Registration } from '../contract/registration.js';
import { errorMessage, OfferError } from '../errors.js';
import { readModelMetadata } from './onnx-metadata.js';
import { PREDICTION_NAMES, type PredictionName, type Predictions } from './predictions.js';
import {
  buildInputColumns,
  MODEL_INPUT_NAMES,
  NUMBER_INPUTS,
  STRING_INPUTS,
  type InputColumns,
} from './tensors.js';

/** Key of the model version in the ONNX model's `metadata_props`. */
export const MODEL_VERSION_KEY = 'model_version';

export interface Scorer {
  /** The `model_version` recorded in the loaded model file. */
  readonly modelVersion: string;
  /** The graph's input names, as onnxruntime reports them. */
  readonly inputNames: readonly string[];
  /** Predictions for every registration, in order, from one run of the model. */
  score(batch: readonly Registration[]): Promise<Predictions[]>;
  /** Waits for running batches, then frees the session. Later `score` calls reject. */
  close(): Promise<void>;
}

export interface ScorerOptions {
  /** Threads for one model run; onnxruntime picks a default when left out. */
  readonly intraOpThreads?: number;
}

function modelInvalid(message: string, cause?: unknown): OfferError {
  return new OfferError('MODEL_INVALID', message, { retriable: false, cause });
}

const EXPECTED_INPUT_TYPES: ReadonlyMap<string, ort.Tensor.Type> = new Map([
  ...STRING_INPUTS.map(([name]) => [name, 'string'] as const),
  ...NUMBER_INPUTS.map(([name]) => [name, 'float32'] as const),
]);

/**
 * Checks that the graph takes exactly the raw fields and yields the eight predictions as
 * float tensors, so a wrong or stale artifact fails at start-up rather than on traffic.
 */
function checkSignature(session: ort.InferenceSession, modelPath: string): void {
  const problems: string[] = [];
  const missingInputs = MODEL_INPUT_NAMES.filter((name) => !session.inputNames.includes(name));
  if (missingInputs.length > 0) problems.push(`missing input(s) ${missingInputs.join(', ')}`);
  const unexpectedInputs = session.inputNames.filter((name) => !EXPECTED_INPUT_TYPES.has(name));
  if (unexpectedInputs.length > 0) {
    problems.push(`unexpected input(s) ${unexpectedInputs.join(', ')}`);
  }
  for (const input of session.inputMetadata) {
    const expected = EXPECTED_INPUT_TYPES.get(input.name);
    if (expected === undefined) continue;
    if (!input.isTensor || input.type !== expected) {
      const actual = input.isTensor ? input.type : 'a non-tensor value';
      problems.push(`input ${input.name} is ${actual}, expected ${expected}`);
    }
  }
  const missingOutputs = PREDICTION_NAMES.filter((name) => !session.outputNames.includes(name));
  if (missingOutputs.length > 0) problems.push(`missing output(s) ${missingOutputs.join(', ')}`);
  for (const output of session.outputMetadata) {
    if (!(PREDICTION_NAMES as readonly string[]).includes(output.name)) continue;
    if (!output.isTensor || output.type !== 'float32') {
      const actual = output.isTensor ? output.type : 'a non-tensor value';
      problems.push(`output ${output.name} is ${actual}, expected float32`);
    }
  }
  if (problems.length > 0) {
    throw modelInvalid(
      `model ${modelPath} does not match the scorer: ${problems.join('; ')} ` +
        `(inputs: ${session.inputNames.join(', ')}; outputs: ${session.outputNames.join(', ')})`,
    );
  }
}

function toFeeds(columns: InputColumns): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const name of MODEL_INPUT_NAMES) {
    const column = columns[name];
    feeds[name] =
      column.type === 'string'
        ? new ort.Tensor('string', column.data, column.dims)
        : new ort.Tensor('float32', column.data, column.dims);
  }
  return feeds;
}

function outputColumn(
  results: ort.InferenceSession.ReturnType,
  name: PredictionName,
  rows: number,
): Float32Array {
  const tensor = results[name];
  if (tensor?.type !== 'float32' || !(tensor.data instanceof Float32Array)) {
    throw modelInvalid(`model output ${name} is not a float32 tensor`);
  }
  if (tensor.data.length !== rows) {
    throw modelInvalid(`model output ${name} has ${tensor.data.length} values for ${rows} rows`);
  }
  return tensor.data;
}

class OnnxScorer implements Scorer {
  readonly inputNames: readonly string[];
  private readonly running = new Set<Promise<unknown>>();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly session: ort.InferenceSession,
    readonly modelVersion: string,
  ) {
    this.inputNames = [...session.inputNames];
  }

  async score(batch: readonly Registration[]): Promise<Predictions[]> {
    if (this.closing !== undefined) {
      // Only a stopping service closes the scorer; its unfinished batch is redelivered.
      throw new OfferError('ABORTED', 'the scorer is closed', { retriable: false });
    }
    if (batch.length === 0) return [];
    const run = this.session.run(toFeeds(buildInputColumns(batch)), [...PREDICTION_NAMES]);
    this.running.add(run);
    let results: ort.InferenceSession.ReturnType;
    try {
      results = await run;
    } finally {
      this.running.delete(run);
    }
    const rows = batch.length;
    const columns = {} as Record<PredictionName, Float32Array>;
    for (const name of PREDICTION_NAMES) columns[name] = outputColumn(results, name, rows);
    const predictions = new Array<Predictions>(rows);
    for (let row = 0; row < rows; row += 1) {
      const prediction = {} as Record<PredictionName, number>;
      for (const name of PREDICTION_NAMES) prediction[name] = columns[name][row] ?? Number.NaN;
      predictions[row] = prediction;
    }
    return predictions;
  }

  close(): Promise<void> {
    // Releasing the native session under a running batch would free memory the run still uses.
    this.closing ??= Promise.allSettled([...this.running]).then(() => this.session.release());
    return this.closing;
  }
}

/**
 * Loads the model once. Fails with a MODEL_INVALID error when the file cannot be read, is not
 * a loadable ONNX model, carries no model version, or does not have the expected inputs and
 * outputs.
 */
export async function loadScorer(modelPath: string, options: ScorerOptions = {}): Promise<Scorer> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(modelPath);
  } catch (error) {
    throw modelInvalid(`cannot read model ${modelPath}: ${errorMessage(error)}`, error);
  }

  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      executionProviders: ['cpu'],
      graphOptimizationLevel: 'all',
      // Batches are scored one at a time; parallelism lives inside a run, not across nodes.
      executionMode: 'sequential',
      interOpNumThreads: 1,
      ...(options.intraOpThreads === undefined
        ? {}
        : { intraOpNumThreads: options.intraOpThreads }),
    });
  } catch (error) {
    throw modelInvalid(`cannot load model ${modelPath}: ${errorMessage(error)}`, error);
  }

  try {
    let metadata: Map<string, string>;
    try {
      metadata = readModelMetadata(bytes);
    } catch (error) {
      throw modelInvalid(`cannot read metadata of ${modelPath}: ${errorMessage(error)}`, error);
    }
    const modelVersion = metadata.get(MODEL_VERSION_KEY);
    if (modelVersion === undefined || modelVersion === '') {
      throw modelInvalid(`model ${modelPath} has no ${MODEL_VERSION_KEY} in its metadata_props`);
    }
    checkSignature(session, modelPath);
    return new OnnxScorer(session, modelVersion);
  } catch (error) {
    await session.release();
    throw error;
  }
}
