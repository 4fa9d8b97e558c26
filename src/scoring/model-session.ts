import { createHash } from 'node:crypto';

import * as ort from 'onnxruntime-node';

import { errorMessage, OfferError } from '../errors.js';
import { InputEncoding, INPUT_ENCODING_KEY, INPUT_RANGES_KEY } from './input-encoding.js';
import { readModelMetadata } from './onnx-metadata.js';

/** Key of the model version in the ONNX model's `metadata_props`. */
export const MODEL_VERSION_KEY = 'model_version';

export interface SessionOptions {
  /** Threads for one model run; onnxruntime picks a default when left out. */
  readonly intraOpThreads?: number;
}

export function modelInvalid(message: string, cause?: unknown): OfferError {
  return new OfferError('MODEL_INVALID', message, { retriable: false, cause });
}

/** What a model file says about itself: its version and how to feed it, and its digest. */
export interface ModelDescription {
  readonly modelVersion: string;
  /** SHA-256 of the file's bytes, 64 hex digits: which artifact this is, whatever its version says. */
  readonly modelDigest: string;
  readonly encoding: InputEncoding;
}

export const modelDigest = (bytes: Uint8Array): string =>
  createHash('sha256').update(bytes).digest('hex');

/**
 * Reads the version and input encoding from the model's metadata, or says what is wrong; with
 * `expectedSha256` (MODEL_SHA256, or the variable `sha256Variable` names), first refuses a file with another digest.
 */
export function describeModel(
  bytes: Uint8Array,
  modelPath: string,
  expectedSha256 = '',
  sha256Variable = 'MODEL_SHA256',
): ModelDescription {
  const digest = modelDigest(bytes);
  if (expectedSha256 !== '' && digest !== expectedSha256.toLowerCase()) {
    throw modelInvalid(
      `model ${modelPath} has SHA-256 ${digest}, but ${sha256Variable} expects ${expectedSha256}: deliver the expected file or set ${sha256Variable} to the digest of the one you mean to run`,
    );
  }
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
  const encoding = InputEncoding.fromMetadata(
    metadata.get(INPUT_ENCODING_KEY),
    metadata.get(INPUT_RANGES_KEY),
  );
  if (typeof encoding === 'string') throw modelInvalid(`model ${modelPath}: ${encoding}`);
  return { modelVersion, modelDigest: digest, encoding };
}

/**
 * Checks that the graph takes the one float input and yields the one float output its
 * encoding names, so a wrong or stale artifact fails at start-up rather than on traffic.
 */
function checkSignature(
  session: ort.InferenceSession,
  encoding: InputEncoding,
  modelPath: string,
): void {
  const problems: string[] = [];
  const expect = (
    kind: 'input' | 'output',
    names: readonly string[],
    metadata: readonly ort.InferenceSession.ValueMetadata[],
    wanted: string,
  ): void => {
    if (!names.includes(wanted)) problems.push(`missing ${kind} ${wanted}`);
    const unexpected = names.filter((name) => name !== wanted);
    if (unexpected.length > 0) problems.push(`unexpected ${kind}(s) ${unexpected.join(', ')}`);
    for (const value of metadata) {
      if (value.name !== wanted) continue;
      if (!value.isTensor || value.type !== 'float32') {
        const actual = value.isTensor ? value.type : 'a non-tensor value';
        problems.push(`${kind} ${wanted} is ${actual}, expected float32`);
      }
    }
  };
  expect('input', session.inputNames, session.inputMetadata, encoding.input);
  expect('output', session.outputNames, session.outputMetadata, encoding.output);
  if (problems.length > 0) {
    throw modelInvalid(
      `model ${modelPath} does not match the scorer: ${problems.join('; ')} ` +
        `(inputs: ${session.inputNames.join(', ')}; outputs: ${session.outputNames.join(', ')})`,
    );
  }
}

/** One onnxruntime session of the offer model: encoded rows in, the prediction matrix out. */
export class ModelSession {
  private constructor(
    private readonly session: ort.InferenceSession,
    readonly description: ModelDescription,
  ) {}

  /**
   * Loads the model (described here unless the caller already did). Fails with a
   * MODEL_INVALID error when the bytes are not a loadable ONNX model, carry no model version
   * or input encoding, or the graph does not match them.
   */
  static async open(
    bytes: Uint8Array,
    modelPath: string,
    options: SessionOptions,
    description: ModelDescription = describeModel(bytes, modelPath),
  ): Promise<ModelSession> {
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
      checkSignature(session, description.encoding, modelPath);
    } catch (error) {
      await session.release();
      throw error;
    }
    return new ModelSession(session, description);
  }

  get inputNames(): readonly string[] {
    return this.session.inputNames;
  }

  /** The [rows, predictions] output matrix for the [rows, width] input matrix. */
  async run(input: Float32Array, rows: number): Promise<Float32Array> {
    const { encoding } = this.description;
    const tensor = new ort.Tensor('float32', input, [rows, encoding.width]);
    const results = await this.session.run({ [encoding.input]: tensor }, [encoding.output]);
    const output = results[encoding.output];
    if (output?.type !== 'float32' || !(output.data instanceof Float32Array)) {
      throw modelInvalid('model output is not a float32 tensor');
    }
    return output.data;
  }

  release(): Promise<void> {
    return this.session.release();
  }
}
