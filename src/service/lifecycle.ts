import { errorMessage } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import type { MembershipStatus } from '../telemetry/metrics.js';

/**
 * Whether the consumer holds its place in the group: joined, and heard from the brokers
 * within the session timeout. Joined once is not enough: a member that heard nothing for a
 * whole session timeout (network cut, brokers down) has lost its partitions to the others.
 */
export class GroupMembership {
  #joined = false;
  readonly #sessionTimeoutMs: number;
  readonly #now: () => number;

  constructor(options: { sessionTimeoutMs: number; now?: () => number }) {
    this.#sessionTimeoutMs = options.sessionTimeoutMs;
    this.#now = options.now ?? Date.now;
  }

  joined(): void {
    this.#joined = true;
  }

  /** The Kafka client restarts itself: it re-joins, and says so. */
  left(): void {
    this.#joined = false;
  }

  /** Whether the member is in its group now, given when the brokers last answered it. */
  status(lastContactMs: number): MembershipStatus {
    const ageMs = this.#now() - lastContactMs;
    return {
      inGroup: this.#joined && ageMs <= this.#sessionTimeoutMs,
      contactAgeSeconds: lastContactMs === 0 ? 0 : ageMs / 1000,
    };
  }
}

/** The steps of a stop, in the order they run. */
export interface StopSteps {
  /** Stops fetching and waits for the batches in flight, which commit as they finish. */
  readonly drain: () => Promise<void>;
  /** Sends what sinks hold back (a ClickHouse insert window), so no write waits for more. */
  readonly flush: () => void;
  /** Closes the clients; their failures are logged, not fatal. */
  readonly close: readonly (() => Promise<unknown>)[];
  /** Last, so the spans of the final batches are exported. */
  readonly flushTelemetry: () => Promise<void>;
}

export interface Shutdown {
  /** True from the first call of `stop`. */
  readonly stopping: boolean;
  /** Resolves with the exit code once stopped, or with 1 when the grace period ran out. */
  readonly stopped: Promise<number>;
  /** Starts the stop (once; later calls return the same promise). */
  stop(reason: string, exitCode?: number): Promise<number>;
}

/**
 * A stop that finishes in-flight work within `graceMs`: exit code 0 (or the one asked for)
 * when it does, 1 when draining failed or the grace period ran out first (the uncommitted
 * batches are redelivered to the next owner).
 */
export function createShutdown(options: {
  readonly graceMs: number;
  readonly logger: Logger;
  readonly steps: StopSteps;
  /** Runs first, e.g. to stop periodic checks. */
  readonly onStopping?: () => void;
}): Shutdown {
  const { logger, steps } = options;
  let resolveStopped: (code: number) => void = () => undefined;
  const stopped = new Promise<number>((resolve) => {
    resolveStopped = resolve;
  });
  let stopping: Promise<number> | undefined;

  const run = async (reason: string, exitCode: number): Promise<number> => {
    options.onStopping?.();
    logger.info({ reason }, 'stopping: finishing in-flight batches');
    let code = exitCode;
    const grace = setTimeout(() => {
      logger.error(
        { graceMs: options.graceMs },
        'shutdown grace period elapsed; exiting with uncommitted batches (they will be redelivered)',
      );
      resolveStopped(1);
    }, options.graceMs);
    grace.unref();
    try {
      await steps.drain();
    } catch (error) {
      logger.error({ err: errorMessage(error) }, 'consumer did not stop cleanly');
      code = 1;
    }
    steps.flush();
    await Promise.allSettled(steps.close.map((close) => close()));
    await steps.flushTelemetry();
    clearTimeout(grace);
    logger.info({ code }, 'stopped');
    resolveStopped(code);
    return code;
  };

  return {
    get stopping() {
      return stopping !== undefined;
    },
    stopped,
    stop(reason, exitCode = 0) {
      stopping ??= run(reason, exitCode);
      return stopping;
    },
  };
}
