import { setTimeout as sleep } from 'node:timers/promises';

import { errorMessage, OfferError } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import type { SinkName } from '../sinks/sink.js';
import type { Metrics } from '../telemetry/metrics.js';
import { backoffDelay, decideFailure } from './failure-policy.js';
import type { SinkHealth } from './sink-health.js';

export interface RetryContext {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly health: SinkHealth;
  readonly metrics: Metrics;
  readonly logger: Logger;
  /** Called between attempts; throws when the batch must be given up (group rebalancing). */
  readonly checkpoint: () => Promise<void>;
  /** True when the batch must be given up: partition moved, or another write failed fatally. */
  readonly shouldStop: () => boolean;
  /** Told of every retry, e.g. to add it to the messages' traces. */
  readonly onRetry?: (sink: SinkName, attempt: number, delayMs: number, error: unknown) => void;
}

/**
 * Runs one sink write until it succeeds. Retriable failures mark the sink down (pausing
 * consumption) and are tried again with capped exponential backoff, for as long as it
 * takes: nothing is dropped. Other failures are thrown to the caller.
 */
export async function writeUntilDone<T>(
  sink: SinkName,
  write: () => Promise<T>,
  context: RetryContext,
): Promise<T> {
  // Fetching stays paused only while some write waits for a sink, so a write that
  // registered as waiting must deregister however it ends, given up included.
  const registration = { waiting: false };
  try {
    return await attemptUntilDone(sink, write, context, () => {
      if (registration.waiting) return;
      registration.waiting = true;
      context.health.retryStarted();
    });
  } finally {
    if (registration.waiting) context.health.retryEnded();
  }
}

async function attemptUntilDone<T>(
  sink: SinkName,
  write: () => Promise<T>,
  context: RetryContext,
  onWait: () => void,
): Promise<T> {
  for (let attempt = 0; ; attempt += 1) {
    if (context.shouldStop()) {
      throw new OfferError('ABORTED', `${sink} write abandoned`, { retriable: false });
    }
    try {
      const result = await write();
      context.health.markUp(sink);
      return result;
    } catch (error) {
      const action = decideFailure(error);
      context.metrics.sinkErrors.inc({ sink, retriable: String(action === 'retry') });
      if (action !== 'retry') throw error;
      context.health.markDown(sink, errorMessage(error));
      onWait();
      const delayMs = backoffDelay(attempt, context.initialMs, context.maxMs);
      context.logger.warn(
        { sink, attempt: attempt + 1, delayMs, err: errorMessage(error) },
        'sink write failed; retrying',
      );
      context.onRetry?.(sink, attempt + 1, delayMs, error);
      await sleep(delayMs);
      await context.checkpoint();
      context.metrics.sinkRetries.inc({ sink });
    }
  }
}
