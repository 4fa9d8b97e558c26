import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { MachineInfo } from 'realtime-offers-loadtest';

import { REPO_ROOT } from '../../../dev/paths.js';
import type { DrainResult } from './drain.js';
import { fixed, int } from './format.js';

/**
 * The benchmark's report: bench.json (every section's raw results) and bench.md (a table per
 * section), written again after each section; and the drain results' table rows.
 */

export function drainRow(result: DrainResult): string[] {
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

export const DRAIN_HEAD = [
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
export function redisCpu(result: DrainResult): number {
  const nodes = Object.entries(result.cpu).filter(([name]) => name.startsWith('redis-server'));
  return nodes.length === 0 ? Number.NaN : nodes.reduce((sum, [, value]) => sum + value, 0);
}

/** CPU microseconds per message from a CPU percentage (of one core) and a rate. */
export const usPerMessage = (cpuPercent: number, rate: number): number =>
  (cpuPercent * 10_000) / rate;

/** The commit measured, and the service files that differed from it. */
export function gitState(): { commit: string; modified: string[] } {
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

/** What the report's first paragraph says of the run. */
export interface RunDescription {
  readonly machine: MachineInfo;
  readonly messages: number;
  readonly partitions: number;
  readonly repeats: number;
  readonly useTsx: boolean;
}

/** bench.json and bench.md in `dir`: the sections add to `output` and `markdown`. */
export class BenchReport {
  readonly dir: string;
  readonly output: Record<string, unknown>;
  readonly markdown: string[];

  constructor(dir: string, run: RunDescription) {
    this.dir = dir;
    const source = gitState();
    this.output = {
      kind: 'realtime-offers-pipeline-bench',
      source,
      startedAt: new Date().toISOString(),
      machine: run.machine,
      messages: run.messages,
      partitions: run.partitions,
      repeats: run.repeats,
    };
    const machine = run.machine;
    this.markdown = [
      `machine: ${machine.cores} cores, ${machine.cpuModel}, ${machine.memoryGiB} GiB, Node ${machine.node}, ${machine.platform}; ` +
        `Kafka, Redis and ClickHouse on the same machine; ${int(run.messages)} messages, ${run.partitions} partitions; median of ${run.repeats} runs; ` +
        `consumer run as ${run.useTsx ? 'TypeScript through tsx' : 'compiled JavaScript'}; ` +
        `source ${source.commit.slice(0, 10)}${source.modified.length > 0 ? ` with ${source.modified.length} modified file(s) under src/` : ''}; ` +
        `"other CPU" is what other processes on the machine used meanwhile (percent of one core)`,
    ];
  }

  get jsonFile(): string {
    return join(this.dir, 'bench.json');
  }

  async save(): Promise<void> {
    await writeFile(this.jsonFile, `${JSON.stringify(this.output, null, 2)}\n`);
    await writeFile(join(this.dir, 'bench.md'), `${this.markdown.join('\n\n')}\n`);
  }
}
