import type { BatchContext } from '../kafka/kafka-adapter.js';
import type { RowOrigin, Sink, SinkName } from '../sinks/sink.js';
import type { ChunkObserver } from './chunk-observer.js';
import { writeUntilDone, type RetryPolicy, type RetryScope } from './retry.js';

/** One sink's share of a chunk. */
export interface SinkWrite {
  readonly name: SinkName;
  readonly rows: number;
  /** Writes the rows, watched by `obs`, each attempt through `attempt`. */
  run(
    origin: RowOrigin,
    obs: ChunkObserver,
    attempt: (write: () => Promise<void>) => Promise<void>,
  ): Promise<void>;
}

export function sinkWrite<Row>(sink: Sink<Row>, rows: readonly Row[]): SinkWrite {
  return {
    name: sink.name,
    rows: rows.length,
    run: (origin, obs, attempt) =>
      obs.sinkWrite(sink, rows, () => attempt(() => sink.write(rows, origin))),
  };
}

/**
 * Every sink must acknowledge before the commit: each write is retried while its failure
 * is retriable (fetching paused meanwhile); one that gives up stops the others and leaves
 * the chunk uncommitted.
 */
export async function writeAll(
  writes: readonly SinkWrite[],
  origin: RowOrigin,
  context: BatchContext,
  obs: ChunkObserver,
  policy: RetryPolicy,
): Promise<void> {
  let givenUp = false;
  const scope: RetryScope = {
    checkpoint: () => context.heartbeat(),
    shouldStop: () => givenUp || context.isStale(),
    onRetry: (sink, attempt, delayMs, error) => {
      obs.retried(sink, attempt, delayMs, error);
    },
  };
  // Nothing to write says nothing about a sink: an empty write must not mark a down sink
  // as recovered (which resumed fetching and flapped /readyz during an outage).
  const pending = writes
    .filter(({ rows }) => rows > 0)
    .map((write) =>
      write.run(origin, obs, (attempt) => writeUntilDone(write.name, attempt, policy, scope)),
    );
  try {
    await Promise.all(pending);
  } catch (error) {
    givenUp = true;
    await Promise.allSettled(pending);
    throw error;
  }
}
