import type { Attributes } from '@opentelemetry/api';

import type { BatchContext } from '../kafka/kafka-adapter.js';
import type { RowOrigin, Sink, SinkName } from '../sinks/sink.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import { ATTR } from '../telemetry/semconv.js';
import type { ChunkObserver } from './chunk-observer.js';
import { writeUntilDone, type RetryContext } from './retry.js';
import type { SinkHealth } from './sink-health.js';

/** One sink's share of a chunk: its rows, and which messages of the chunk they come from. */
export interface SinkWrite {
  readonly name: SinkName;
  readonly rows: number;
  readonly indexes: readonly number[];
  readonly perMessage?: (index: number) => Attributes;
  readonly write: (origin: RowOrigin) => Promise<void>;
}

export function sinkWrite<Row>(
  sink: Sink<Row>,
  rows: readonly Row[],
  indexes: readonly number[],
  perMessage?: (index: number) => Attributes,
): SinkWrite {
  return {
    name: sink.name,
    rows: rows.length,
    indexes,
    ...(perMessage === undefined ? {} : { perMessage }),
    write: (origin) => sink.write(rows, origin),
  };
}

export interface RetrySettings {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly health: SinkHealth;
  readonly metrics: Metrics;
  readonly logger: Logger;
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
  retrying: RetrySettings,
): Promise<void> {
  let givenUp = false;
  const retry: RetryContext = {
    initialMs: retrying.initialMs,
    maxMs: retrying.maxMs,
    health: retrying.health,
    metrics: retrying.metrics,
    logger: retrying.logger.child({ topic: origin.topic, partition: origin.partition }),
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
    .map(({ name, rows, indexes, perMessage, write }) =>
      obs.sinkWrite(name, () => writeUntilDone(name, () => write(origin), retry), {
        name,
        indexes,
        attributes: { [ATTR.dbBatchSize]: rows },
        ...(perMessage === undefined ? {} : { perMessage }),
      }),
    );
  try {
    await Promise.all(pending);
  } catch (error) {
    givenUp = true;
    await Promise.allSettled(pending);
    throw error;
  }
}
