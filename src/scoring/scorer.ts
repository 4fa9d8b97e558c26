import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';

import type { Registration } from '../contract/registration.js';
import { errorMessage, OfferError } from '../errors.js';
import type { InputEncoding } from './input-encoding.js';
import { InputCounts, type ModelObserver, type ModelObserverFactory } from './model-observation.js';
import {
  describeModel,
  ModelSession,
  modelInvalid,
  type ModelDescription,
  type SessionOptions,
} from './model-session.js';
import type { PredictionName, Predictions } from './predictions.js';
import type { WorkerReply, WorkerRequest, WorkerSetup, WorkerStatus } from './scoring-worker.js';

export { MODEL_VERSION_KEY } from './model-session.js';

export interface Scorer {
  /** The `model_version` recorded in the loaded model file. */
  readonly modelVersion: string;
  /** SHA-256 of the loaded model file, 64 hex digits. */
  readonly modelDigest: string;
  /** The graph's input names, as onnxruntime reports them. */
  readonly inputNames: readonly string[];
  /** Predictions for every registration, in order, from one run of the model. */
  score(batch: readonly Registration[]): Promise<Predictions[]>;
  /** Waits for running batches, then frees the session(s). Later `score` calls reject. */
  close(): Promise<void>;
}

export interface ScorerOptions extends SessionOptions {
  /**
   * Worker threads that run the model, each with its own session; 0 runs it on the calling
   * thread (which then waits for every run).
   */
  readonly workers?: number;
  /** The model file's expected SHA-256 (hex, MODEL_SHA256); empty or left out: not checked. */
  readonly expectedSha256?: string;
  /** The variable that set `expectedSha256`, named when the file differs (MODEL_SHA256). */
  readonly sha256Variable?: string;
  /** Watches every run's inputs and outputs (counted while encoding, handed over per batch). */
  readonly observer?: ModelObserverFactory;
}

/** One object per row from the [rows, columns] output matrix. */
function toPredictions(
  values: Float32Array,
  columns: readonly PredictionName[],
  rows: number,
): Predictions[] {
  const width = columns.length;
  if (values.length !== rows * width) {
    throw modelInvalid(`model output has ${values.length} values for ${rows} rows of ${width}`);
  }
  const predictions = new Array<Predictions>(rows);
  for (let row = 0, at = 0; row < rows; row += 1) {
    const prediction = {} as Record<PredictionName, number>;
    for (const name of columns) prediction[name] = values[at++] ?? Number.NaN;
    predictions[row] = prediction;
  }
  return predictions;
}

const closedError = (): OfferError =>
  // Only a stopping service closes the scorer; its unfinished batch is redelivered.
  new OfferError('ABORTED', 'the scorer is closed', { retriable: false });

/** Encodes batches and turns the model's output into predictions; `run` does the rest. */
abstract class EncodingScorer implements Scorer {
  readonly modelVersion: string;
  readonly modelDigest: string;
  protected readonly encoding: InputEncoding;
  private readonly running = new Set<Promise<unknown>>();
  private readonly observer: ModelObserver | undefined;
  private closing: Promise<void> | undefined;

  constructor(
    description: ModelDescription,
    readonly inputNames: readonly string[],
    observer: ModelObserverFactory | undefined,
  ) {
    this.modelVersion = description.modelVersion;
    this.modelDigest = description.modelDigest;
    this.encoding = description.encoding;
    this.observer = observer?.(description.encoding.layout);
  }

  protected abstract run(input: Float32Array, rows: number): Promise<Float32Array>;
  protected abstract release(): Promise<void>;

  async score(batch: readonly Registration[]): Promise<Predictions[]> {
    if (this.closing !== undefined) throw closedError();
    if (batch.length === 0) return [];
    const counts = this.observer === undefined ? undefined : new InputCounts(this.encoding.width);
    const run = this.run(this.encoding.encode(batch, counts), batch.length);
    this.running.add(run);
    try {
      const output = await run;
      const predictions = toPredictions(output, this.encoding.predictions, batch.length);
      // Only runs that produced predictions count, so inputs and outputs add up to the same rows.
      if (counts !== undefined) this.observer?.observe(counts, output, batch.length);
      return predictions;
    } finally {
      this.running.delete(run);
    }
  }

  close(): Promise<void> {
    // Releasing a session under a running batch would free memory the run still uses.
    this.closing ??= Promise.allSettled([...this.running]).then(() => this.release());
    return this.closing;
  }
}

class InProcessScorer extends EncodingScorer {
  constructor(
    private readonly session: ModelSession,
    observer: ModelObserverFactory | undefined,
  ) {
    super(session.description, session.inputNames, observer);
  }

