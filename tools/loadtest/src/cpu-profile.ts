/**
 * Self time per function from a V8 CPU profile (`node --cpu-prof`), optionally limited to a
 * time window (the measured part of a run, without start-up). The profile samples the
 * JavaScript thread only: native work on other threads (onnxruntime, libuv) is not in it.
 */

export interface CpuProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
    readonly columnNumber?: number;
  };
  readonly children?: readonly number[];
}

export interface CpuProfile {
  readonly nodes: readonly CpuProfileNode[];
  /** µs on the monotonic clock (CLOCK_MONOTONIC, like `process.hrtime`). */
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface SelfTimeEntry {
  /** `name (file:line)`, with the path shortened to the package or repository file. */
  readonly function: string;
  readonly selfMs: number;
  /** Share of the busy time (idle excluded). */
  readonly percent: number;
}

export interface SelfTimeReport {
  readonly windowMs: number;
  readonly busyMs: number;
  readonly idleMs: number;
  readonly top: readonly SelfTimeEntry[];
  /** Self time by package (kafkajs, ioredis, node internals, this repository's src/...). */
  readonly byPackage: readonly SelfTimeEntry[];
}

/** Shortens a script URL to what a reader recognises: `kafkajs/src/...`, `src/...`, `node:...`. */
export function shortLocation(url: string): string {
  if (url === '') return '';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + '/node_modules/'.length);
  // Compiled service code (dist/, or the benchmark's .cache/bench-dist/) reads as dist/.
  const compiled = /\/(?:bench-)?dist\/(.*)$/.exec(url);
  if (compiled?.[1] !== undefined) return `dist/${compiled[1]}`;
  const src = url.search(/\/(src|bench|test)\//);
  if (src >= 0) return url.slice(src + 1);
  return url.replace(/^file:\/\//, '');
}

/** The package a script belongs to: `kafkajs`, `@clickhouse/client-common`, `src/pipeline`. */
export function packageOf(url: string, functionName: string): string {
  if (url === '') {
    // V8's pseudo-frames: (garbage collector), (program), (idle), (root).
    return functionName.startsWith('(') ? functionName : 'native';
  }
  const location = shortLocation(url);
  if (url.startsWith('node:')) return 'node internals';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const parts = location.split('/');
    return parts[0]?.startsWith('@') === true ? `${parts[0]}/${parts[1] ?? ''}` : (parts[0] ?? '?');
  }
  const parts = location.split('/');
  return parts.length > 2 ? `${parts[0] ?? ''}/${parts[1] ?? ''}` : location;
}

export function selfTime(
  profile: CpuProfile,
  options: { readonly fromUs?: number; readonly toUs?: number; readonly limit?: number } = {},
): SelfTimeReport {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const perNode = new Map<number, number>();
  const from = options.fromUs ?? Number.NEGATIVE_INFINITY;
  const to = options.toUs ?? Number.POSITIVE_INFINITY;
  let at = profile.startTime;
  let first: number | undefined;
  let last: number | undefined;
  // Each sample stands for the time until the next one; the last gets the previous delta.
  const deltas = profile.timeDeltas;
  for (let index = 0; index < profile.samples.length; index += 1) {
    at += deltas[index] ?? 0;
    if (at < from || at > to) continue;
    const id = profile.samples[index];
    if (id === undefined) continue;
    const weight = deltas[index + 1] ?? deltas[index] ?? 0;
    perNode.set(id, (perNode.get(id) ?? 0) + weight);
    first ??= at;
    last = at;
  }

  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let idle = 0;
  let busy = 0;
  for (const [id, us] of perNode) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) continue;
    if (frame.functionName === '(idle)') {
      idle += us;
      continue;
    }
    busy += us;
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
    const where = shortLocation(frame.url);
    const key = where === '' ? name : `${name} (${where}:${frame.lineNumber + 1})`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const pkg = packageOf(frame.url, frame.functionName);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + us);
  }
  const entries = (map: Map<string, number>, limit: number): SelfTimeEntry[] =>
    [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([fn, us]) => ({
        function: fn,
        selfMs: us / 1000,
        percent: busy === 0 ? 0 : (us / busy) * 100,
      }));
  return {
    windowMs: first === undefined || last === undefined ? 0 : (last - first) / 1000,
    busyMs: busy / 1000,
    idleMs: idle / 1000,
    top: entries(byFunction, options.limit ?? 10),
    byPackage: entries(byPackage, options.limit ?? 10),
  };
}
