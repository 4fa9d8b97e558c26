/**
 * What observing the model costs per message: encoding a batch alone (as before the model
 * metrics) against encoding it with its input counts and adding the batch's counts and
 * prediction matrix to the model metrics (as the scorer does now), on the committed model.
 *
 *   npm run bench:model-metrics   (make bench-model-metrics)
 *
 * The two are timed in alternating rounds (CPU time of this thread's process), so a busy
 * machine weighs on both alike; the median of the rounds is reported, and the difference is
 * the cost the observation adds per message.
 */
import { readFile } from 'node:fs/promises';

import type { Registration } from '../../../src/contract/registration.js';
import { InputCounts } from '../../../src/scoring/model-observation.js';
import { ModelSession } from '../../../src/scoring/model-session.js';
import { createMetrics } from '../../../src/telemetry/metrics.js';
import { MODEL_PATH, readGoldenFile, toRegistration } from '../../../test/support/golden.js';
import { exitOnHelp } from './usage.js';

exitOnHelp(`usage: npm run bench:model-metrics   (make bench-model-metrics)

environment:
  BENCH_ROUNDS   alternating rounds per batch size (default 15)`);

const BATCH_SIZES = [100, 1000, 5000];
const ROWS_PER_ROUND = 200_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 15);

const golden = await readGoldenFile();
const sample: Registration[] = golden.fixtures.map(({ input }) => toRegistration(input));
const batchOf = (size: number): Registration[] =>
  Array.from({ length: size }, (_, index) => {
    const registration = sample[index % sample.length];
    if (registration === undefined) throw new Error('no golden fixtures');
    return { ...registration, userId: index + 1 };
  });

const session = await ModelSession.open(await readFile(MODEL_PATH), MODEL_PATH, {});
const { encoding } = session.description;
const metrics = createMetrics();
const observer = metrics.model.observer(encoding.layout);

/** CPU µs per message of `repeats` calls of `work` on a batch of `size`. */
function cpuPerMessage(size: number, repeats: number, work: () => void): number {
  const before = process.cpuUsage();
  for (let run = 0; run < repeats; run += 1) work();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / (size * repeats);
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

console.log(
  `model ${session.description.modelVersion} · node ${process.version} · ${ROUNDS} rounds`,
);
console.log('| batch | encode alone µs/msg | encode + count + observe µs/msg | added µs/msg |');
console.log('| ----- | ------------------- | ------------------------------- | ----------- |');
for (const size of BATCH_SIZES) {
  const batch = batchOf(size);
  const outputs = await session.run(encoding.encode(batch), size);
  const repeats = Math.ceil(ROWS_PER_ROUND / size);
  const plain = (): void => {
    encoding.encode(batch);
  };
  const observed = (): void => {
    const counts = new InputCounts(encoding.width);
    encoding.encode(batch, counts);
    observer.observe(counts, outputs, size);
  };
  // Warm both paths up before timing.
  cpuPerMessage(size, repeats, plain);
  cpuPerMessage(size, repeats, observed);
  const before: number[] = [];
  const after: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    before.push(cpuPerMessage(size, repeats, plain));
    after.push(cpuPerMessage(size, repeats, observed));
  }
  const [a, b] = [median(before), median(after)];
  console.log(`| ${size} | ${a.toFixed(3)} | ${b.toFixed(3)} | ${(b - a).toFixed(3)} |`);
}
await session.release();
