import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { defaultOutDir } from 'realtime-offers-loadtest';

import { REPO_ROOT } from '../../../dev/paths.js';

/** The pipeline benchmark's options (its environment) and the consumer settings it compares. */

export const USAGE = `usage: npm run bench   (make bench)
  BENCH_SECTIONS=drain,settings BENCH_MESSAGES=300000 npm run bench

sections: drain, latency, profile (the default); settings, scaling, sustained, cluster

environment:
  INFRA_DIR                the services' state dir (default .infra/bench)
  BENCH_MESSAGES           preloaded messages (default 200000)
  BENCH_SECTIONS           comma list of sections (default drain,latency,profile)
  BENCH_LATENCY_SECONDS    seconds per rate of the latency section (default 30)
  BENCH_SUSTAINED_SECONDS  seconds of the sustained section (default 30)
  BENCH_VARIANTS           JSON list of {"label", "env"} for the settings section
  BENCH_REPEATS            drains per setting, the median is reported (default 3)
  BENCH_OUT                report folder (default reports/bench-<timestamp>)
  BENCH_TSX=1              run the consumer through tsx instead of compiling it first
  BENCH_PREVIOUS_MODEL     model measured beside the shipped one: a file or a git revision
                           (default the previous release's commit, scripts/cluster/versions.env)
  BENCH_MODEL_ROUNDS       batches of 1,000 per model in the model line (default 40)`;

export const SECTIONS = new Set(
  (process.env.BENCH_SECTIONS ?? 'drain,latency,profile').split(',').map((name) => name.trim()),
);
export const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200_000);
export const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 30);
export const SUSTAINED_SECONDS = Number(process.env.BENCH_SUSTAINED_SECONDS ?? 30);
export const REPEATS = Math.max(1, Number(process.env.BENCH_REPEATS ?? 3));
/** The plain kafkajs consumer of the drain section, run through tsx like the benchmark. */
export const RAW_CONSUMER = [
  '--import',
  'tsx',
  fileURLToPath(new URL('../raw-consumer.ts', import.meta.url)),
] as const;
export const PARTITIONS = 12;
export const OUT = resolve(process.env.BENCH_OUT ?? defaultOutDir('bench', Date.now()));
export const INFRA_DIR = resolve(process.env.INFRA_DIR ?? join(REPO_ROOT, '.infra', 'bench'));
export const USE_TSX = process.env.BENCH_TSX === '1';
/**
 * Consumer settings explored by the `settings` section (on top of the defaults); BENCH_VARIANTS
 * (a JSON array of {"label", "env"}) replaces the list.
 */
const DEFAULT_VARIANTS: readonly { label: string; env: Record<string, string> }[] = [
  { label: 'defaults', env: {} },
  { label: 'model on the event loop', env: { MODEL_WORKERS: '0' } },
  { label: 'model on 2 worker threads', env: { MODEL_WORKERS: '2' } },
  { label: 'fetch 1 MiB/partition', env: { KAFKA_MAX_BYTES_PER_PARTITION: '1048576' } },
  { label: 'fetch 64 KiB/partition', env: { KAFKA_MAX_BYTES_PER_PARTITION: '65536' } },
  { label: 'partitions concurrency 4', env: { KAFKA_PARTITIONS_CONCURRENCY: '4' } },
  { label: 'chunks of 1,000', env: { BATCH_MAX_MESSAGES: '1000' } },
  { label: 'ClickHouse window 0 ms', env: { CLICKHOUSE_INSERT_WINDOW_MS: '0' } },
  { label: 'ClickHouse window 50 ms', env: { CLICKHOUSE_INSERT_WINDOW_MS: '50' } },
  { label: 'V8 old space 256 MB', env: { NODE_OPTIONS: '--max-old-space-size=256' } },
  { label: 'V8 old space 128 MB', env: { NODE_OPTIONS: '--max-old-space-size=128' } },
  { label: 'V8 semi-space 32 MB', env: { NODE_OPTIONS: '--max-semi-space-size=32' } },
];

export const VARIANTS: readonly { label: string; env: Record<string, string> }[] =
  process.env.BENCH_VARIANTS === undefined
    ? DEFAULT_VARIANTS
    : (JSON.parse(process.env.BENCH_VARIANTS) as { label: string; env: Record<string, string> }[]);

/** Settings compared with the defaults in the scaling, sustained and settings sections. */
export const RECOMMENDED: Record<string, string> = {
  // About 700 messages per partition and fetch instead of ~3,000: 12 concurrent batches hold
  // a quarter of the records, serialised rows and pipelines at once.
  KAFKA_MAX_BYTES_PER_PARTITION: '196608',
  // The batches of one fetch reach the sink within a few ms of each other; waiting 200 ms for
  // more only idles the lock-step fetch loop.
  CLICKHOUSE_INSERT_WINDOW_MS: '10',
  // Without a limit V8 lets the heap grow to several times the live data before collecting.
  NODE_OPTIONS: '--max-old-space-size=256',
  // A joining replica waits until the others notice the rebalance at their next heartbeat.
  KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
};
