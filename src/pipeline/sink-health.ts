import type { SinkName } from '../sinks/sink.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Logger } from '../telemetry/logger.js';

/**
 * Which sinks are failing right now. While any is down and a batch is retrying it, fetching
 * is paused (the retrying batches keep probing the sink) and the service reports not-ready.
 *
 * A sink stays down until a write succeeds, but fetching is paused only while some retry
 * loop is waiting: when every such loop was given up (the group rebalanced, the partition
 * moved), nothing would ever probe the sink again, so fetching resumes and the redelivered
 * batches probe it, pausing again if it is still down.
 */
export class SinkHealth {
  readonly #down = new Map<SinkName, string>();
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #onPause: () => void;
  readonly #onResume: () => void;
  #retrying = 0;
  #paused = false;

  constructor(options: {
    metrics: Metrics;
    logger: Logger;
    onPause: () => void;
    onResume: () => void;
  }) {
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#onPause = options.onPause;
    this.#onResume = options.onResume;
  }

  get healthy(): boolean {
    return this.#down.size === 0;
  }

  /** True while fetching is paused. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Sinks currently down, with the last error message of each. */
  get failures(): Readonly<Record<string, string>> {
    return Object.fromEntries(this.#down);
  }

  markDown(sink: SinkName, reason: string): void {
    if (!this.#down.has(sink))
      this.#logger.warn({ sink, reason }, 'sink is down; pausing consumption');
    this.#down.set(sink, reason);
    this.#metrics.sinkUp.set({ sink }, 0);
    this.#update();
  }

  markUp(sink: SinkName): void {
    if (!this.#down.delete(sink)) return;
    this.#logger.info({ sink }, 'sink recovered');
    this.#metrics.sinkUp.set({ sink }, 1);
    this.#update();
  }

  /** A write started waiting for a sink to come back. */
  retryStarted(): void {
    this.#retrying += 1;
    this.#update();
  }

  /** A waiting write ended: it succeeded, or its batch was given up. */
  retryEnded(): void {
    this.#retrying = Math.max(0, this.#retrying - 1);
    this.#update();
  }

  #update(): void {
    const pause = this.#down.size > 0 && this.#retrying > 0;
    if (pause === this.#paused) return;
    this.#paused = pause;
    this.#metrics.fetchPaused.set(pause ? 1 : 0);
    if (pause) {
      this.#onPause();
    } else {
      if (this.#down.size > 0) {
        this.#logger.info(
          { sinks: [...this.#down.keys()] },
          'no write is waiting for the failed sinks; fetching resumes so that redelivered batches probe them',
        );
      }
      this.#onResume();
    }
  }
}
