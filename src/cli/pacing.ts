import { setTimeout as sleep } from 'node:timers/promises';

// The one pacing rule of every producer the project runs (the `send` command, the load test's
// generator, the fault suites' producer): a schedule counted from the start, not per batch,
// so slow acknowledgements are caught up later and the average rate holds.

/** How many of `limit` messages are due `elapsedMs` after the start at `rate` a second (0: all). */
export function dueMessages(rate: number, elapsedMs: number, limit: number): number {
  if (rate <= 0) return limit;
  return Math.min(limit, Math.floor((rate * Math.max(0, elapsedMs)) / 1000));
}

/**
 * Waits until the `sent` messages are due on the schedule that began at `startedMs`
 * (`performance.now()`); returns at once when `rate` is 0 (as fast as acknowledged).
 */
export async function keepPace(sent: number, rate: number, startedMs: number): Promise<void> {
  if (rate <= 0) return;
  const waitMs = (sent / rate) * 1000 - (performance.now() - startedMs);
  if (waitMs > 0) await sleep(waitMs);
}
