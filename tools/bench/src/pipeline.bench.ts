/**
 * End-to-end pipeline benchmark against real local Kafka, Redis and ClickHouse
 * (scripts/infra), with the real model, the consumer run as its own process:
 *
 *   drain      max throughput of one consumer: N preloaded messages, time to zero lag, CPU
 *              microseconds per message of the consumer and of Kafka, Redis and ClickHouse;
 *              and the same drain by a plain kafkajs consumer (count and commit only) with
 *              the same settings, the ceiling the service is compared with
 *   settings   the same drain with other consumer settings (fetch size, concurrency, chunk
 *              size, ClickHouse window, model threads, V8 heap) and their peak RSS
 *   scaling    the drain with 1, 2 and 4 consumers on 12 partitions, CPU of every process
 *   sustained  production and consumption at the same time, as fast as possible
 *   latency    end-to-end latency at 1,000 and 5,000 msg/s (Redis probe and the histogram)
 *   profile    a drain under `node --cpu-prof`: top self-time functions of the hot path
 *   cluster    the default drain with Redis as a Redis Cluster (3 primaries + 3 replicas, its
 *              own services in <INFRA_DIR>-redis-cluster) beside the single Redis: msgs/s and
 *              CPU per message of the consumer and of Redis (all nodes)
 *
 * Commands and environment: USAGE below (`npm run bench -- --help`). Prints markdown tables;
 * writes bench.md, bench.json and the CPU profile into the folder.
 *
 * The consumers run compiled (tsconfig.build.json into .cache/bench-dist), as the image
 * runs them: tsx in the process would add its own memory and start-up time.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { Cluster, Redis } from 'ioredis';

import {
  createKafkaClients,
  type MessageProducer,
  type TopicAdmin,
} from '../../../src/kafka/kafka-adapter.js';
import { selfTime, type CpuProfile, type SelfTimeReport } from '../../loadtest/src/cpu-profile.js';
import { LoadGenerator } from '../../loadtest/src/generator.js';
import { groupPosition } from '../../loadtest/src/lag.js';
import { runLoad } from '../../loadtest/src/load-run.js';
import {
  compileService,
  LocalConsumer,
  servicePids,
  startLocalServices,
  type ServiceEndpoints,
} from '../../loadtest/src/local-services.js';
import { MetricsScraper } from '../../loadtest/src/metrics-scraper.js';
import { defaultFirstUserId, defaultOutDir } from '../../loadtest/src/options.js';
import { metricSum, parsePrometheusText } from '../../loadtest/src/prometheus-text.js';
import {
  clockTicksPerSecond,
  cpuPercent,
  machineInfo,
  ProcessMeter,
  readMemory,
  readSystemBusyTicks,
  readThreadTimes,
  threadCpuPercent,
  type WatchedProcess,
} from '../../loadtest/src/proc-stats.js';
import { buildReport } from '../../loadtest/src/report-model.js';
import { migrate } from '../../../src/sinks/clickhouse-migration.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { REPO_ROOT } from '../../dev/paths.js';
import { exitOnHelp } from './usage.js';

const USAGE = `usage: npm run bench   (make bench)
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
  BENCH_TSX=1              run the consumer through tsx instead of compiling it first`;
exitOnHelp(USAGE);

const SECTIONS = new Set(
  (process.env.BENCH_SECTIONS ?? 'drain,latency,profile').split(',').map((name) => name.trim()),
);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200_000);
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 30);
const SUSTAINED_SECONDS = Number(process.env.BENCH_SUSTAINED_SECONDS ?? 30);
const REPEATS = Math.max(1, Number(process.env.BENCH_REPEATS ?? 3));
/** The plain kafkajs consumer of the drain section, run through tsx like the benchmark. */
const RAW_CONSUMER = [
  '--import',
  'tsx',
  fileURLToPath(new URL('./raw-consumer.ts', import.meta.url)),
] as const;
const PARTITIONS = 12;
const OUT = resolve(process.env.BENCH_OUT ?? defaultOutDir('bench', Date.now()));
const INFRA_DIR = resolve(process.env.INFRA_DIR ?? join(REPO_ROOT, '.infra', 'bench'));
const USE_TSX = process.env.BENCH_TSX === '1';
let compiledCli: string | undefined;

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

const VARIANTS: readonly { label: string; env: Record<string, string> }[] =
  process.env.BENCH_VARIANTS === undefined
    ? DEFAULT_VARIANTS
    : (JSON.parse(process.env.BENCH_VARIANTS) as { label: string; env: Record<string, string> }[]);