  protected run(input: Float32Array, rows: number): Promise<Float32Array> {
    return this.session.run(input, rows);
  }

  protected release(): Promise<void> {
    return this.session.release();
  }
}

/** A worker thread with its session, and the runs it has not answered yet. */
class ScoringThread {
  readonly pending = new Map<
    number,
    { resolve: (output: Float32Array) => void; reject: (error: unknown) => void }
  >();
  #nextId = 0;
  #failure: OfferError | undefined;

  private constructor(readonly worker: Worker) {
    worker.on('message', (reply: WorkerReply) => {
      const waiting = this.pending.get(reply.id);
      if (waiting === undefined) return;
      this.pending.delete(reply.id);
      // A failed run is the batch's problem (redelivered), not the thread's.
      if ('error' in reply) waiting.reject(new Error(`model run failed: ${reply.error}`));
      else waiting.resolve(reply.output);
    });
    const fail = (detail: string): void => {
      // No batch can be scored any more: the service stops rather than stall.
      this.#failure ??= new OfferError('MODEL_INVALID', `scoring thread ${detail}`, {
        retriable: false,
      });
      for (const waiting of this.pending.values()) waiting.reject(this.#failure);
      this.pending.clear();
    };
    worker.on('error', (error) => {
      fail(`failed: ${errorMessage(error)}`);
    });
    worker.on('exit', (code) => {
      fail(`exited with code ${code}`);
    });
  }

  static async start(setup: WorkerSetup): Promise<ScoringThread> {
    const worker = import.meta.url.endsWith('.ts')
      ? // From source (tests, tsx): the worker registers tsx itself, as it inherits no loader.
        new Worker(
          `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))})` +
            `.then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./scoring-worker.ts', import.meta.url).href)}); })`,
          { eval: true, workerData: setup },
        )
      : new Worker(new URL('./scoring-worker.js', import.meta.url), { workerData: setup });
    const status = await new Promise<WorkerStatus>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    }).catch((error: unknown) => ({ ready: false, error: errorMessage(error) }) as const);
    if (!status.ready) {
      await worker.terminate();
      throw modelInvalid(status.error);
    }
    return new ScoringThread(worker);
  }

  run(input: Float32Array, rows: number): Promise<Float32Array> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, input, rows } satisfies WorkerRequest, [
        input.buffer as ArrayBuffer,
      ]);
    });
  }
}

class ThreadedScorer extends EncodingScorer {
  constructor(
    description: ModelDescription,
    inputNames: readonly string[],
    private readonly threads: readonly ScoringThread[],
    observer: ModelObserverFactory | undefined,
  ) {
    super(description, inputNames, observer);
  }

  /** The thread with the fewest runs waiting. */
  protected run(input: Float32Array, rows: number): Promise<Float32Array> {
    let chosen = this.threads[0];
    for (const thread of this.threads) {
      if (chosen === undefined || thread.pending.size < chosen.pending.size) chosen = thread;
    }
    if (chosen === undefined) return Promise.reject(closedError());
    return chosen.run(input, rows);
  }

  protected async release(): Promise<void> {
    await Promise.all(this.threads.map((thread) => thread.worker.terminate()));
  }
}

/**
 * Loads the model once (in each worker thread when `workers` > 0). Fails with a
 * MODEL_INVALID error when the file cannot be read, is not a loadable ONNX model, carries no
 * model version or input encoding, does not have the expected input and output, or has
 * another SHA-256 than `expectedSha256`.
 */
export async function loadScorer(modelPath: string, options: ScorerOptions = {}): Promise<Scorer> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(modelPath);
  } catch (error) {
    throw modelInvalid(`cannot read model ${modelPath}: ${errorMessage(error)}`, error);
  }
  const description = describeModel(
    bytes,
    modelPath,
    options.expectedSha256,
    options.sha256Variable,
  );
  const sessionOptions: SessionOptions =
    options.intraOpThreads === undefined ? {} : { intraOpThreads: options.intraOpThreads };
  const workers = options.workers ?? 0;
  if (workers === 0)
    return new InProcessScorer(
      await ModelSession.open(bytes, modelPath, sessionOptions, description),
      options.observer,
    );
  const started = await Promise.allSettled(
    Array.from({ length: workers }, () =>
      ScoringThread.start({ bytes, modelPath, options: sessionOptions }),
    ),
  );
  const threads = started.flatMap((result) =>
    result.status === 'fulfilled' ? [result.value] : [],
  );
  const failed = started.find((result) => result.status === 'rejected');
  if (failed !== undefined) {
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
    throw failed.reason;
  }
  return new ThreadedScorer(description, [description.encoding.input], threads, options.observer);
}
