import { setTimeout as sleep } from 'node:timers/promises';

import { errorMessage, OfferError } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';

/**
 * The one start-up policy for every store (Kafka, ClickHouse, Redis): each is tried until it
 * answers or the start-up window (STARTUP_TIMEOUT_MS from the start) closes, with a warning
 * per failed attempt that names the store and the cause. A refusal no retry can change (a
 * wrong password, a missing permission: an OfferError that is not retriable) stops start-up
 * at once. When the window closes, start-up stops naming the store and its last error, so a
 * typo'd address ends in a restart with a reason instead of a pod that is never ready.
 */
export class StartupWindow {
  readonly #deadline: number;
  readonly #timeoutMs: number;
  readonly #logger: Logger;
  readonly #now: () => number;
  readonly #wait: (ms: number) => Promise<unknown>;
  readonly #timeoutHint: (store: string) => string;

  /**
   * `timeoutHint` adds to the message of a store that timed out what else may be in its way
   * (a NetworkPolicy), after the store's last error.
   */
  constructor(
    timeoutMs: number,
    logger: Logger,
    clock: { now?: () => number; wait?: (ms: number) => Promise<unknown> } = {},
    timeoutHint: (store: string) => string = () => '',
  ) {
    this.#now = clock.now ?? Date.now;
    this.#wait = clock.wait ?? sleep;
    this.#timeoutHint = timeoutHint;
    this.#timeoutMs = timeoutMs;
    this.#deadline = this.#now() + timeoutMs;
    this.#logger = logger;
  }

  /** Resolves with what `attempt` gives once it succeeds; rejects as described above. */
  async ready<T>(store: string, attempt: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries += 1) {
      try {
        return await attempt();
      } catch (error) {
        if (error instanceof OfferError && !error.retriable) throw error;
        const remainingMs = this.#deadline - this.#now();
        if (remainingMs <= 0) {
          throw new OfferError(
            'STARTUP_TIMEOUT',
            `${store} was not ready within ${this.#timeoutMs / 1000} s of start (STARTUP_TIMEOUT_MS): ${errorMessage(error)}${this.#timeoutHint(store)}`,
            { retriable: false, cause: error },
          );
        }
        const delayMs = Math.min(remainingMs, Math.min(5_000, 500 * 2 ** Math.min(tries - 1, 4)));
        this.#logger.warn(
          { store, attempt: tries, retryInMs: delayMs, remainingMs, err: errorMessage(error) },
          `${store} not ready at start; retrying`,
        );
        await this.#wait(delayMs);
      }
    }
  }
}

/** One check start-up runs before the service consumes, for one of the parts it awaits. */
export interface StartupCheck {
  readonly part: string;
  readonly check: () => Promise<unknown>;
}

/**
 * Runs the checks in order, each retried within the start-up window; `started(part)` is
 * called once the last check of a part passed.
 */
export async function runStartupChecks(
  window: StartupWindow,
  checks: readonly StartupCheck[],
  started: (part: string) => void,
): Promise<void> {
  for (const [index, { part, check }] of checks.entries()) {
    await window.ready(part, check);
    if (checks.slice(index + 1).every((later) => later.part !== part)) started(part);
  }
}

/** The chart's networkPolicy values that open egress to each store. */
const NETWORK_POLICY_VALUES: Readonly<Record<string, string>> = {
  Kafka: 'networkPolicy.kafka',
  ClickHouse: 'networkPolicy.clickhouse',
  Redis: 'networkPolicy.redis',
};

/**
 * With a NetworkPolicy limiting egress (NETWORK_POLICY_ENABLED), a store on a port it leaves
 * out does not refuse: its packets are dropped and start-up times out. This says so.
 */
export function networkPolicyHint(store: string): string {
  const values = NETWORK_POLICY_VALUES[store] ?? 'networkPolicy';
  return `; a NetworkPolicy limits this pod's egress (NETWORK_POLICY_ENABLED=true): with the chart's, ${store} is reachable only on the ports of ${values}.ports (and the addresses of ${values}.to, when set), so a ${store} on another port times out like this`;
}