/** Settings compared with the defaults in the scaling, sustained and settings sections. */
const RECOMMENDED: Record<string, string> = {
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

interface DrainResult {
  readonly label: string;
  readonly consumers: number;
  readonly env: Record<string, string>;
  readonly messages: number;
  /** From all consumers ready to zero lag. */
  readonly drainSeconds: number;
  /** From spawning the consumers to zero lag (start-up included). */
  readonly totalSeconds: number;
  readonly rate: number;
  /** Every message of the (fresh) group over the time from spawning to zero lag. */
  readonly fromSpawnRate: number;
  /** Between 10 % and 90 % of the messages committed: ramp-up and tail left out. */
  readonly steadyRate: number;
  readonly readyMs: readonly number[];
  readonly idleRssMb: readonly number[];
  readonly peakRssMb: readonly number[];
  /** Percent of one core during the drain, per process. */
  readonly cpu: Record<string, number>;
  /** CPU time per message drained, microseconds, per process. */
  readonly cpuUsPerMessage: Record<string, number>;
  /**
   * Everything else on the machine during the drain (other users' processes), percent of one
   * core: the whole machine's busy time minus the processes above and this benchmark.
   */
  readonly otherCpu: number;
  /** INSERT queries ClickHouse ran per second during the drain (its `InsertQuery` event). */
  readonly insertsPerSecond: number;
  /** The first consumer's threads (main = JavaScript), percent of one core. */
  readonly threads: Record<string, number>;
  /**
   * Peaks of the first consumer's memory parts during the drain (MB, from its /metrics every
   * 0.5 s): RSS, V8 heap total and used, per V8 space, and external (Buffers, ArrayBuffers).
   */
  readonly memoryPeaksMb: Record<string, number>;
  /** Average per chunk, ms, from the consumer's offers_stage_duration_seconds. */
  readonly stageMs: Record<string, number>;
  readonly avgChunk: number;
}

const log = (line: string): void => {
  process.stderr.write(`[bench] ${line}\n`);
};

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1
    ? (sorted[middle] ?? Number.NaN)
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2;
}

const mb = (bytes: number | undefined): number =>
  bytes === undefined ? Number.NaN : Math.round(bytes / 1024 / 1024);
const int = (value: number): string =>
  Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : '–';
const fixed = (value: number | null | undefined, digits = 1): string =>
  value === null || value === undefined || !Number.isFinite(value) ? '–' : value.toFixed(digits);

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ].join('\n');
}

/** Memory parts of a consumer from its Prometheus metrics (prom-client's defaults), bytes. */
async function memoryParts(url: string): Promise<Record<string, number>> {
  try {
    const samples = parsePrometheusText(
      await fetch(url, { signal: AbortSignal.timeout(1_000) }).then((r) => r.text()),
    );
    const parts: Record<string, number> = {};
    const take = (name: string, key: string): void => {
      const value = metricSum(samples, name);
      if (value !== undefined) parts[key] = value;
    };
    take('process_resident_memory_bytes', 'rss');
    take('nodejs_heap_size_total_bytes', 'heap total');
    take('nodejs_heap_size_used_bytes', 'heap used');
    take('nodejs_external_memory_bytes', 'external');
    for (const sample of samples) {
      if (
        sample.name === 'nodejs_heap_space_size_total_bytes' &&
        sample.labels.space !== undefined
      ) {
        parts[`space ${sample.labels.space}`] = sample.value;
      }
    }
    return parts;
  } catch {
    return {};
  }
}

class Bench {
  readonly endpoints: ServiceEndpoints;
  readonly admin: TopicAdmin;
  readonly producer: MessageProducer;
  /** The single Redis; with a Redis Cluster, its first node (see `#cluster`). */
  readonly redis: Redis;
  readonly clickhouse: ClickHouseClient;
  readonly services: readonly WatchedProcess[];
  readonly #cluster: Cluster | undefined;
  readonly #topics: string[] = [];

