/**
 * Scoring throughput of the committed model through the TypeScript scorer, per batch size.
 *
 *   npm run bench:scoring
 *   BENCH_THREADS=1 npm run bench:scoring   (onnxruntime intra-op threads)
 *   BENCH_WORKERS=1 npm run bench:scoring   (the model on a worker thread, as the service runs it)
 *
 * Wall time per row and CPU time per row (all threads of the process: the encoding, the run
 * and, with workers, the hand-over), so a busy machine shows in the first, not the second.
 *
 * Rows are the golden fixtures cycled to the batch size, so batches mix typical rows with
 * nulls and unseen categories the way traffic would.
 *
 * Last, the model line (model-cost.ts): µs per row at batch 1,000 with one intra-op thread, of
 * the shipped model and of the previous release's, measured in alternation.
 */
import os from 'node:os';

import { loadScorer } from '../../../src/scoring/scorer.js';
import { MODEL_PATH } from '../../../test/support/golden.js';
import { compareModelCost, goldenBatch, modelCostLines, previousRelease } from './model-cost.js';
import { exitOnHelp } from './usage.js';

exitOnHelp(`usage: npm run bench:scoring   (make bench-scoring)

environment:
  BENCH_THREADS         onnxruntime intra-op threads (default: onnxruntime's)
  BENCH_WORKERS         worker threads running the model (default 0: on this thread)
  BENCH_PREVIOUS_MODEL  the model measured beside the shipped one in the model line: a file or
                        a git revision whose model/offer_model.onnx is read (default the previous release, ${previousRelease().label})
  BENCH_MODEL_ROUNDS    batches of 1,000 per model in the model line (default 40)`);

const BATCH_SIZES = [1, 100, 1000, 5000];
const WARMUP_RUNS = 5;
// Enough repeats that small batches are timed over many runs and large ones over several.
const TARGET_ROWS_PER_SIZE = 100_000;
const MIN_REPEATS = 10;
const MAX_REPEATS = 3000;

function percentile(sorted: readonly number[], fraction: number): number {
  const index = Math.min(sorted.length - 1, Math.floor(fraction * sorted.length));
  return sorted[index] ?? Number.NaN;
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

const threadsSetting = process.env.BENCH_THREADS;
const intraOpThreads = threadsSetting === undefined ? undefined : Number(threadsSetting);
const workers = Number(process.env.BENCH_WORKERS ?? 0);
const scorer = await loadScorer(MODEL_PATH, {
  workers,
  ...(intraOpThreads === undefined ? {} : { intraOpThreads }),
});

console.log(
  `model ${scorer.modelVersion} · node ${process.version} · ${os.cpus().length} CPUs · ` +
    `intra-op threads ${intraOpThreads ?? 'onnxruntime default'} · worker threads ${workers}`,
);
console.log(`RSS after load: ${mib(process.memoryUsage().rss)}`);
console.log(
  'batch'.padStart(6),
  'repeats'.padStart(8),
  'rows/s'.padStart(10),
  'µs/row'.padStart(8),
  'CPU µs/row'.padStart(11),
  'p50 ms/batch'.padStart(13),
  'p95 ms/batch'.padStart(13),
  'RSS'.padStart(8),
);

for (const size of BATCH_SIZES) {
  const batch = await goldenBatch(size);
  for (let run = 0; run < WARMUP_RUNS; run += 1) await scorer.score(batch);
  const repeats = Math.max(
    MIN_REPEATS,
    Math.min(MAX_REPEATS, Math.ceil(TARGET_ROWS_PER_SIZE / size)),
  );
  const durationsMs: number[] = [];
  const cpuBefore = process.cpuUsage();
  for (let run = 0; run < repeats; run += 1) {
    const start = process.hrtime.bigint();
    const predictions = await scorer.score(batch);
    durationsMs.push(Number(process.hrtime.bigint() - start) / 1e6);
    if (predictions.length !== size) throw new Error(`expected ${size} predictions`);
  }
  const cpu = process.cpuUsage(cpuBefore);
  const cpuUsPerRow = (cpu.user + cpu.system) / (size * repeats);
  const totalMs = durationsMs.reduce((sum, value) => sum + value, 0);
  const sorted = [...durationsMs].sort((a, b) => a - b);
  const rowsPerSecond = (size * repeats) / (totalMs / 1000);
  console.log(
    String(size).padStart(6),
    String(repeats).padStart(8),
    Math.round(rowsPerSecond).toLocaleString('en-US').padStart(10),
    (1e6 / rowsPerSecond).toFixed(1).padStart(8),
    cpuUsPerRow.toFixed(1).padStart(11),
    percentile(sorted, 0.5).toFixed(3).padStart(13),
    percentile(sorted, 0.95).toFixed(3).padStart(13),
    mib(process.memoryUsage().rss).padStart(8),
  );
}

console.log(`peak RSS: ${mib(process.resourceUsage().maxRSS * 1024)}`);
await scorer.close();
for (const line of modelCostLines(await compareModelCost())) console.log(line);
