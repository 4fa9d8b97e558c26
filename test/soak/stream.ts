// The soak's stream from the project's producer: seeded registrations, and newer events of a
// quarter of the users a short way behind their first one, so an older event delivered late
// (a zombie's batch, a redelivery) meets a newer one already stored.
import { planMessages, type PlannedMessage } from '../faults/traffic.js';

/** Every `UPDATE_EVERY`-th user gets a second event. */
const UPDATE_EVERY = 4;

/**
 * `count` first events (users 1..count, one invalid record after every 40: about 2 % of the stream), and a newer event
 * of every fourth user `distance` users after its first one.
 */
export function planStream(count: number, distance: number): PlannedMessage[] {
  const first = planMessages({ count, invalidEvery: 40 });
  const newer = new Map(
    planMessages({ count, seed: 8 }).flatMap((message) =>
      message.expect.kind === 'valid' ? [[message.expect.userId, message] as const] : [],
    ),
  );
  const stream: PlannedMessage[] = [];
  for (const message of first) {
    stream.push(message);
    if (message.expect.kind !== 'valid') continue;
    const updated = message.expect.userId - distance;
    const update = updated >= 1 && updated % UPDATE_EVERY === 0 ? newer.get(updated) : undefined;
    if (update !== undefined) stream.push(update);
  }
  return stream;
}

/** Users whose newest event is not their first. */
export function updatedUsers(stream: readonly PlannedMessage[]): Set<number> {
  const seen = new Set<number>();
  const updated = new Set<number>();
  for (const message of stream) {
    if (message.expect.kind !== 'valid') continue;
    if (seen.has(message.expect.userId)) updated.add(message.expect.userId);
    seen.add(message.expect.userId);
  }
  return updated;
}
