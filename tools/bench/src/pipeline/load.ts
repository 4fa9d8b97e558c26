import { setTimeout as sleep } from 'node:timers/promises';

import {
  defaultFirstUserId,
  LocalConsumer,
  MetricsScraper,
  ProcessMeter,
  runLoad,
  runReport,
  type LoadReport,
} from 'realtime-offers-loadtest';

import type { Bench } from './bench.js';
import { log } from './format.js';
import { PARTITIONS } from './options.js';

/**
 * The load measurement: one consumer on a fresh topic while the load test's generator
 * produces at a rate (0 = as fast as the brokers take it), with its report per rate.
 */

export interface LoadResult {
  readonly label: string;
  readonly rate: number;
  readonly seconds: number;
  readonly summary: LoadReport['summary'];
  readonly commitRateDuringProduction: number;
  readonly insertsPerSecond: number;
  readonly samples: LoadReport['samples'];
}

/** One consumer on a fresh topic; production at `rate` (0 = max) for `seconds`. */
export async function load(
  bench: Bench,
  label: string,
  settings: Record<string, string>,
  runs: readonly { rate: number; seconds: number }[],
): Promise<LoadResult[]> {
  const topic = await bench.topic();
  const slice = await bench.slice(topic);
  const consumer = await LocalConsumer.start({
    name: 'consumer-1',
    env: { ...slice.env, ...settings },
    ...(bench.compiledCli === undefined ? {} : { compiledCli: bench.compiledCli }),
  });
  const results: LoadResult[] = [];
  try {
    await consumer.waitReady(120_000);
    for (const run of runs) {
      const meter = new ProcessMeter([
        { name: 'consumer-1', pid: consumer.pid },
        { name: 'load generator (bench)', pid: process.pid },
        ...bench.services,
      ]);
      const scraper = new MetricsScraper(() => [consumer.metricsUrl]);
      log(`${label}: ${run.rate === 0 ? 'max rate' : `${run.rate} msg/s`} for ${run.seconds} s`);
      const firstUserId = defaultFirstUserId(Date.now());
      const insertsBefore = await bench.insertQueries();
      const result = await runLoad(
        { admin: bench.admin, producer: bench.producer, redis: bench.redis },
        {
          topic,
          groupId: slice.groupId,
          keyPrefix: slice.keyPrefix,
          clickhouse: { client: bench.clickhouse, database: 'default', table: slice.table },
        },
        {
          generator: {
            topic,
            rate: run.rate,
            durationMs: run.seconds * 1000,
            count: undefined,
            firstUserId,
            seed: 7,
            batchSize: run.rate === 0 ? 2_000 : 1_000,
            maxInFlight: run.rate === 0 ? 8 : 4,
          },
          probesPerSecond: 100,
          probePollMs: 10,
          // Latency is read in Redis; ClickHouse queries would take CPU from what is measured.
          clickhousePollMs: 0,
          intervalMs: 1_000,
          drainTimeoutMs: 180_000,
        },
        { scraper, processes: meter },
      );
      const report = runReport(result, {
        startedAt: new Date(result.startedAtMs).toISOString(),
        settings: {
          mode: 'bench',
          topic,
          groupId: slice.groupId,
          partitions: PARTITIONS,
          rate: run.rate,
          durationSeconds: run.seconds,
          count: null,
          seed: 7,
          firstUserId,
          batchSize: run.rate === 0 ? 2_000 : 1_000,
          inFlight: run.rate === 0 ? 8 : 4,
          invalidEvery: 0,
          consumers: 1,
          consumerEnv: settings,
          serviceSettings: {},
          consumerReadyMs: [Math.round(consumer.readyAfterMs ?? 0)],
          probesPerSecond: 100,
          redisPollMs: 10,
          clickhousePollMs: 0,
          drainTimeoutSeconds: 180,
        },
        gitCommit: null,
      });
      const inserts = (await bench.insertQueries()) - insertsBefore;
      const during = result.samples.filter((sample) => sample.t <= result.productionSeconds);
      const committedDuring = during.at(-1)?.committed ?? 0;
      results.push({
        label,
        rate: run.rate,
        seconds: run.seconds,
        summary: report.summary,
        commitRateDuringProduction: committedDuring / Math.max(0.001, result.productionSeconds),
        insertsPerSecond: inserts / Math.max(0.001, result.samples.at(-1)?.t ?? 0),
        samples: report.samples,
      });
      await sleep(2_000);
    }
  } finally {
    await consumer.stop();
    await slice.cleanUp();
  }
  return results;
}
