/**
 * What shadow scoring (MODEL_SHADOW_PATH) costs per message: a chunk's scoring and offer rows
 * with the live model alone, against the same with a shadow model beside it (the second
 * model's encoding and run, and its rows for the shadow table), as the batch processor does.
 * The shadow is the committed model under another model_version: a candidate of the same
 * architecture costs the same.
 *
 *   npm run bench:shadow   (make bench-shadow)
 *
 * Both models run in process on one intra-op thread (MODEL_THREADS=1, MODEL_WORKERS=0), so
 * the process's CPU time is the whole cost. The two are timed in alternating rounds, so a
 * busy machine weighs on both alike; the median of the rounds is reported.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Registration } from '../../../src/contract/registration.js';
import type { InboundMessage } from '../../../src/kafka/kafka-adapter.js';
import { toStoredOffers, type Accepted } from '../../../src/pipeline/chunk-stages.js';
import { loadScorer, MODEL_VERSION_KEY, type Scorer } from '../../../src/scoring/scorer.js';
import { MODEL_PATH, readGoldenFile, toRegistration } from '../../../test/support/golden.js';
import { withMetadataEntry } from '../../../test/support/model-file.js';
import { exitOnHelp } from './usage.js';

exitOnHelp(`usage: npm run bench:shadow   (make bench-shadow)

environment:
  BENCH_ROUNDS   alternating rounds per batch size (default 7)`);

const BATCH_SIZES = [100, 1000, 5000];
const ROWS_PER_ROUND = 20_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

const golden = await readGoldenFile();
const sample: Registration[] = golden.fixtures.map(({ input }) => toRegistration(input));
const acceptedOf = (size: number): Accepted[] =>
  Array.from({ length: size }, (_, index) => {
    const registration = sample[index % sample.length];
    if (registration === undefined) throw new Error('no golden fixtures');
    const message: InboundMessage = {
      key: null,
      value: null,
      offset: String(index),
      timestampMs: 1_700_000_000_000 + index,
      headers: {},
    };
    return { index, message, registration: { ...registration, userId: index + 1 } };
  });

const dir = await mkdtemp(join(tmpdir(), 'bench-shadow-'));
const shadowPath = join(dir, 'shadow.onnx');
await writeFile(
  shadowPath,
  withMetadataEntry(await readFile(MODEL_PATH), MODEL_VERSION_KEY, 'bench-shadow'),
);
const options = { intraOpThreads: 1, workers: 0 };
const live = await loadScorer(MODEL_PATH, options);
const shadow = await loadScorer(shadowPath, options);

/** One chunk's scoring and rows: each model's predictions turned into its stored offers. */
async function scoreChunk(models: readonly Scorer[], accepted: readonly Accepted[]): Promise<void> {
  const registrations = accepted.map(({ registration }) => registration);
  const predictions = await Promise.all(models.map((model) => model.score(registrations)));
  for (const [index, model] of models.entries()) {
    const rows = predictions[index] ?? [];
    toStoredOffers(
      0,
      accepted,
      rows,
      { version: model.modelVersion, sha256: model.modelDigest },
      0,
    );
  }
}

/** CPU µs per message of `repeats` chunks of `accepted` scored by `models`. */
async function cpuPerMessage(
  models: readonly Scorer[],
  accepted: readonly Accepted[],
  repeats: number,
): Promise<number> {
  const before = process.cpuUsage();
  for (let run = 0; run < repeats; run += 1) await scoreChunk(models, accepted);
  const used = process.cpuUsage(before);
  return (used.user + used.system) / (accepted.length * repeats);
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

try {
  console.log(`model ${live.modelVersion} · node ${process.version} · ${ROUNDS} rounds`);
  console.log('| batch | live alone µs/msg | live + shadow µs/msg | shadow adds µs/msg |');
  console.log('| ----- | ----------------- | -------------------- | ------------------ |');
  for (const size of BATCH_SIZES) {
    const accepted = acceptedOf(size);
    const repeats = Math.ceil(ROWS_PER_ROUND / size);
    // Warm both paths up before timing.
    await cpuPerMessage([live], accepted, repeats);
    await cpuPerMessage([live, shadow], accepted, repeats);
    const alone: number[] = [];
    const both: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      alone.push(await cpuPerMessage([live], accepted, repeats));
      both.push(await cpuPerMessage([live, shadow], accepted, repeats));
    }
    const [a, b] = [median(alone), median(both)];
    console.log(`| ${size} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(b - a).toFixed(2)} |`);
  }
} finally {
  await Promise.all([live.close(), shadow.close()]);
  await rm(dir, { recursive: true, force: true });
}
