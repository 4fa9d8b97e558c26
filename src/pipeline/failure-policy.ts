import { OfferError } from '../errors.js';

/**
 * The one place that decides what a failure means for the message batch at hand:
 * - `retry`: wait with backoff and try the same write again (consumption is paused);
 * - `abandon`: stop working on the batch without committing it; it is redelivered (its
 *   partition moved, or the group no longer accepts this member);
 * - `redeliver`: an unexpected failure (a bug, a scoring error): hand it back to the Kafka
 *   client, which re-joins or restarts; nothing was committed, so the batch comes again;
 * - `fatal`: no retry can help; the process stops uncommitted and exits non-zero.
 * Invalid input never reaches this policy: the decoder dead-letters it.
 */
export type FailureAction = 'retry' | 'abandon' | 'redeliver' | 'fatal';

export function decideFailure(error: unknown): FailureAction {
  if (!(error instanceof OfferError)) return 'redeliver';
  if (error.code === 'ABORTED') return 'abandon';
  return error.retriable ? 'retry' : 'fatal';
}

/** Capped exponential backoff with jitter in the upper half, so replicas do not retry in step. */
export function backoffDelay(
  attempt: number,
  initialMs: number,
  maxMs: number,
  random = Math.random,
): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
