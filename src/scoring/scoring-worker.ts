/**
 * A worker thread that owns one model session, so that a model run (synchronous inside
 * onnxruntime) does not hold the event loop that fetches, decodes and writes. It receives
 * encoded rows and answers with the prediction matrix; both travel as transferred buffers.
 */
import { parentPort, workerData } from 'node:worker_threads';

import { errorMessage } from '../errors.js';
import { ModelSession, type SessionOptions } from './model-session.js';

export interface WorkerSetup {
  readonly bytes: Uint8Array;
  readonly modelPath: string;
  readonly options: SessionOptions;
}

export interface WorkerRequest {
  readonly id: number;
  readonly input: Float32Array;
  readonly rows: number;
}

export type WorkerReply =
  | { readonly id: number; readonly output: Float32Array }
  | { readonly id: number; readonly error: string };

export type WorkerStatus =
  { readonly ready: true } | { readonly ready: false; readonly error: string };

const port = parentPort;
if (port !== null) {
  const setup = workerData as WorkerSetup;
  let session: ModelSession;
  try {
    session = await ModelSession.open(setup.bytes, setup.modelPath, setup.options);
    port.postMessage({ ready: true } satisfies WorkerStatus);
  } catch (error) {
    port.postMessage({ ready: false, error: errorMessage(error) } satisfies WorkerStatus);
    process.exit(1);
  }
  port.on('message', (request: WorkerRequest) => {
    session.run(request.input, request.rows).then(
      (output) => {
        // onnxruntime owns the output's memory: a copy can be transferred.
        const copy = output.slice();
        port.postMessage({ id: request.id, output: copy } satisfies WorkerReply, [copy.buffer]);
      },
      (error: unknown) => {
        port.postMessage({ id: request.id, error: errorMessage(error) } satisfies WorkerReply);
      },
    );
  });
}
