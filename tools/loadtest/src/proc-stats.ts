import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import os from 'node:os';

/**
 * CPU time and memory of local processes from Linux's /proc, so the load test and the
 * benchmark can show which process (consumer, Kafka, ClickHouse, Redis) uses the cores.
 */

export interface CpuTimes {
  /** User plus system time of all threads, in clock ticks. */
  readonly ticks: number;
}

/**
 * Parses /proc/<pid>/stat. The command name (field 2) is in parentheses and may contain
 * spaces and parentheses itself, so fields are counted from the last `)`.
 */
export function parseProcStat(text: string): CpuTimes {
  const end = text.lastIndexOf(')');
  if (end < 0) throw new Error('not a /proc/<pid>/stat line');
  const fields = text
    .slice(end + 2)
    .trim()
    .split(/\s+/);
  // After the name: state is field 3, utime field 14, stime field 15 (proc(5)).
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new Error('/proc/<pid>/stat has no utime/stime');
  }
  return { ticks: utime + stime };
}

export interface MemoryStatus {
  /** Resident set size now, bytes. */
  readonly rssBytes: number;
  /** Peak resident set size ("high water mark"), bytes. */
  readonly hwmBytes: number;
}

/** Parses VmRSS and VmHWM (kB) out of /proc/<pid>/status. */
export function parseProcStatus(text: string): MemoryStatus {
  const kib = (key: string): number => {
    const match = new RegExp(`^${key}:\\s+(\\d+)\\s+kB`, 'm').exec(text);
    return match?.[1] === undefined ? 0 : Number(match[1]) * 1024;
  };
  return { rssBytes: kib('VmRSS'), hwmBytes: kib('VmHWM') };
}

let clockTicks: number | undefined;

/** Clock ticks per second (`getconf CLK_TCK`; 100 on every mainstream Linux). */
export function clockTicksPerSecond(): number {
  if (clockTicks !== undefined) return clockTicks;
  try {
    clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    clockTicks = 100;
  }
  return clockTicks;
}

export async function readCpuTimes(pid: number): Promise<CpuTimes | undefined> {
  try {
    return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

export async function readMemory(pid: number): Promise<MemoryStatus | undefined> {
  try {
    return parseProcStatus(await readFile(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** CPU use of one process between two readings, in percent of one core (200 = two cores). */
export function cpuPercent(
  before: CpuTimes,
  after: CpuTimes,
  elapsedMs: number,
  ticksPerSecond: number,
): number {
  if (elapsedMs <= 0) return 0;
  const seconds = (after.ticks - before.ticks) / ticksPerSecond;
  return Math.max(0, (seconds * 100_000) / elapsedMs);
}

/** Busy (non-idle, non-iowait) ticks of all cores, from the first line of /proc/stat. */
export function parseSystemBusyTicks(text: string): number {
  const line = text.split('\n').find((entry) => entry.startsWith('cpu '));
  if (line === undefined) throw new Error('/proc/stat has no cpu line');
  const fields = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return user + nice + system + irq + softirq + steal;
}

export async function readSystemBusyTicks(): Promise<number | undefined> {
  try {
    return parseSystemBusyTicks(await readFile('/proc/stat', 'utf8'));
  } catch {
    return undefined;
  }
}

export interface ThreadTimes {
  readonly tid: number;
  /** `main` for the process's first thread, else its kernel name (comm). */
  readonly name: string;
  readonly ticks: number;
}

/** CPU time of every thread of a process (/proc/<pid>/task/*), to split JS from native work. */
export async function readThreadTimes(pid: number): Promise<ThreadTimes[]> {
  let tids: string[];
  try {
    tids = await readdir(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const threads = await Promise.all(
    tids.map(async (entry) => {
      const tid = Number(entry);
      try {
        const [stat, comm] = await Promise.all([
          readFile(`/proc/${pid}/task/${entry}/stat`, 'utf8'),
          readFile(`/proc/${pid}/task/${entry}/comm`, 'utf8'),
        ]);
        return { tid, name: tid === pid ? 'main' : comm.trim(), ticks: parseProcStat(stat).ticks };
      } catch {
        // The thread ended between listing and reading.
        return undefined;
      }
    }),
  );
  return threads.filter((thread): thread is ThreadTimes => thread !== undefined);
}

/**
 * Percent of one core per thread name between two readings; threads that share a name (a
 * pool) are added up. Threads that ended in between count with what they had used.
 */
export function threadCpuPercent(
  before: readonly ThreadTimes[],
  after: readonly ThreadTimes[],
  elapsedMs: number,
  ticksPerSecond: number,
): Record<string, number> {
  const start = new Map(before.map((thread) => [thread.tid, thread.ticks]));
  const result: Record<string, number> = {};
  for (const thread of after) {
    const used = thread.ticks - (start.get(thread.tid) ?? 0);
    const percent = cpuPercent({ ticks: 0 }, { ticks: used }, elapsedMs, ticksPerSecond);
    result[thread.name] = (result[thread.name] ?? 0) + percent;
  }
  return result;
}

export interface WatchedProcess {
  readonly name: string;
  readonly pid: number;
}

export interface ProcessReading {
  readonly name: string;
  readonly pid: number;
  /** Percent of one core since the previous reading (undefined on the first). */
  readonly cpuPercent: number | undefined;
  readonly rssBytes: number | undefined;
  readonly hwmBytes: number | undefined;
}

/** Reads CPU and memory of a set of processes each time `read` is called. */
export class ProcessMeter {
  readonly #processes: WatchedProcess[];
  readonly #last = new Map<number, { atMs: number; times: CpuTimes }>();

  constructor(processes: readonly WatchedProcess[]) {
    this.#processes = [...processes];
  }

  add(process: WatchedProcess): void {
    this.#processes.push(process);
  }

  get processes(): readonly WatchedProcess[] {
    return this.#processes;
  }

  async read(): Promise<ProcessReading[]> {
    const ticks = clockTicksPerSecond();
    return Promise.all(
      this.#processes.map(async ({ name, pid }) => {
        const [times, memory] = await Promise.all([readCpuTimes(pid), readMemory(pid)]);
        const atMs = performance.now();
        const previous = this.#last.get(pid);
        if (times !== undefined) this.#last.set(pid, { atMs, times });
        return {
          name,
          pid,
          cpuPercent:
            previous === undefined || times === undefined
              ? undefined
              : cpuPercent(previous.times, times, atMs - previous.atMs, ticks),
          rssBytes: memory?.rssBytes,
          hwmBytes: memory?.hwmBytes,
        };
      }),
    );
  }
}

export interface MachineInfo {
  readonly cores: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly node: string;
  readonly platform: string;
  readonly kernel: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cores: cpus.length,
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
  };
}
