import { setTimeout as sleep } from 'node:timers/promises';

import type { ClickHouseClient } from '@clickhouse/client';
import type { Redis } from 'ioredis';

import type { MessageProducer, TopicAdmin } from '../../../src/kafka/kafka-adapter.js';
import { LoadGenerator, type GeneratorOptions, type SentBatch } from './generator.js';
import { groupPosition, type GroupPosition } from './lag.js';
import type { HistogramWindow, MetricsScraper } from './metrics-scraper.js';
import type { ProcessMeter } from './proc-stats.js';
import { RedisLatencyProbe } from './redis-probe.js';
import type { ClickHouseSecond, LoadSample, ProbeTotals } from './report-model.js';
import { RateSampler, summarize, type Distribution } from './stats.js';

export interface LoadTarget {
  readonly topic: string;
  readonly groupId: string;
  readonly keyPrefix: string;
  /** Where the consumers write; used after the run for ClickHouse's latency view. */
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
  readonly intervalMs: number;
  /** After production ends, sampling goes on until the lag is zero or this much time passed. */
  readonly drainTimeoutMs: number;
}

export interface LoadRunHooks {
  readonly scraper?: MetricsScraper;
  readonly processes?: ProcessMeter;
  /** Called after every sample with the raw probe latencies of its interval. */
  readonly onSample?: (sample: LoadSample, latencies: readonly number[]) => void;
  readonly onStart?: (startedAtMs: number) => void;
  /** Aborting stops production early; the drain is still measured. */
  readonly signal?: AbortSignal;
}

export interface LoadRunResult {
  readonly startedAtMs: number;
  readonly productionSeconds: number;
  readonly samples: LoadSample[];
  readonly redisLatencies: number[];
  readonly probes: ProbeTotals;
  readonly consumerLatencyMs: HistogramWindow | null;
  readonly clickhouseLatency: ClickHouseSecond[];
  readonly clickhouseOverall: Distribution | null;
  /** Why ClickHouse's view is missing (e.g. a user allowed to insert but not to select). */
  readonly clickhouseError: string | null;
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

interface ClickHouseRow {
  second: number | string;
  rows: number | string;
  q: (number | string)[];
  worst: number | string;
}

/**
 * ClickHouse's own view of latency: `processed_at - event_time` of this run's rows (user ids
 * `firstUserId ..`), per event second and overall. Both columns are DateTime (whole seconds,
 * for ClickHouse 18.16), so each value is off by up to a second; the query runs once after the
 * run so that it does not compete with the pipeline for the cores.
 */
export async function clickhouseLatency(
  target: NonNullable<LoadTarget['clickhouse']>,
  firstUserId: number,
  count: number,
  startedAtMs: number,
): Promise<{ seconds: ClickHouseSecond[]; overall: Distribution | null }> {
  const diff = 'toFloat64(toInt64(processed_at) - toInt64(event_time))';
  const from = `${target.database}.${target.table}`;
  const where = `user_id >= ${firstUserId} AND user_id < ${firstUserId + count}`;
  const perSecond = await target.client.query({
    query: `SELECT toUInt32(event_time) AS second, count() AS rows,
              quantilesExact(0.5, 0.95, 0.99)(${diff}) AS q, max(${diff}) AS worst
            FROM ${from} WHERE ${where} GROUP BY second ORDER BY second`,
    format: 'JSONEachRow',
  });
  const rows = await perSecond.json<ClickHouseRow>();
  const seconds = rows.map((row) => ({
    t: Number(row.second) - startedAtMs / 1000,
    rows: Number(row.rows),
    p50: Number(row.q[0]),
    p95: Number(row.q[1]),
    p99: Number(row.q[2]),
    max: Number(row.worst),
  }));
  const overallResult = await target.client.query({
    query: `SELECT count() AS rows, quantilesExact(0.5, 0.95, 0.99)(${diff}) AS q,
              min(${diff}) AS best, avg(${diff}) AS mean, max(${diff}) AS worst
            FROM ${from} WHERE ${where}`,
    format: 'JSONEachRow',
  });
  const [overall] = await overallResult.json<{
    rows: number | string;
    q: (number | string)[];
    best: number | string;
    mean: number | string;
    worst: number | string;
  }>();
  const total = Number(overall?.rows ?? 0);
  return {
    seconds,
    overall:
      overall === undefined || total === 0
        ? null
        : {
            count: total,
            min: Number(overall.best),
            mean: Number(overall.mean),
            p50: Number(overall.q[0]),
            p95: Number(overall.q[1]),
            p99: Number(overall.q[2]),
            max: Number(overall.worst),
          },
  };
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

  const probe = new RedisLatencyProbe(clients.redis, {
    keyPrefix: target.keyPrefix,
    pollIntervalMs: options.probePollMs,
    maxPending: Math.max(100, options.probesPerSecond * 30),
    timeoutMs: Math.max(60_000, options.drainTimeoutMs),
    chunkSize: 500,
  });
  const sampler = new ProbeSampler(options.probesPerSecond);
  const generator = new LoadGenerator(clients.producer, options.generator, (batch) => {
    for (const userId of sampler.pick(batch)) probe.track(userId, batch.sentAtMs);
  });
  const onAbort = (): void => {
    generator.stop();
  };
  hooks.signal?.addEventListener('abort', onAbort, { once: true });

  probe.start();
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
    if (scrape !== undefined) consumerTotal = scrape.total;
    const sample: LoadSample = {
      t: (atMs - started) / 1000,
      produced,
      produceRate: produceRate.observe(atMs, produced) ?? null,
      committed,
      commitRate: commitRate.observe(atMs, committed) ?? null,
      lag: now.lag,
      lagByPartition: now.lagByPartition,
      redisLatencyMs: summarize(latencies),
      consumerLatencyMs: scrape?.window ?? null,
      processes: (readings ?? []).map((reading) => ({
        name: reading.name,
        cpuPercent: reading.cpuPercent ?? null,
        rssMb: reading.rssBytes === undefined ? null : reading.rssBytes / 1024 / 1024,
      })),
    };
    samples.push(sample);
    hooks.onSample?.(sample, latencies);

    if (outcome.seconds === undefined) continue;
    const drained = now.lag === 0 && probe.counts.pending === 0;
    const drainElapsed = sample.t - outcome.seconds;
    if (drained || drainElapsed * 1000 >= options.drainTimeoutMs) break;
  }
  await production;
  probe.stop();
  hooks.signal?.removeEventListener('abort', onAbort);
  if (outcome.error !== undefined) throw outcome.error;

  const finalProduction = outcome.seconds ?? 0;
  let clickhouse: Awaited<ReturnType<typeof clickhouseLatency>> = { seconds: [], overall: null };
  let clickhouseError: string | null = null;
  if (target.clickhouse !== undefined) {
    try {
      clickhouse = await clickhouseLatency(
        target.clickhouse,
        options.generator.firstUserId,
        generator.progress.sent,
        startedAtMs,
      );
    } catch (error) {
      // The run's own measurements stand without this view; say why it is missing.
      clickhouseError = error instanceof Error ? error.message : String(error);
    }
  }
  const counts = probe.counts;
  return {
    startedAtMs,
    productionSeconds: finalProduction,
    samples,
    redisLatencies,
    probes: {
      observed: counts.observed,
      skipped: counts.skipped,
      timedOut: counts.timedOut,
      pendingAtEnd: counts.pending,
    },
    consumerLatencyMs: consumerTotal,
    clickhouseLatency: clickhouse.seconds,
    clickhouseOverall: clickhouse.overall,
    clickhouseError,
  };
}
