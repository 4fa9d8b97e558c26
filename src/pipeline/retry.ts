import { setTimeout as sleep } from 'node:timers/promises';

import type { ServiceConfig } from '../config/config.js';
import { errorMessage, OfferError } from '../errors.js';
import type { SinkName } from '../sinks/sink.js';
import type { Metrics } from '../telemetry/metrics.js';
import { backoffDelay, decideFailure } from './failure-policy.js';
import type { SinkHealth } from './sink-health.js';

/**
 * How every sink write is retried, built once at wiring: the backoff of SINK_RETRY_* (the
 * config's own shape), the sinks' health that pauses fetching while a write waits, and the
 * counters of failed writes and retries.
 */
export type RetryPolicy = ServiceConfig['sinkRetry'] & {
  readonly health: SinkHealth;
  readonly metrics: Metrics;
};

/** One chunk's side of its writes' retries. */
export interface RetryScope {
  /** Called between attempts; throws when the batch must be given up (group rebalancing). */
  readonly checkpoint: () => Promise<void>;
  /** True when the batch must be given up: partition moved, or another write failed fatally. */
  readonly shouldStop: () => boolean;
  /** Told of every retry before its wait (log line, traces). */
  readonly onRetry: (sink: SinkName, attempt: number, delayMs: number, error: unknown) => void;
}

/**
 * Runs one sink write until it succeeds. Retriable failures mark the sink down (pausing
 * consumption) and are tried again with capped exponential backoff, for as long as it
 * takes: nothing is dropped. Other failures are thrown to the caller.
 */
export async function writeUntilDone<T>(
  sink: SinkName,
  write: () => Promise<T>,
  policy: RetryPolicy,
  scope: RetryScope,
): Promise<T> {
  // Fetching stays paused only while some write waits for a sink, so a write that
  // registered as waiting must deregister however it ends, given up included.
  const registration = { waiting: false };
  try {
    return await attemptUntilDone(sink, write, policy, scope, () => {
      if (registration.waiting) return;
      registration.waiting = true;
      policy.health.retryStarted();
    });
  } finally {
    if (registration.waiting) policy.health.retryEnded();
  }
}

async function attemptUntilDone<T>(
  sink: SinkName,
  write: () => Promise<T>,
  policy: RetryPolicy,
  scope: RetryScope,
  onWait: () => void,
): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    if (scope.shouldStop()) {
      throw new OfferError('ABORTED', `${sink} write abandoned`, { retriable: false });
    }
    try {
      const result = await write();
      policy.health.markUp(sink);
      return result;
    } catch (error) {
      const action = decideFailure(error);
      policy.metrics.sinkErrors.inc({ sink, retriable: String(action === 'retry') });
      if (action !== 'retry') throw error;
      policy.health.markDown(sink, errorMessage(error));
      onWait();
      const delayMs = backoffDelay(attempt, policy.initialMs, policy.maxMs);
      scope.onRetry(sink, attempt + 1, delayMs, error);
      await sleep(delayMs);
      await scope.checkpoint();
      policy.metrics.sinkRetries.inc({ sink });
    }
  }
}
