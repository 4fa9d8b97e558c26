import type { Metrics, SinkName } from '../telemetry/metrics.js';
import type { Logger } from '../telemetry/logger.js';

/**
 * Which sinks are failing right now. While any is down, fetching is paused (batches
 * already fetched keep retrying) and the service reports not-ready.
 */
export class SinkHealth {
  readonly #down = new Map<SinkName, string>();
  readonly #metrics: Metrics;
  readonly #logger: Logger;
  readonly #onAnyDown: () => void;
  readonly #onAllUp: () => void;

  constructor(options: {
    metrics: Metrics;
    logger: Logger;
    onAnyDown: () => void;
    onAllUp: () => void;
  }) {
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#onAnyDown = options.onAnyDown;
    this.#onAllUp = options.onAllUp;
  }

  get healthy(): boolean {
    return this.#down.size === 0;
  }

  /** Sinks currently down, with the last error message of each. */
  get failures(): Readonly<Record<string, string>> {
    return Object.fromEntries(this.#down);
  }

  markDown(sink: SinkName, reason: string): void {
    const wasHealthy = this.healthy;
    if (!this.#down.has(sink))
      this.#logger.warn({ sink, reason }, 'sink is down; pausing consumption');
    this.#down.set(sink, reason);
    this.#metrics.sinkUp.set({ sink }, 0);
    if (wasHealthy) {
      this.#metrics.fetchPaused.set(1);
      this.#onAnyDown();
    }
  }

  markUp(sink: SinkName): void {
    if (!this.#down.delete(sink)) return;
    this.#logger.info({ sink }, 'sink recovered');
    this.#metrics.sinkUp.set({ sink }, 1);
    if (this.healthy) {
      this.#metrics.fetchPaused.set(0);
      this.#onAllUp();
    }
  }
}
