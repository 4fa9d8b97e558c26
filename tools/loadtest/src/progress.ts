import type { LoadSample } from './report-model.js';

/** The live progress line: one line per second, rewritten in place on a terminal. */
export function progressLine(sample: LoadSample, extra = ''): string {
  const n = (value: number | null): string =>
    value === null ? '–' : Math.round(value).toLocaleString('en-US');
  const p99 = sample.redisLatencyMs?.p99 ?? sample.consumerLatencyMs?.p99 ?? null;
  const consumers = sample.processes.filter((process) => process.name.startsWith('consumer'));
  const cpu = consumers.reduce((sum, process) => sum + (process.cpuPercent ?? 0), 0);
  const rss = consumers.reduce((max, process) => Math.max(max, process.rssMb ?? 0), 0);
  return [
    `${sample.t.toFixed(0).padStart(4)} s`,
    `rate ${n(sample.produceRate)}/s`,
    `sent ${n(sample.produced)}`,
    `consumed ${n(sample.committed)} (${n(sample.commitRate)}/s)`,
    `lag ${n(sample.lag)}`,
    `p99 ${p99 === null ? '–' : `${Math.round(p99)} ms`}`,
    ...(consumers.length === 0
      ? []
      : [`consumer CPU ${Math.round(cpu)} % RSS ${Math.round(rss)} MB`]),
    ...(extra === '' ? [] : [extra]),
  ].join(' | ');
}

/** Writes progress lines to a stream: in place on a TTY, every `everySeconds` otherwise. */
export class ProgressWriter {
  readonly #stream: NodeJS.WriteStream;
  readonly #everySeconds: number;
  #lastPrinted = Number.NEGATIVE_INFINITY;
  #open = false;

  constructor(stream: NodeJS.WriteStream, everySeconds = 5) {
    this.#stream = stream;
    this.#everySeconds = everySeconds;
  }

  update(line: string, t: number): void {
    if (this.#stream.isTTY) {
      this.#stream.write(`\r\x1b[2K${line}`);
      this.#open = true;
      return;
    }
    if (t - this.#lastPrinted >= this.#everySeconds) {
      this.#stream.write(`${line}\n`);
      this.#lastPrinted = t;
    }
  }

  done(): void {
    if (this.#open) this.#stream.write('\n');
    this.#open = false;
  }
}
