import type { MachineInfo } from './proc-stats.js';
import type { Probes } from './load-summary.js';
import type { LoadSample, LoadSettings, RunVersions } from './report-model.js';
import type { HistogramWindow } from './metrics-scraper.js';

/**
 * What `--mode generate` prints on stdout, one JSON object per line, so that the process
 * that started it as a Kubernetes Job rebuilds the report from the pod's log. Each line is
 * small (one second of data), well below the container runtimes' 16 KiB line split.
 */
export type GeneratorEvent =
  | {
      readonly loadtest: 'start';
      readonly startedAtMs: number;
      readonly startedAt: string;
      readonly settings: LoadSettings;
      readonly versions: RunVersions;
      readonly machine: MachineInfo;
    }
  | {
      readonly loadtest: 'sample';
      readonly sample: LoadSample;
      /** The raw Redis probe latencies (ms) of this interval, for the overall percentiles. */
      readonly latencies: readonly number[];
      /** The same for ClickHouse. */
      readonly clickhouseLatencies: readonly number[];
    }
  | {
      readonly loadtest: 'end';
      readonly productionSeconds: number;
      readonly probes: Probes;
      readonly consumerLatencyMs: HistogramWindow | null;
      readonly lastSendError: string | null;
    }
  | { readonly loadtest: 'error'; readonly message: string };

const KINDS = new Set(['start', 'sample', 'end', 'error']);

export function formatEvent(event: GeneratorEvent): string {
  return JSON.stringify(event);
}

/** The event on one log line, or undefined for any other line (progress, warnings). */
export function parseEvent(line: string): GeneratorEvent | undefined {
  const text = line.trim();
  if (!text.startsWith('{"loadtest":')) return undefined;
  try {
    const value = JSON.parse(text) as { loadtest?: unknown };
    return typeof value.loadtest === 'string' && KINDS.has(value.loadtest)
      ? (value as GeneratorEvent)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Splits a stream of text chunks into whole lines. */
export class LineSplitter {
  #rest = '';

  push(chunk: string): string[] {
    const text = this.#rest + chunk;
    const lines = text.split('\n');
    this.#rest = lines.pop() ?? '';
    return lines;
  }

  end(): string[] {
    const rest = this.#rest;
    this.#rest = '';
    return rest === '' ? [] : [rest];
  }
}