  private constructor(
    endpoints: ServiceEndpoints,
    admin: TopicAdmin,
    producer: MessageProducer,
    services: readonly WatchedProcess[],
  ) {
    this.endpoints = endpoints;
    this.admin = admin;
    this.producer = producer;
    this.services = services;
    const redisUrls = endpoints.redisUrl.split(',');
    this.redis = new Redis(redisUrls[0] ?? '', { maxRetriesPerRequest: 3 });
    this.#cluster =
      endpoints.redisMode === 'cluster'
        ? new Cluster(
            redisUrls.map((url) => ({
              host: new URL(url).hostname,
              port: Number(new URL(url).port),
            })),
            { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 3 } },
          )
        : undefined;
    this.clickhouse = createClient({
      url: endpoints.clickhouseUrl,
      username: endpoints.clickhouseUser,
      password: endpoints.clickhousePassword,
    });
  }

  static async start(
    infraDir: string = INFRA_DIR,
    infraEnv: Readonly<Record<string, string>> = {},
  ): Promise<Bench> {
    log(`local services in ${infraDir}`);
    const endpoints = await startLocalServices(infraDir, infraEnv);
    const kafka = createKafkaClients(
      { brokers: endpoints.kafkaBrokers, clientId: 'pipeline-bench' },
      createLogger('error'),
    );
    const admin = await kafka.admin();
    const producer = kafka.producer();
    await producer.connect();
    return new Bench(endpoints, admin, producer, await servicePids(infraDir));
  }

  async topic(): Promise<string> {
    const name = `bench-${randomUUID().slice(0, 8)}`;
    await this.admin.ensureTopics([
      { name, partitions: PARTITIONS },
      { name: `${name}.dlq`, partitions: 1 },
    ]);
    this.#topics.push(name, `${name}.dlq`);
    return name;
  }

  /** Produces `count` registrations as fast as the broker takes them. */
  async preload(topic: string, count: number): Promise<{ seconds: number; rate: number }> {
    const generator = new LoadGenerator(this.producer, {
      topic,
      rate: 0,
      durationMs: undefined,
      count,
      firstUserId: defaultFirstUserId(Date.now()),
      seed: 42,
      batchSize: 2_000,
      maxInFlight: 8,
    });
    const result = await generator.run();
    const seconds = (result.endedAtMs - result.startedAtMs) / 1000;
    return { seconds, rate: count / seconds };
  }

  /** A fresh group, table and key prefix on `topic`, and the consumer environment for it. */
  async slice(topic: string): Promise<{
    groupId: string;
    table: string;
    keyPrefix: string;
    env: Record<string, string>;
    cleanUp: () => Promise<void>;
  }> {
    const id = randomUUID().replaceAll('-', '').slice(0, 10);
    const groupId = `bench-${id}`;
    const table = `personal_offer_bench_${id}`;
    const keyPrefix = `bench-${id}:`;
    await migrate(this.clickhouse, { database: 'default', table, cluster: '', ttlDays: 0 });
    return {
      groupId,
      table,
      keyPrefix,
      env: {
        KAFKA_BROKERS: this.endpoints.kafkaBrokers.join(','),
        KAFKA_TOPIC: topic,
        KAFKA_GROUP_ID: groupId,
        CLICKHOUSE_URL: this.endpoints.clickhouseUrl,
        CLICKHOUSE_USER: this.endpoints.clickhouseUser,
        CLICKHOUSE_PASSWORD: this.endpoints.clickhousePassword,
        CLICKHOUSE_TABLE: table,
        REDIS_URL: this.endpoints.redisUrl,
        REDIS_MODE: this.endpoints.redisMode,
        REDIS_KEY_PREFIX: keyPrefix,
        LOG_LEVEL: 'warn',
      },
      cleanUp: async () => {
        await this.clickhouse.command({ query: `DROP TABLE IF EXISTS default.${table}` });
        // On a cluster, every primary's keys, one at a time (they are in different slots).
        const nodes = this.#cluster === undefined ? [this.redis] : this.#cluster.nodes('master');
        for (const node of nodes) {
          let cursor = '0';
          do {
            const [next, keys] = await node.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 10_000);
            cursor = next;
            if (keys.length === 0) continue;
            if (this.#cluster === undefined) await node.unlink(...keys);
            else await Promise.all(keys.map((key) => node.unlink(key)));
          } while (cursor !== '0');
        }
      },
    };
  }

  /**
   * Starts `consumers` processes on the preloaded topic with a fresh group and measures the
   * time until the group's lag is zero, CPU of every process, the consumers' memory.
   */
  async drain(
    topic: string,
    label: string,
    consumers: number,
    settings: Record<string, string>,
    nodeFlags: readonly string[] = [],
    program?: readonly string[],
  ): Promise<DrainResult & { profileWindowUs?: [number, number] }> {
    const slice = await this.slice(topic);
    const started = performance.now();
    const processes: LocalConsumer[] = [];
    try {
      for (let index = 0; index < consumers; index += 1) {
        processes.push(
          await LocalConsumer.start({
            name: `consumer-${index + 1}`,
            env: { ...slice.env, ...settings },
            nodeFlags,
            ...(compiledCli === undefined ? {} : { compiledCli }),
            ...(program === undefined ? {} : { program }),
          }),
        );
      }
      const readyMs = await Promise.all(processes.map((consumer) => consumer.waitReady(120_000)));
      const idleRss = await Promise.all(processes.map((consumer) => readMemory(consumer.pid)));
      const meter = new ProcessMeter([
        ...processes.map((consumer) => ({ name: consumer.name, pid: consumer.pid })),
        ...this.services,
        { name: 'bench', pid: process.pid },
      ]);
      const busyBefore = await readSystemBusyTicks();
      const insertsBefore = await this.insertQueries();
      const firstPid = processes[0]?.pid ?? 0;
      const threadsBefore = await readThreadTimes(firstPid);
      await meter.read();
      const readyAt = performance.now();
      const windowStartUs = Number(process.hrtime.bigint() / 1000n);
      const series: [number, number][] = [];
      let baseline: number | undefined;
      let total = 0;
      const memoryPeaks: Record<string, number> = {};
      let polls = 0;
      for (;;) {
        polls += 1;
        if (polls % 5 === 1 && processes[0] !== undefined) {
          void memoryParts(processes[0].metricsUrl).then((parts) => {
            for (const [name, bytes] of Object.entries(parts)) {
              memoryPeaks[name] = Math.max(memoryPeaks[name] ?? 0, mb(bytes));
            }
          });
        }
        const [ends, committed] = await Promise.all([
          this.admin.endOffsets(topic),
          this.admin.committedOffsets(slice.groupId, topic),
        ]);
        const position = groupPosition(ends, committed);
        const at = performance.now();
        baseline ??= position.committedTotal;
        total = position.endTotal;
        series.push([at, position.committedTotal]);
        if (position.lag === 0) break;
        const exited = processes.find((consumer) => !consumer.running);
        if (exited !== undefined) throw new Error(`${exited.name} exited:\n${exited.output}`);
        if (at - readyAt > 600_000)
          throw new Error(`no zero lag after 600 s (lag ${position.lag})`);
        await sleep(100);
      }
      const doneAt = performance.now();
      const windowEndUs = Number(process.hrtime.bigint() / 1000n);
      const after = await meter.read();
      const busyAfter = await readSystemBusyTicks();
      const insertsAfter = await this.insertQueries();
      const threadsAfter = await readThreadTimes(firstPid);
      const memory = await Promise.all(processes.map((consumer) => readMemory(consumer.pid)));
      const metricsText = await fetch(processes[0]?.metricsUrl ?? '').then((response) =>
        response.text(),
      );
      const samples = parsePrometheusText(metricsText);
      // Per chunk: the steps (which add up), each sink's write, and the whole chunk.
      const average = (metric: string, label?: [string, string]): number | undefined => {
        const matching = (suffix: string) =>
          samples
            .filter((s) => s.name === `${metric}_${suffix}`)
            .filter((s) => label === undefined || s.labels[label[0]] === label[1])
            .reduce((acc, s) => acc + s.value, 0);
        const count = matching('count');
        return count > 0 ? (matching('sum') / count) * 1000 : undefined;
      };
      const stageMs: Record<string, number> = {};
      const put = (name: string, value: number | undefined): void => {
        if (value !== undefined) stageMs[name] = value;
      };
      for (const stage of ['decode', 'score', 'write', 'commit']) {
        put(stage, average('offers_stage_duration_seconds', ['stage', stage]));
      }
      for (const sink of ['clickhouse', 'redis', 'dlq']) {
        put(sink, average('offers_sink_write_duration_seconds', ['sink', sink]));
      }
      put('chunk', average('offers_chunk_duration_seconds'));
      const batchSum = metricSum(samples, 'offers_batch_size_sum') ?? 0;
      const batchCount = metricSum(samples, 'offers_batch_size_count') ?? 0;

      const base = baseline;
      const done = total - base;
      const drainSeconds = (doneAt - readyAt) / 1000;
      const at = (fraction: number): number | undefined =>
        series.find(([, committed]) => committed >= base + done * fraction)?.[0];
      const t10 = at(0.1);
      const t90 = at(0.9);
      const steadyRate =
        t10 !== undefined && t90 !== undefined && t90 > t10
          ? (done * 0.8) / ((t90 - t10) / 1000)
          : Number.NaN;
      const ticks = clockTicksPerSecond();
      const cpu = Object.fromEntries(
        after.map((reading) => [reading.name, reading.cpuPercent ?? 0]),
      );
      const machineCpu =
        busyBefore === undefined || busyAfter === undefined
          ? Number.NaN
          : cpuPercent({ ticks: busyBefore }, { ticks: busyAfter }, doneAt - readyAt, ticks);
      const watched = Object.values(cpu).reduce((sum, value) => sum + value, 0);
      return {
        label,
        consumers,
        env: settings,
        messages: done,
        drainSeconds,
        totalSeconds: (doneAt - started) / 1000,
        rate: done / drainSeconds,
        fromSpawnRate: total / ((doneAt - started) / 1000),
        steadyRate,
        readyMs,
        idleRssMb: idleRss.map((memory) => mb(memory?.rssBytes)),
        peakRssMb: memory.map((entry) => mb(entry?.hwmBytes)),
        // The meter reports CPU since its previous reading, taken when all were ready.
        cpu,
        cpuUsPerMessage: Object.fromEntries(
          Object.entries(cpu).map(([name, percent]) => [
            name,
            ((percent / 100) * drainSeconds * 1e6) / Math.max(1, done),
          ]),
        ),
        otherCpu: Math.max(0, machineCpu - watched),
        insertsPerSecond: (insertsAfter - insertsBefore) / drainSeconds,
        threads: threadCpuPercent(threadsBefore, threadsAfter, doneAt - readyAt, ticks),
        memoryPeaksMb: memoryPeaks,
        stageMs,
        avgChunk: batchCount === 0 ? 0 : batchSum / batchCount,
        profileWindowUs: [windowStartUs, windowEndUs],
      };
    } finally {
      await Promise.all(processes.map((consumer) => consumer.stop()));
      await slice.cleanUp();
    }
  }

  /** One consumer on a fresh topic; production at `rate` (0 = max) for `seconds`. */
  async load(
    label: string,
    settings: Record<string, string>,
    runs: readonly { rate: number; seconds: number }[],
  ) {
    const topic = await this.topic();
    const slice = await this.slice(topic);
    const consumer = await LocalConsumer.start({
      name: 'consumer-1',
      env: { ...slice.env, ...settings },
      ...(compiledCli === undefined ? {} : { compiledCli }),
    });
    const results = [];
    try {
      await consumer.waitReady(120_000);
      for (const run of runs) {
        const meter = new ProcessMeter([
          { name: 'consumer-1', pid: consumer.pid },
          { name: 'load generator (bench)', pid: process.pid },
          ...this.services,
        ]);
        const scraper = new MetricsScraper(() => [consumer.metricsUrl]);
        log(`${label}: ${run.rate === 0 ? 'max rate' : `${run.rate} msg/s`} for ${run.seconds} s`);
        const firstUserId = defaultFirstUserId(Date.now());
        const insertsBefore = await this.insertQueries();
        const result = await runLoad(
          { admin: this.admin, producer: this.producer, redis: this.redis },
          {
            topic,
            groupId: slice.groupId,
            keyPrefix: slice.keyPrefix,
            clickhouse: { client: this.clickhouse, database: 'default', table: slice.table },
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
        const report = buildReport({
          startedAt: new Date(result.startedAtMs).toISOString(),
          machine: machineInfo(),
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
          versions: {
            service: result.buildInfo?.version ?? null,
            model: result.buildInfo?.modelVersion ?? null,
            serviceNode: result.buildInfo?.nodeVersion ?? null,
            image: null,
            gitCommit: null,
          },
          samples: result.samples,
          redisLatencies: result.redisLatencies,
          clickhouseLatencies: result.clickhouseLatencies,
          probes: result.probes,
          consumerLatencyMs: result.consumerLatencyMs,
          productionSeconds: result.productionSeconds,
          lastSendError: result.lastSendError,
        });
        const inserts = (await this.insertQueries()) - insertsBefore;
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

  /**
   * INSERT queries the server has run since it started: how often the consumers insert
   * (MergeTree tables want few, large inserts; each one creates a part to merge).
   */
  async insertQueries(): Promise<number> {
    const result = await this.clickhouse.query({
      query: "SELECT value FROM system.events WHERE event = 'InsertQuery'",
      format: 'JSONEachRow',
    });
    const [row] = await result.json<{ value: string | number }>();
    return Number(row?.value ?? 0);
  }

  async close(): Promise<void> {
    await this.admin.deleteTopics(this.#topics).catch(() => undefined);
    await this.producer.disconnect();
    await this.admin.disconnect();
    this.redis.disconnect();
    this.#cluster?.disconnect();
    await this.clickhouse.close();
  }

  /** Connects the cluster client of a Redis Cluster (no-op for a single Redis). */
  async connect(): Promise<void> {
    await this.#cluster?.connect();
  }
}

function drainRow(result: DrainResult): string[] {
  const consumerCpu = Object.entries(result.cpu)
    .filter(([name]) => name.startsWith('consumer'))
    .map(([, value]) => Math.round(value));
  return [
    result.label,
    String(result.consumers),
    int(result.rate),
    int(result.fromSpawnRate),
    int(result.steadyRate),
    fixed(result.drainSeconds, 2),
    fixed(result.totalSeconds, 2),
    result.readyMs.map((value) => int(value)).join(', '),
    result.peakRssMb.map((value) => int(value)).join(', '),
    consumerCpu.join(', '),
    Object.entries(result.cpuUsPerMessage)
      .filter(([name]) => name.startsWith('consumer'))
      .map(([, value]) => fixed(value, 1))
      .join(', '),
    int(result.cpu['kafka (java)'] ?? Number.NaN),
    int(result.cpu['clickhouse-server'] ?? Number.NaN),
    int(redisCpu(result)),
    int(result.otherCpu),
    fixed(result.insertsPerSecond),
  ];
}

const DRAIN_HEAD = [
  'run',
  'consumers',
  'msgs/s',
  'msgs/s from spawn',
  'steady msgs/s (10–90 %)',
  'drain s',
  'incl. start-up s',
  'ready ms',
  'peak RSS MB',
  'consumer CPU %',
  'consumer CPU µs/msg',
  'kafka CPU %',
  'clickhouse CPU %',
  'redis CPU %',
  'other CPU %',
  'CH inserts/s',
];

/** CPU of Redis in a drain (percent of one core): the single server, or every cluster node. */
function redisCpu(result: DrainResult): number {
  const nodes = Object.entries(result.cpu).filter(([name]) => name.startsWith('redis-server'));
  return nodes.length === 0 ? Number.NaN : nodes.reduce((sum, [, value]) => sum + value, 0);
}

/** CPU microseconds per message from a CPU percentage (of one core) and a rate. */
const usPerMessage = (cpuPercent: number, rate: number): number => (cpuPercent * 10_000) / rate;

/** The median run (by throughput) of repeated drains. */
function medianRun(runs: readonly DrainResult[]): DrainResult {
  const rate = median(runs.map((run) => run.rate));
  const sorted = [...runs].sort((a, b) => Math.abs(a.rate - rate) - Math.abs(b.rate - rate));
  const chosen = sorted[0];
  if (chosen === undefined) throw new Error('no runs');
  return chosen;
}

async function repeatDrain(
  bench: Bench,
  topic: string,
  label: string,
  consumers: number,
  settings: Record<string, string>,
  program?: readonly string[],
): Promise<{ median: DrainResult; runs: DrainResult[] }> {
  const runs: DrainResult[] = [];
  for (let round = 0; round < REPEATS; round += 1) {
    const result = await bench.drain(topic, label, consumers, settings, [], program);
    log(
      `${label}, ${consumers} consumer(s): ${int(result.rate)} msgs/s, drain ${fixed(result.drainSeconds, 2)} s, peak RSS ${result.peakRssMb.join('/')} MB`,
    );
    runs.push(result);
  }
  return { median: medianRun(runs), runs };
}

/** The commit measured, and the service files that differed from it. */
function gitState(): { commit: string; modified: string[] } {
  const git = (args: string[]): string => {
    try {
      return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  return {
    commit: git(['rev-parse', 'HEAD']),
    modified: git(['status', '--porcelain', '--', 'src'])
      .split('\n')
      .filter((line) => line !== ''),
  };
}

async function main(): Promise<void> {
  await mkdir(OUT, { recursive: true });
  const machine = machineInfo();
  const output: Record<string, unknown> = {
    kind: 'realtime-offers-pipeline-bench',
    source: gitState(),
    startedAt: new Date().toISOString(),
    machine,
    messages: MESSAGES,
    partitions: PARTITIONS,
    repeats: REPEATS,
  };
  const source = output.source as ReturnType<typeof gitState>;
  const markdown: string[] = [
    `machine: ${machine.cores} cores, ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.platform}; ` +
      `Kafka, Redis and ClickHouse on the same machine; ${int(MESSAGES)} messages, ${PARTITIONS} partitions; median of ${REPEATS} runs; ` +
      `consumer run as ${USE_TSX ? 'TypeScript through tsx' : 'compiled JavaScript'}; ` +
      `source ${source.commit.slice(0, 10)}${source.modified.length > 0 ? ` with ${source.modified.length} modified file(s) under src/` : ''}; ` +
      `"other CPU" is what other processes on the machine used meanwhile (percent of one core)`,
  ];
  const save = async (): Promise<void> => {
    await writeFile(join(OUT, 'bench.json'), `${JSON.stringify(output, null, 2)}\n`);
    await writeFile(join(OUT, 'bench.md'), `${markdown.join('\n\n')}\n`);
  };

  if (!USE_TSX) {
    log('compiling the service into .cache/bench-dist');
    compiledCli = await compileService(join(REPO_ROOT, '.cache', 'bench-dist'));
  }
  output.consumerRuns = USE_TSX ? 'tsx (TypeScript source)' : 'compiled JavaScript';
  const bench = await Bench.start();
  try {
    const needsPreload = ['drain', 'settings', 'scaling', 'profile', 'cluster'].some((s) =>
      SECTIONS.has(s),
    );
    const topic = needsPreload ? await bench.topic() : '';
    let singleNode: DrainResult | undefined;
    if (needsPreload) {
      log(`preloading ${int(MESSAGES)} messages into ${topic}`);
      const preload = await bench.preload(topic, MESSAGES);
      output.preload = preload;
      markdown.push(
        `preload: ${int(MESSAGES)} messages in ${fixed(preload.seconds, 2)} s (${int(preload.rate)} msgs/s produced)`,
      );
    }

    if (SECTIONS.has('drain')) {
      const service = await repeatDrain(bench, topic, 'service (defaults)', 1, {});
      const raw = await repeatDrain(
        bench,
        topic,
        'raw kafkajs (count + commit)',
        1,
        {},
        RAW_CONSUMER,
      );
      output.drain = { service, raw };
      singleNode = service.median;
      const headline = [service, raw].map(({ median: run, runs }) => {
        const rates = runs.map((entry) => entry.rate);
        const us = (name: string): string => fixed(run.cpuUsPerMessage[name], 2);
        return [
          run.label,
          int(run.rate),
          `${int(Math.min(...rates))}–${int(Math.max(...rates))}`,
          us('consumer-1'),
          us('kafka (java)'),
          us('redis-server'),
          us('clickhouse-server'),
          int(run.peakRssMb[0] ?? Number.NaN),
          int(run.otherCpu),
        ];
      });
      const ratio = service.median.rate / raw.median.rate;
      const cpuRatio =
        (service.median.cpuUsPerMessage['consumer-1'] ?? Number.NaN) /
        (raw.median.cpuUsPerMessage['consumer-1'] ?? Number.NaN);
      markdown.push(
        `### Drain of ${int(MESSAGES)} preloaded messages by one consumer (median of ${REPEATS})\n\n${table(
          [
            'consumer',
            'msgs/s',
            'range msgs/s',
            'consumer CPU µs/msg',
            'kafka µs/msg',
            'redis µs/msg',
            'clickhouse µs/msg',
            'peak RSS MB',
            'other CPU %',
          ],
          headline,
        )}\n\nservice / raw kafkajs: ${fixed(ratio, 2)} of the throughput, ${fixed(cpuRatio, 1)}× the CPU per message. ` +
          `CPU µs/msg = the process's CPU time (all its threads) during the drain / messages drained; ` +
          `"other CPU" is what the rest of the machine used meanwhile (percent of one core).`,
      );
      const threads = service.median.threads;
      markdown.push(
        `consumer threads during the service's median drain (% of one core): ${Object.entries(
          threads,
        )
          .sort((a, b) => b[1] - a[1])
          .filter(([, value]) => value >= 1)
          .map(([name, value]) => `${name} ${Math.round(value)}`)
          .join(', ')}; mean chunk ${int(service.median.avgChunk)} messages; ` +
          `memory peaks (MB): ${Object.entries(service.median.memoryPeaksMb)
            .map(([part, value]) => `${part} ${int(value)}`)
            .join(', ')}; ` +
          `stage ms per chunk: ${Object.entries(service.median.stageMs)
            .map(([stage, value]) => `${stage} ${fixed(value)}`)
            .join(', ')}`,
      );
      markdown.push(
        `#### Every drain\n\n${table(DRAIN_HEAD, [...service.runs, ...raw.runs].map(drainRow))}`,
      );
      await save();
    }

    if (SECTIONS.has('settings')) {
      const results = [];
      for (const variant of VARIANTS) {
        results.push((await repeatDrain(bench, topic, variant.label, 1, variant.env)).median);
      }
      output.settings = results;
      markdown.push(
        `### Consumer settings (one consumer, same drain)\n\n${table(
          [
            ...DRAIN_HEAD,
            'V8 heap peak MB',
            'external peak MB',
            'mean chunk',
            'score ms/chunk',
            'clickhouse ms/chunk',
            'redis ms/chunk',
          ],
          results.map((result) => [
            ...drainRow(result),
            int(result.memoryPeaksMb['heap total'] ?? Number.NaN),
            int(result.memoryPeaksMb.external ?? Number.NaN),
            int(result.avgChunk),
            fixed(result.stageMs.score),
            fixed(result.stageMs.clickhouse),
            fixed(result.stageMs.redis),
          ]),
        )}`,
      );
      await save();
    }

    if (SECTIONS.has('scaling')) {
      const results = [];
      for (const consumers of [1, 2, 4]) {
        results.push(
          (await repeatDrain(bench, topic, `defaults ×${consumers}`, consumers, {})).median,
        );
      }
      for (const consumers of [1, 2, 4]) {
        results.push(
          (await repeatDrain(bench, topic, `recommended ×${consumers}`, consumers, RECOMMENDED))
            .median,
        );
      }
      output.scaling = results;
      markdown.push(
        `### 1, 2 and 4 consumer processes, 12 partitions\n\n${table(DRAIN_HEAD, results.map(drainRow))}`,
      );
      await save();
    }

    if (SECTIONS.has('sustained')) {
      const results = [
        ...(await bench.load('defaults', {}, [{ rate: 0, seconds: SUSTAINED_SECONDS }])),
        ...(await bench.load('recommended', RECOMMENDED, [
          { rate: 0, seconds: SUSTAINED_SECONDS },
        ])),
      ];
      output.sustained = results;
      markdown.push(
        `### Sustained: producing as fast as possible while one consumer consumes (${SUSTAINED_SECONDS} s)\n\n${table(
          [
            'settings',
            'produced msgs/s',
            'committed msgs/s during production',
            'max lag',
            'drain after s',
            'consumer CPU %',
            'generator CPU %',
            'kafka CPU %',
            'peak RSS MB',
          ],
          results.map((result) => {
            const proc = (name: string) => result.summary.processes.find((p) => p.name === name);
            return [
              result.label,
              int(result.summary.avgProduceRate),
              int(result.commitRateDuringProduction),
              int(result.summary.maxLag),
              fixed(result.summary.drainSeconds),
              int(proc('consumer-1')?.avgCpuPercent ?? Number.NaN),
              int(proc('load generator (bench)')?.avgCpuPercent ?? Number.NaN),
              int(proc('kafka (java)')?.avgCpuPercent ?? Number.NaN),
              int(proc('consumer-1')?.peakRssMb ?? Number.NaN),
            ];
          }),
        )}`,
      );
      await save();
    }

    if (SECTIONS.has('latency')) {
      const runs = [
        { rate: 1_000, seconds: LATENCY_SECONDS },
        { rate: 5_000, seconds: LATENCY_SECONDS },
      ];
      const results = [
        ...(await bench.load('defaults', {}, runs)),
        // The settings section's other variants, on request.
        ...(SECTIONS.has('settings') ? await bench.load('recommended', RECOMMENDED, runs) : []),
      ];
      output.latency = results;
      markdown.push(
        `### End-to-end latency at fixed rates (${LATENCY_SECONDS} s each, one consumer)\n\n${table(
          [
            'settings',
            'rate',
            'Redis p50 ms',
            'Redis p95 ms',
            'Redis p99 ms',
            'Redis max ms',
            'histogram p50 ms',
            'histogram p95 ms',
            'histogram p99 ms',
            'max lag',
            'consumer CPU %',
            'clickhouse CPU %',
            'CH inserts/s',
            'peak RSS MB',
          ],
          results.map((result) => {
            const redis = result.summary.redisLatencyMs;
            const clickhouse = result.summary.processes.find((p) => p.name === 'clickhouse-server');
            const histogram = result.summary.consumerLatencyMs;
            const consumer = result.summary.processes.find((p) => p.name === 'consumer-1');
            return [
              result.label,
              int(result.rate),
              fixed(redis?.p50),
              fixed(redis?.p95),
              fixed(redis?.p99),
              fixed(redis?.max),
              fixed(histogram?.p50),
              fixed(histogram?.p95),
              fixed(histogram?.p99),
              int(result.summary.maxLag),
              int(consumer?.avgCpuPercent ?? Number.NaN),
              int(clickhouse?.avgCpuPercent ?? Number.NaN),
              fixed(result.insertsPerSecond),
              int(consumer?.peakRssMb ?? Number.NaN),
            ];
          }),
        )}\n\nRedis = Kafka timestamp → offer readable in Redis for ~100 sampled users/s (10 ms polling); histogram = the consumer's offers_end_to_end_latency_seconds (Kafka timestamp → both sinks acknowledged), interpolated within its buckets (…, 25, 50, 100, 250, 500 ms, …).`,
      );
      await save();
    }

    if (SECTIONS.has('profile')) {
      const dir = join(OUT, 'profile');
      await mkdir(dir, { recursive: true });
      const result = await bench.drain(topic, 'profiled (defaults)', 1, {}, [
        '--cpu-prof',
        `--cpu-prof-dir=${dir}`,
      ]);
      const file = (await readdir(dir)).find((name) => name.endsWith('.cpuprofile'));
      if (file === undefined) throw new Error('the consumer wrote no CPU profile');
      const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile;
      const [fromUs, toUs] = result.profileWindowUs ?? [undefined, undefined];
      const report: SelfTimeReport = selfTime(profile, { fromUs, toUs, limit: 15 });
      output.profile = { file: join('profile', file), drain: result, report };
      markdown.push(
        `### CPU profile of the consumer's main thread during a drain (${int(result.rate)} msgs/s under the profiler)\n\n` +
          `window ${fixed(report.windowMs / 1000, 2)} s: busy ${fixed(report.busyMs / 1000, 2)} s, idle ${fixed(report.idleMs / 1000, 2)} s\n\n` +
          `${table(
            ['#', 'function (self time)', 'self ms', '% of busy'],
            report.top.map((entry, index) => [
              String(index + 1),
              entry.function.replaceAll('|', '\\|'),
              int(entry.selfMs),
              fixed(entry.percent),
            ]),
          )}\n\n` +
          `by package: ${report.byPackage.map((entry) => `${entry.function} ${fixed(entry.percent)} %`).join(', ')}`,
      );
      await save();
    }

    if (SECTIONS.has('cluster')) {
      singleNode ??= (await repeatDrain(bench, topic, 'defaults', 1, {})).median;
      const clusterDir = `${INFRA_DIR}-redis-cluster`;
      const clusterBench = await Bench.start(clusterDir, { INFRA_REDIS_MODE: 'cluster' });
      let cluster: DrainResult;
      try {
        await clusterBench.connect();
        const clusterTopic = await clusterBench.topic();
        log(`preloading ${int(MESSAGES)} messages into ${clusterTopic} (${clusterDir})`);
        await clusterBench.preload(clusterTopic, MESSAGES);
        cluster = (await repeatDrain(clusterBench, clusterTopic, 'Redis Cluster', 1, {})).median;
      } finally {
        await clusterBench.close();
      }
      output.cluster = { singleNode, cluster };
      const row = (name: string, result: DrainResult): string[] => {
        const consumer = result.cpu['consumer-1'] ?? Number.NaN;
        const redis = redisCpu(result);
        return [
          name,
          int(result.rate),
          int(consumer),
          fixed(usPerMessage(consumer, result.rate)),
          int(redis),
          fixed(usPerMessage(redis, result.rate)),
          fixed(result.stageMs.redis),
        ];
      };
      markdown.push(
        `### Redis: one node and a Redis Cluster (one consumer, default settings, same drain)\n\n${table(
          [
            'Redis',
            'msgs/s',
            'consumer CPU %',
            'consumer CPU µs/msg',
            'redis CPU % (all nodes)',
            'redis CPU µs/msg',
            'redis ms/chunk',
          ],
          [row('one node', singleNode), row('cluster, 3 primaries + 3 replicas', cluster)],
        )}\n\nThe cluster runs with its own Kafka and ClickHouse (${clusterDir}); its writes are one script call per hash slot in one pipeline per primary, and its CPU includes the replicas applying the replication stream.`,
      );
      await save();
    }
  } finally {
    await bench.close();
  }
  console.log(markdown.join('\n\n'));
  console.log(`\nraw data: ${join(OUT, 'bench.json')}`);
}

main().then(
  () => {
    // Client timers (Kafka reconnects, keep-alive sockets) must not keep the run alive.
    setTimeout(() => process.exit(0), 1_000).unref();
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
