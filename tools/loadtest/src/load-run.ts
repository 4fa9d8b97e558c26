import { setTimeout as sleep } from 'node:timers/promises';

import type { ClickHouseClient } from '@clickhouse/client';
import type { Redis } from 'ioredis';

import type { MessageProducer, TopicAdmin } from '../../../src/kafka/kafka-adapter.js';
import { LoadGenerator, type GeneratorOptions, type SentBatch } from './generator.js';
import { groupPosition, type GroupPosition } from './lag.js';
import type { BuildInfo, HistogramWindow, MetricsScraper } from './metrics-scraper.js';
import type { ProcessMeter } from './proc-stats.js';
import type { ProbeTotals, Probes } from './load-summary.js';
import type { LoadSample } from './report-model.js';
import { RateSampler, summarize } from './stats.js';
import {
  clickhouseLookup,
  redisLookup,
  VisibilityProbe,
  type ProbeCounts,
} from './visibility-probe.js';

export interface LoadTarget {
  readonly topic: string;
  readonly groupId: string;
  readonly keyPrefix: string;
  /** Where the consumers write; the sampled users are looked up there too. */
  readonly clickhouse?: {
    readonly client: ClickHouseClient;
    readonly database: string;
    readonly table: string;
  };
}

export interface LoadRunOptions {
  readonly generator: GeneratorOptions;
  /** Users per second whose offer is watched in Redis. */
  readonly probesPerSecond: number;
  readonly probePollMs: number;
  /** 0: ClickHouse is not polled. */
  readonly clickhousePollMs: number;
  readonly intervalMs: number;
  /** After production ends, sampling goes on until the lag is zero or this much time passed. */
  readonly drainTimeoutMs: number;
}

export interface LoadRunHooks {
  readonly scraper?: MetricsScraper;
  readonly processes?: ProcessMeter;
  /** Called after every sample with the raw probe latencies (Redis, ClickHouse) of its interval. */
  readonly onSample?: (
    sample: LoadSample,
    latencies: readonly number[],
    clickhouseLatencies: readonly number[],
  ) => void;
  readonly onStart?: (startedAtMs: number) => void;
  /** Aborting stops production early; the drain is still measured. */
  readonly signal?: AbortSignal;
}

export interface LoadRunResult {
  readonly startedAtMs: number;
  readonly productionSeconds: number;
  readonly samples: LoadSample[];
  readonly redisLatencies: number[];
  readonly clickhouseLatencies: number[];
  readonly probes: Probes;
  readonly consumerLatencyMs: HistogramWindow | null;
  /** What the consumers' `offers_build_info` said, if they were scraped. */
  readonly buildInfo: BuildInfo | null;
  readonly lastSendError: string | null;
}

function totals(counts: ProbeCounts): ProbeTotals {
  return {
    observed: counts.observed,
    skipped: counts.skipped,
    timedOut: counts.timedOut,
    pendingAtEnd: counts.pending,
  };
}

/** Picks about `perSecond` users a second out of the sent batches, spread over each batch. */
export class ProbeSampler {
  readonly #perSecond: number;
  #tokens = 1;
  #lastMs: number | undefined;

  constructor(perSecond: number) {
    this.#perSecond = perSecond;
  }

