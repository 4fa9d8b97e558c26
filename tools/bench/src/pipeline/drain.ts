import { setTimeout as sleep } from 'node:timers/promises';

import {
  clockTicksPerSecond,
  cpuPercent,
  groupPosition,
  LocalConsumer,
  metricSum,
  parsePrometheusText,
  ProcessMeter,
  readMemory,
  readSystemBusyTicks,
  readThreadTimes,
  threadCpuPercent,
} from 'realtime-offers-loadtest';

import type { Bench } from './bench.js';
import { fixed, int, log, mb, median } from './format.js';
import { REPEATS } from './options.js';

/**
 * The drain measurement: consumers started on a preloaded topic with a fresh group, timed to
 * zero lag, with the CPU of every process and the consumers' memory; repeated, its median.
 */

export interface DrainResult {
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

/**
 * Starts `consumers` processes on the preloaded topic with a fresh group and measures the
 * time until the group's lag is zero, CPU of every process, the consumers' memory.
 */
export async function drain(
  bench: Bench,
  topic: string,
  label: string,
  consumers: number,
  settings: Record<string, string>,
  nodeFlags: readonly string[] = [],
  program?: readonly string[],
): Promise<DrainResult & { profileWindowUs?: [number, number] }> {
  const slice = await bench.slice(topic);
  const started = performance.now();
  const processes: LocalConsumer[] = [];
  try {
    for (let index = 0; index < consumers; index += 1) {
      processes.push(
        await LocalConsumer.start({
          name: `consumer-${index + 1}`,
          env: { ...slice.env, ...settings },
          nodeFlags,
          ...(bench.compiledCli === undefined ? {} : { compiledCli: bench.compiledCli }),
          ...(program === undefined ? {} : { program }),
        }),
      );
    }
    const readyMs = await Promise.all(processes.map((consumer) => consumer.waitReady(120_000)));
    const idleRss = await Promise.all(processes.map((consumer) => readMemory(consumer.pid)));
    const meter = new ProcessMeter([
      ...processes.map((consumer) => ({ name: consumer.name, pid: consumer.pid })),
      ...bench.services,
      { name: 'bench', pid: process.pid },
    ]);
    const busyBefore = await readSystemBusyTicks();
    const insertsBefore = await bench.insertQueries();
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
        bench.admin.endOffsets(topic),
        bench.admin.committedOffsets(slice.groupId, topic),
      ]);
      const position = groupPosition(ends, committed);
      const at = performance.now();
      baseline ??= position.committedTotal;
      total = position.endTotal;
      series.push([at, position.committedTotal]);
      if (position.lag === 0) break;
      const exited = processes.find((consumer) => !consumer.running);
      if (exited !== undefined) throw new Error(`${exited.name} exited:\n${exited.output}`);
      if (at - readyAt > 600_000) throw new Error(`no zero lag after 600 s (lag ${position.lag})`);
      await sleep(100);
    }
    const doneAt = performance.now();
    const windowEndUs = Number(process.hrtime.bigint() / 1000n);
    const after = await meter.read();
    const busyAfter = await readSystemBusyTicks();
    const insertsAfter = await bench.insertQueries();
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
    const cpu = Object.fromEntries(after.map((reading) => [reading.name, reading.cpuPercent ?? 0]));
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

/** The median run (by throughput) of repeated drains. */
function medianRun(runs: readonly DrainResult[]): DrainResult {
  const rate = median(runs.map((run) => run.rate));
  const sorted = [...runs].sort((a, b) => Math.abs(a.rate - rate) - Math.abs(b.rate - rate));
  const chosen = sorted[0];
  if (chosen === undefined) throw new Error('no runs');
  return chosen;
}

export async function repeatDrain(
  bench: Bench,
  topic: string,
  label: string,
  consumers: number,
  settings: Record<string, string>,
  program?: readonly string[],
): Promise<{ median: DrainResult; runs: DrainResult[] }> {
  const runs: DrainResult[] = [];
  for (let round = 0; round < REPEATS; round += 1) {
    const result = await drain(bench, topic, label, consumers, settings, [], program);
    log(
      `${label}, ${consumers} consumer(s): ${int(result.rate)} msgs/s, drain ${fixed(result.drainSeconds, 2)} s, peak RSS ${result.peakRssMb.join('/')} MB`,
    );
    runs.push(result);
  }
  return { median: medianRun(runs), runs };
}
