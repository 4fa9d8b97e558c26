/**
 * The model's cost per row, the shipped model beside the previous release's: the line both
 * `npm run bench:scoring` and `npm run bench` print.
 *
 * Each model is scored through the service's own scorer (encoding and one onnxruntime run, on
 * the calling thread, one intra-op thread) on batches of 1,000 golden rows. The two models
 * take turns batch by batch, so a busy neighbour slows both alike; the medians are reported.
 * The encoder builds each model's input from that model's own metadata, so a model of
 * another release needs nothing else.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Registration } from '../../../src/contract/registration.js';
import { loadScorer, type Scorer } from '../../../src/scoring/scorer.js';
import { parseEnvFile } from '../../dev/local-env.js';
import { REPO_ROOT } from '../../dev/paths.js';
import { MODEL_PATH, readGoldenFile, toRegistration } from '../../../test/support/golden.js';

/**
 * The release whose model is measured beside the shipped one, unless BENCH_PREVIOUS_MODEL says:
 * the one `make test-cluster` upgrades from (scripts/cluster/versions.env), by its commit, which
 * a clone holds even when it holds no tags.
 */
export function previousRelease(): { label: string; revision: string } {
  const versions = parseEnvFile(
    readFileSync(join(REPO_ROOT, 'scripts', 'cluster', 'versions.env'), 'utf8'),
  );
  const { PREVIOUS_RELEASE: version, PREVIOUS_RELEASE_COMMIT: commit } = versions;
  if (version === undefined || commit === undefined) {
    throw new Error('scripts/cluster/versions.env names no PREVIOUS_RELEASE and its commit');
  }
  return { label: `v${version}`, revision: commit };
}
export const MODEL_BATCH = 1000;
const ROUNDS = Number(process.env.BENCH_MODEL_ROUNDS ?? 40);
const WARMUP_RUNS = 5;

export interface ModelCost {
  readonly label: string;
  readonly modelVersion: string;
  /** Median wall time of a batch, per row. */
  readonly usPerRow: number;
  /** Median CPU time of the process during a batch, per row. */
  readonly cpuUsPerRow: number;
}

/** Golden registrations cycled to `size`, each with its own user id. */
export async function goldenBatch(size: number): Promise<Registration[]> {
  const sample = (await readGoldenFile()).fixtures.map(({ input }) => toRegistration(input));
  return Array.from({ length: size }, (_, index) => {
    const registration = sample[index % sample.length];
    if (registration === undefined) throw new Error('no golden registrations');
    return { ...registration, userId: index + 1 };
  });
}

/**
 * The previous model as a file: BENCH_PREVIOUS_MODEL names a file or a git revision (default
 * the previous release's commit), whose model/offer_model.onnx is copied into a temporary folder.
 */
async function previousModel(): Promise<{
  label: string;
  path: string;
  cleanup: () => Promise<void>;
}> {
  const fromEnv = process.env.BENCH_PREVIOUS_MODEL;
  const { label, revision } =
    fromEnv === undefined || fromEnv === ''
      ? previousRelease()
      : { label: fromEnv, revision: fromEnv };
  if (existsSync(revision)) return { label, path: revision, cleanup: () => Promise.resolve() };
  const bytes = execFileSync('git', ['show', `${revision}:model/offer_model.onnx`], {
    cwd: REPO_ROOT,
    maxBuffer: 256 * 1024 * 1024,
  });
  const dir = await mkdtemp(join(tmpdir(), 'offers-previous-model-'));
  const path = join(dir, 'offer_model.onnx');
  await writeFile(path, bytes);
  return { label, path, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

/** The shipped model and the previous one, measured in alternation. */
export async function compareModelCost(): Promise<ModelCost[]> {
  const previous = await previousModel();
  const models: { label: string; scorer: Scorer; wall: number[]; cpu: number[] }[] = [];
  try {
    for (const [label, path] of [
      ['shipped', MODEL_PATH],
      [previous.label, previous.path],
    ] as const) {
      const scorer = await loadScorer(path, { workers: 0, intraOpThreads: 1 });
      models.push({ label, scorer, wall: [], cpu: [] });
    }
    const batch = await goldenBatch(MODEL_BATCH);
    for (const { scorer } of models) {
      for (let run = 0; run < WARMUP_RUNS; run += 1) await scorer.score(batch);
    }
    for (let round = 0; round < ROUNDS; round += 1) {
      for (const model of models) {
        const cpuBefore = process.cpuUsage();
        const start = process.hrtime.bigint();
        await model.scorer.score(batch);
        model.wall.push(Number(process.hrtime.bigint() - start) / 1e3 / MODEL_BATCH);
        const cpu = process.cpuUsage(cpuBefore);
        model.cpu.push((cpu.user + cpu.system) / MODEL_BATCH);
      }
    }
    return models.map(({ label, scorer, wall, cpu }) => ({
      label,
      modelVersion: scorer.modelVersion,
      usPerRow: median(wall),
      cpuUsPerRow: median(cpu),
    }));
  } finally {
    await Promise.all(models.map(({ scorer }) => scorer.close()));
    await previous.cleanup();
  }
}

/** One line per model: `model <label> (<version>): <µs>/row, CPU <µs>/row`. */
export function modelCostLines(costs: readonly ModelCost[]): string[] {
  return costs.map(
    (cost) =>
      `model ${cost.label} (${cost.modelVersion}), batch ${MODEL_BATCH}, 1 intra-op thread: ` +
      `${cost.usPerRow.toFixed(2)} µs/row, CPU ${cost.cpuUsPerRow.toFixed(2)} µs/row ` +
      `(medians of ${ROUNDS} batches in alternation)`,
  );
}
