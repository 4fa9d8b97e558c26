import type { GeneratorEvent } from './events.js';
import { scalingEvents, type ClusterSample } from './kubernetes/cluster-status.js';
import type { MachineInfo } from './proc-stats.js';
import {
  buildReport,
  type LoadReport,
  type LoadSample,
  type LoadSettings,
  type RunVersions,
} from './report-model.js';
import type { Threshold } from './thresholds.js';

/**
 * Collects the events a generator printed (see events.ts) and, together with the cluster
 * samples recorded meanwhile, builds the same report as local mode.
 */
export class GeneratorLog {
  #start:
    | {
        startedAtMs: number;
        startedAt: string;
        settings: LoadSettings;
        versions: RunVersions;
        machine: MachineInfo;
      }
    | undefined;
  readonly #samples: LoadSample[] = [];
  readonly #latencies: number[] = [];
  readonly #clickhouseLatencies: number[] = [];
  #end: Extract<GeneratorEvent, { loadtest: 'end' }> | undefined;
  readonly #errors: string[] = [];

  accept(event: GeneratorEvent): void {
    switch (event.loadtest) {
      case 'start':
        this.#start = {
          startedAtMs: event.startedAtMs,
          startedAt: event.startedAt,
          settings: event.settings,
          versions: event.versions,
          machine: event.machine,
        };
        return;
      case 'sample':
        this.#samples.push(event.sample);
        this.#latencies.push(...event.latencies);
        this.#clickhouseLatencies.push(...event.clickhouseLatencies);
        return;
      case 'end':
        this.#end = event;
        return;
      case 'error':
        this.#errors.push(event.message);
        return;
    }
  }

  get started(): boolean {
    return this.#start !== undefined;
  }

  get startedAtMs(): number | undefined {
    return this.#start?.startedAtMs;
  }

  /** The generator printed its last event (the end, or an error). */
  get finished(): boolean {
    return this.#end !== undefined || this.#errors.length > 0;
  }

  get errors(): readonly string[] {
    return this.#errors;
  }

  get lastSample(): LoadSample | undefined {
    return this.#samples.at(-1);
  }

  /**
   * The report, or undefined if the generator never started. The samples' replicas are the
   * cluster's ready pods at each sample's time, so that lag and replicas share one chart.
   */
  report(
    cluster: readonly ClusterSample[],
    extra: { readonly image?: string | null; readonly thresholds?: readonly Threshold[] } = {},
  ): LoadReport | undefined {
    const start = this.#start;
    if (start === undefined) return undefined;
    const last = this.#samples.at(-1);
    const empty = { observed: 0, skipped: 0, timedOut: 0, pendingAtEnd: 0 };
    return buildReport({
      startedAt: start.startedAt,
      machine: start.machine,
      settings: start.settings,
      versions: { ...start.versions, image: extra.image ?? start.versions.image },
      samples: this.#samples.map((sample) => ({
        ...sample,
        replicas: readyAt(cluster, start.startedAtMs + sample.t * 1000) ?? sample.replicas,
      })),
      redisLatencies: this.#latencies,
      clickhouseLatencies: this.#clickhouseLatencies,
      probes: this.#end?.probes ?? { redis: empty, clickhouse: null, clickhouseError: null },
      consumerLatencyMs: this.#end?.consumerLatencyMs ?? null,
      productionSeconds: this.#end?.productionSeconds ?? last?.t ?? 0,
      lastSendError: this.#end?.lastSendError ?? null,
      cluster,
      scalingEvents: scalingEvents(cluster),
      thresholds: extra.thresholds ?? [],
    });
  }
}

/** Ready pods of the last cluster sample at or before `atMs`; null before the first. */
export function readyAt(cluster: readonly ClusterSample[], atMs: number): number | null {
  let ready: number | null = null;
  for (const sample of cluster) {
    if (sample.atMs > atMs) break;
    ready = sample.podsReady;
  }
  return ready;
}
