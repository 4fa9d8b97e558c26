import type { GeneratorEvent } from './events.js';
import { scalingEvents, type ClusterSample } from './kubernetes/cluster-status.js';
import type { MachineInfo } from './proc-stats.js';
import {
  buildReport,
  type ClickHouseSecond,
  type LoadReport,
  type LoadSample,
  type LoadSettings,
} from './report-model.js';

/**
 * Collects the events a generator printed (see events.ts) and, together with the cluster
 * samples recorded meanwhile, builds the same report as local mode.
 */
export class GeneratorLog {
  #start:
    | { startedAtMs: number; startedAt: string; settings: LoadSettings; machine: MachineInfo }
    | undefined;
  readonly #samples: LoadSample[] = [];
  readonly #latencies: number[] = [];
  readonly #clickhouse: ClickHouseSecond[] = [];
  #end: Extract<GeneratorEvent, { loadtest: 'end' }> | undefined;
  readonly #errors: string[] = [];

  accept(event: GeneratorEvent): void {
    switch (event.loadtest) {
      case 'start':
        this.#start = {
          startedAtMs: event.startedAtMs,
          startedAt: event.startedAt,
          settings: event.settings,
          machine: event.machine,
        };
        return;
      case 'sample':
        this.#samples.push(event.sample);
        this.#latencies.push(...event.latencies);
        return;
      case 'clickhouse':
        this.#clickhouse.push(event.second);
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

  /** The report, or undefined if the generator never started. */
  report(cluster: readonly ClusterSample[]): LoadReport | undefined {
    const start = this.#start;
    if (start === undefined) return undefined;
    const last = this.#samples.at(-1);
    return buildReport({
      startedAt: start.startedAt,
      machine: start.machine,
      settings: start.settings,
      samples: this.#samples,
      redisLatencies: this.#latencies,
      probes: this.#end?.probes ?? { observed: 0, skipped: 0, timedOut: 0, pendingAtEnd: 0 },
      consumerLatencyMs: this.#end?.consumerLatencyMs ?? null,
      productionSeconds: this.#end?.productionSeconds ?? last?.t ?? 0,
      clickhouseLatency: this.#clickhouse,
      clickhouseOverall: this.#end?.clickhouseOverall ?? null,
      cluster,
      scalingEvents: scalingEvents(cluster),
    });
  }
}
