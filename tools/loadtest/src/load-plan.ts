import type { LoadRunOptions, LoadRunResult } from './load-run.js';
import type { GenerationOptions } from './options.js';
import { machineInfo } from './proc-stats.js';
import { buildReport, type LoadReport, type LoadSettings } from './report-model.js';
import type { Threshold } from './thresholds.js';

/**
 * What every mode derives alike from the generation options: the load run's options, the
 * report settings they fix, and the report of a finished run.
 */

/** runLoad's options for producing to `topic` as `generation` says, from `firstUserId` on. */
export function loadRunOptions(
  topic: string,
  generation: GenerationOptions,
  firstUserId: number,
): LoadRunOptions {
  return {
    generator: {
      topic,
      rate: generation.rate,
      durationMs:
        generation.durationSeconds === undefined ? undefined : generation.durationSeconds * 1000,
      count: generation.count,
      firstUserId,
      seed: generation.seed,
      batchSize: generation.batchSize,
      maxInFlight: generation.inFlight,
      invalidEvery: generation.invalidEvery,
    },
    probesPerSecond: generation.probesPerSecond,
    probePollMs: generation.probePollMs,
    clickhousePollMs: generation.clickhousePollMs,
    intervalMs: 1_000,
    drainTimeoutMs: generation.drainTimeoutSeconds * 1000,
  };
}

/** The report settings that the generation options fix. */
export type GenerationSettings = Pick<
  LoadSettings,
  | 'rate'
  | 'durationSeconds'
  | 'count'
  | 'seed'
  | 'firstUserId'
  | 'batchSize'
  | 'inFlight'
  | 'invalidEvery'
  | 'probesPerSecond'
  | 'redisPollMs'
  | 'clickhousePollMs'
  | 'drainTimeoutSeconds'
>;

export function generationSettings(
  generation: GenerationOptions,
  firstUserId: number,
): GenerationSettings {
  return {
    rate: generation.rate,
    durationSeconds: generation.durationSeconds ?? null,
    count: generation.count ?? null,
    seed: generation.seed,
    firstUserId,
    batchSize: generation.batchSize,
    inFlight: generation.inFlight,
    invalidEvery: generation.invalidEvery,
    probesPerSecond: generation.probesPerSecond,
    redisPollMs: generation.probePollMs,
    clickhousePollMs: generation.clickhousePollMs,
    drainTimeoutSeconds: generation.drainTimeoutSeconds,
  };
}

/**
 * The report of a run measured in this process: its result, with the versions the consumers
 * reported, on this machine.
 */
export function runReport(
  result: LoadRunResult,
  run: {
    readonly startedAt: string;
    readonly settings: LoadSettings;
    readonly gitCommit: string | null;
    readonly thresholds?: readonly Threshold[];
  },
): LoadReport {
  return buildReport({
    startedAt: run.startedAt,
    machine: machineInfo(),
    settings: run.settings,
    versions: {
      service: result.buildInfo?.version ?? null,
      model: result.buildInfo?.modelVersion ?? null,
      serviceNode: result.buildInfo?.nodeVersion ?? null,
      image: null,
      gitCommit: run.gitCommit,
    },
    samples: result.samples,
    redisLatencies: result.redisLatencies,
    clickhouseLatencies: result.clickhouseLatencies,
    probes: result.probes,
    consumerLatencyMs: result.consumerLatencyMs,
    productionSeconds: result.productionSeconds,
    lastSendError: result.lastSendError,
    ...(run.thresholds === undefined ? {} : { thresholds: run.thresholds }),
  });
}