  pick(batch: SentBatch): number[] {
    if (this.#perSecond <= 0 || batch.userIds.length === 0) return [];
    if (this.#lastMs !== undefined) {
      this.#tokens = Math.min(
        this.#perSecond,
        this.#tokens + ((batch.sentAtMs - this.#lastMs) * this.#perSecond) / 1000,
      );
    }
    this.#lastMs = batch.sentAtMs;
    const count = Math.min(batch.userIds.length, Math.floor(this.#tokens));
    if (count <= 0) return [];
    this.#tokens -= count;
    const step = batch.userIds.length / count;
    const picked: number[] = [];
    for (let index = 0; index < count; index += 1) {
      const userId = batch.userIds[Math.floor(index * step)];
      if (userId !== undefined) picked.push(userId);
    }
    return picked;
  }
}

/**
 * Produces load and measures, every interval: produce rate, committed throughput, lag per
 * partition, Redis-visible latency of sampled users, the consumers' own latency histogram
 * and the CPU and memory of local processes. Keeps sampling after production until the
 * group has caught up, so the drain is part of the record.
 */
export async function runLoad(
  clients: {
    readonly admin: TopicAdmin;
    readonly producer: MessageProducer;
    readonly redis: Redis;
  },
  target: LoadTarget,
  options: LoadRunOptions,
  hooks: LoadRunHooks = {},
): Promise<LoadRunResult> {
  const { admin } = clients;
  const position = async (): Promise<GroupPosition> => {
    const [ends, committed] = await Promise.all([
      admin.endOffsets(target.topic),
      admin.committedOffsets(target.groupId, target.topic),
    ]);
    return groupPosition(ends, committed);
  };

  // Baselines: histogram and CPU counters start here; earlier commits are not this run's.
  await hooks.scraper?.scrape();
  await hooks.processes?.read();
  const base = await position();

  const probeOptions = {
    maxPending: Math.max(100, options.probesPerSecond * 30),
    timeoutMs: Math.max(60_000, options.drainTimeoutMs),
    chunkSize: 500,
  };
  const probe = new VisibilityProbe(redisLookup(clients.redis, target.keyPrefix), {
    ...probeOptions,
    pollIntervalMs: options.probePollMs,
  });
  // The same sampled users, looked up in ClickHouse less often: each look-up is a query.
  const clickhouseProbe =
    target.clickhouse === undefined || options.clickhousePollMs <= 0
      ? undefined
      : new VisibilityProbe(
          clickhouseLookup(
            target.clickhouse.client,
            target.clickhouse.database,
            target.clickhouse.table,
          ),
          { ...probeOptions, pollIntervalMs: options.clickhousePollMs },
        );
  const sampler = new ProbeSampler(options.probesPerSecond);
  const generator = new LoadGenerator(
    clients.producer,
    // A load test reports unacknowledged sends as errors instead of ending the run.
    { ...options.generator, continueOnError: true },
    (batch) => {
      for (const userId of sampler.pick(batch)) {
        probe.track(userId, batch.sentAtMs);
        clickhouseProbe?.track(userId, batch.sentAtMs);
      }
    },
  );
  const onAbort = (): void => {
    generator.stop();
  };
  hooks.signal?.addEventListener('abort', onAbort, { once: true });

  probe.start();
  clickhouseProbe?.start();
  const startedAtMs = Date.now();
  const started = performance.now();
  hooks.onStart?.(startedAtMs);
  // Settled by the generator's promise, read by the sampling loop.
  const outcome: { seconds?: number; error?: Error } = {};
  const production = generator.run().then(
    () => {
      outcome.seconds = (performance.now() - started) / 1000;
    },
    (error: unknown) => {
      outcome.seconds = (performance.now() - started) / 1000;
      outcome.error = error instanceof Error ? error : new Error(String(error));
    },
  );

  const samples: LoadSample[] = [];
  const redisLatencies: number[] = [];
  const clickhouseLatencies: number[] = [];
  let buildInfo: BuildInfo | null = null;
  const produceRate = new RateSampler();
  const commitRate = new RateSampler();
  produceRate.observe(started, 0);
  commitRate.observe(started, 0);
  let consumerTotal: HistogramWindow | null = null;

  for (let tick = 1; ; tick += 1) {
    const due = started + tick * options.intervalMs;
    await sleep(Math.max(0, due - performance.now()));
    const [now, scrape, readings] = await Promise.all([
      position(),
      hooks.scraper?.scrape(),
      hooks.processes?.read(),
    ]);
    const atMs = performance.now();
    const produced = generator.progress.acked;
    const committed = Math.max(0, now.committedTotal - base.committedTotal);
    const latencies = probe.drain();
    redisLatencies.push(...latencies);
    const clickhouseWindow = clickhouseProbe?.drain() ?? [];
    clickhouseLatencies.push(...clickhouseWindow);
    if (scrape !== undefined) {
      consumerTotal = scrape.total;
      buildInfo ??= scrape.buildInfo;
    }
    const sample: LoadSample = {
      t: (atMs - started) / 1000,
      produced,
      produceRate: produceRate.observe(atMs, produced) ?? null,
      committed,
      commitRate: commitRate.observe(atMs, committed) ?? null,
      lag: now.lag,
      lagByPartition: now.lagByPartition,
      redisLatencyMs: summarize(latencies),
      clickhouseLatencyMs: summarize(clickhouseWindow),
      consumerLatencyMs: scrape?.window ?? null,
      errors: scrape?.errors ?? null,
      sendFailed: generator.progress.failed,
      // Consumers answering; null when there are none to ask (consumers started elsewhere).
      replicas: scrape?.up ?? ((hooks.scraper?.targets ?? 0) > 0 ? 0 : null),
      processes: (readings ?? []).map((reading) => ({
        name: reading.name,
        cpuPercent: reading.cpuPercent ?? null,
        rssMb: reading.rssBytes === undefined ? null : reading.rssBytes / 1024 / 1024,
      })),
    };
    samples.push(sample);
    hooks.onSample?.(sample, latencies, clickhouseWindow);

    if (outcome.seconds === undefined) continue;
    const drained =
      now.lag === 0 && probe.counts.pending === 0 && (clickhouseProbe?.counts.pending ?? 0) === 0;
    const drainElapsed = sample.t - outcome.seconds;
    if (drained || drainElapsed * 1000 >= options.drainTimeoutMs) break;
  }
  await production;
  probe.stop();
  clickhouseProbe?.stop();
  hooks.signal?.removeEventListener('abort', onAbort);
  if (outcome.error !== undefined) throw outcome.error;

  const clickhouseErrors = clickhouseProbe?.errors;
  return {
    startedAtMs,
    productionSeconds: outcome.seconds ?? 0,
    samples,
    redisLatencies,
    clickhouseLatencies,
    probes: {
      redis: totals(probe.counts),
      clickhouse: clickhouseProbe === undefined ? null : totals(clickhouseProbe.counts),
      // Look-ups that failed (e.g. a user allowed to insert but not to select) say why.
      clickhouseError:
        clickhouseErrors === undefined || clickhouseErrors.count === 0
          ? null
          : `${clickhouseErrors.count} failed look-ups, the last: ${clickhouseErrors.last ?? '?'}`,
    },
    consumerLatencyMs: consumerTotal,
    buildInfo,
    lastSendError: generator.lastError ?? null,
  };
}
