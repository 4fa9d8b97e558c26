import type { ReadinessReport } from '../http/server.js';

/** What the running pipeline's readiness is made of. */
export interface PipelineState {
  /** The consumer holds its place in its group. */
  readonly inGroup: () => boolean;
  readonly redisConnected: () => boolean;
  /** True while every sink accepts writes, else each failing sink's last error. */
  readonly sinks: () => true | Readonly<Record<string, string>>;
  readonly stopping: () => boolean;
}

/**
 * `/readyz`'s report: during start-up, the parts not answered yet (each awaited); once the
 * pipeline runs, its checks (in the group, Redis connected, every sink up, not stopping).
 */
export class Readiness {
  readonly #awaiting: Set<string>;
  #running: PipelineState | undefined;
  #model: ReadinessReport['model'];

  constructor(parts: readonly string[]) {
    this.#awaiting = new Set(parts);
  }

  /** A part start-up awaited has answered. */
  started(part: string): void {
    this.#awaiting.delete(part);
  }

  /** The model is loaded: `/readyz` names it from now on. */
  modelLoaded(model: { readonly version: string; readonly sha256: string }): void {
    this.#model = { version: model.version, sha256: model.sha256 };
    this.started('model');
  }

  /** Start-up is done: readiness from now on is the pipeline's. */
  running(state: PipelineState): void {
    this.#running = state;
  }

  report(): ReadinessReport {
    const state = this.#running;
    if (state === undefined) {
      const awaiting = [...this.#awaiting];
      return {
        ready: false,
        ...(this.#model === undefined ? {} : { model: this.#model }),
        awaiting,
        checks: Object.fromEntries(awaiting.map((part) => [part, 'awaited at start-up'])),
      };
    }
    const inGroup = state.inGroup();
    const redisConnected = state.redisConnected();
    const sinks = state.sinks();
    const stopping = state.stopping();
    return {
      ready: inGroup && redisConnected && sinks === true && !stopping,
      ...(this.#model === undefined ? {} : { model: this.#model }),
      checks: {
        model: true,
        consumer_in_group: inGroup,
        redis_connected: redisConnected,
        sinks,
        stopping,
      },
    };
  }
}
