// Each consumer's memory through the soak: RSS and V8 heap sampled from its /metrics every
// 10 s, and the slope of a least-squares line over the second half of the run, where a leak
// shows as a steady rise once start-up allocation is over.

/** One sample of one consumer process (a restarted consumer is a new process). */
export interface MemorySample {
  readonly consumer: number;
  /** Which start of that consumer (1 for the first, 2 after its first restart, ...). */
  readonly run: number;
  /** Seconds after the start of the load. */
  readonly atSeconds: number;
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
}

/** Least-squares slope of y over x; 0 with fewer than two distinct x. */
export function slope(points: readonly { readonly x: number; readonly y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const meanX = points.reduce((sum, point) => sum + point.x, 0) / n;
  const meanY = points.reduce((sum, point) => sum + point.y, 0) / n;
  let covariance = 0;
  let variance = 0;
  for (const { x, y } of points) {
    covariance += (x - meanX) * (y - meanY);
    variance += (x - meanX) ** 2;
  }
  return variance === 0 ? 0 : covariance / variance;
}

export interface MemoryTrend {
  readonly consumer: number;
  readonly samples: number;
  /** Of the consumer's samples in the second half of the run. */
  readonly rssSlopeMbPerHour: number;
  readonly heapSlopeMbPerHour: number;
  /**
   * Of the lowest heap of each minute: the level the garbage collector gets back to, which a
   * leak raises, without the sawtooth between collections.
   */
  readonly heapFloorSlopeMbPerHour: number;
  readonly lastRssMb: number;
  readonly lastHeapMb: number;
  readonly maxHeapMb: number;
}

const MB = 1_048_576;

/**
 * Per consumer, the RSS and heap slopes (MB per hour) over the samples of the second half of
 * the run. A consumer restarted in that half is fitted on its longest run there: a restart
 * drops memory to the start-up level, which is not a trend.
 */
export function memoryTrends(
  samples: readonly MemorySample[],
  durationSeconds: number,
): MemoryTrend[] {
  const consumers = [...new Set(samples.map((sample) => sample.consumer))].sort((a, b) => a - b);
  return consumers.map((consumer) => {
    const own = samples.filter((sample) => sample.consumer === consumer);
    const secondHalf = own.filter((sample) => sample.atSeconds >= durationSeconds / 2);
    const byRun = new Map<number, MemorySample[]>();
    for (const sample of secondHalf)
      byRun.set(sample.run, [...(byRun.get(sample.run) ?? []), sample]);
    const longest = [...byRun.values()].sort((a, b) => b.length - a.length)[0] ?? [];
    const perHour = (pick: (sample: MemorySample) => number): number =>
      (slope(longest.map((sample) => ({ x: sample.atSeconds, y: pick(sample) }))) * 3_600) / MB;
    const floors = new Map<number, MemorySample>();
    for (const sample of longest) {
      const minute = Math.floor(sample.atSeconds / 60);
      const lowest = floors.get(minute);
      if (lowest === undefined || sample.heapUsedBytes < lowest.heapUsedBytes)
        floors.set(minute, sample);
    }
    const floorSlope =
      (slope(
        [...floors.values()].map((sample) => ({ x: sample.atSeconds, y: sample.heapUsedBytes })),
      ) *
        3_600) /
      MB;
    const last = own.at(-1);
    return {
      consumer,
      samples: longest.length,
      rssSlopeMbPerHour: perHour((sample) => sample.rssBytes),
      heapSlopeMbPerHour: perHour((sample) => sample.heapUsedBytes),
      heapFloorSlopeMbPerHour: floorSlope,
      lastRssMb: (last?.rssBytes ?? 0) / MB,
      lastHeapMb: (last?.heapUsedBytes ?? 0) / MB,
      maxHeapMb: Math.max(0, ...own.map((sample) => sample.heapUsedBytes)) / MB,
    };
  });
}

/** The value of an unlabelled Prometheus sample in a /metrics text, if present. */
export function metricValue(text: string, name: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

/**
 * One sample from a consumer's /metrics (prom-client's default process and Node metrics), or
 * undefined when it does not answer within `timeoutMs` (stopped, restarting, or frozen).
 */
export async function sampleMemory(
  httpPort: number,
  timeoutMs = 2_000,
): Promise<{ rssBytes: number; heapUsedBytes: number } | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`, {
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    const rssBytes = metricValue(text, 'process_resident_memory_bytes');
    const heapUsedBytes = metricValue(text, 'nodejs_heap_size_used_bytes');
    if (rssBytes === undefined || heapUsedBytes === undefined) return undefined;
    return { rssBytes, heapUsedBytes };
  } catch {
    return undefined;
  }
}

/** The memory table of the report (Markdown). */
export function renderMemory(trends: readonly MemoryTrend[]): string {
  const header =
    '| consumer | samples fitted | RSS slope MB/h | heap slope MB/h | heap floor slope MB/h | last RSS MB | last heap MB | max heap MB |';
  const lines = trends.map(
    (trend) =>
      `| ${trend.consumer} | ${trend.samples} | ${trend.rssSlopeMbPerHour.toFixed(1)} | ${trend.heapSlopeMbPerHour.toFixed(1)} | ${trend.heapFloorSlopeMbPerHour.toFixed(1)} | ${trend.lastRssMb.toFixed(0)} | ${trend.lastHeapMb.toFixed(1)} | ${trend.maxHeapMb.toFixed(1)} |`,
  );
  return [header, `|${' --- |'.repeat(8)}`, ...lines].join('\n');
}
