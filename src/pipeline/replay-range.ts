import type { BatchContext, BatchHandler } from '../kafka/kafka-adapter.js';
import { decideFailure } from './failure-policy.js';

/**
 * A replay re-scores the records of a time range: on each partition, the offsets from the
 * first record at or after the range's start (`start`) up to, not including, the first record
 * at or after its end (`stop`), both looked up once when the replay begins. Records appended
 * later are past `stop` and left to the live consumer.
 */
export interface PartitionRange {
  readonly partition: number;
  readonly start: bigint;
  readonly stop: bigint;
}

/**
 * The per-partition ranges from the offsets Kafka gives for the two timestamps (the high
 * watermark where no record is that new). A partition found only in one map (it was added
 * between the two look-ups) has nothing to replay: its range is empty.
 */
export function planReplay(
  starts: ReadonlyMap<number, string>,
  stops: ReadonlyMap<number, string>,
): PartitionRange[] {
  return [...starts]
    .map(([partition, start]) => {
      const first = BigInt(start);
      const end = stops.get(partition);
      // A record appended between the two look-ups may give a stop below the start when the
      // range is empty on this partition.
      const stop = end === undefined ? first : BigInt(end);
      return { partition, start: first, stop: stop < first ? first : stop };
    })
    .sort((a, b) => a.partition - b.partition);
}

/** Where each partition of a replay stands: the offsets below `next` are done. */
export class ReplayProgress {
  readonly ranges: readonly PartitionRange[];
  readonly #next = new Map<number, bigint>();

  constructor(ranges: readonly PartitionRange[]) {
    this.ranges = ranges;
    for (const range of ranges) this.#next.set(range.partition, range.start);
  }

  range(partition: number): PartitionRange | undefined {
    return this.ranges.find((range) => range.partition === partition);
  }

  /** The first offset of `partition` not yet done (its start until something is). */
  next(partition: number): bigint {
    return this.#next.get(partition) ?? 0n;
  }

  /** Records that every offset of `partition` below `next` is done; never moves back. */
  advance(partition: number, next: bigint): void {
    const current = this.#next.get(partition);
    if (current !== undefined && next > current) this.#next.set(partition, next);
  }

  /** True when `partition` has nothing left to replay (or is not part of the replay). */
  isDone(partition: number): boolean {
    const range = this.range(partition);
    return range === undefined || this.next(partition) >= range.stop;
  }

  get complete(): boolean {
    return this.ranges.every((range) => this.isDone(range.partition));
  }

  /** Offsets done and to do in all, for progress lines (control records count as offsets). */
  totals(): { done: number; total: number } {
    let done = 0n;
    let total = 0n;
    for (const { partition, start, stop } of this.ranges) {
      total += stop - start;
      const next = this.next(partition);
      done += (next < stop ? next : stop) - start;
    }
    return { done: Number(done), total: Number(total) };
  }
}

export interface PartitionReplay {
  readonly partition: number;
  /** First offset replayed. */
  readonly start: string;
  /** First offset not replayed (the first record at or after `to`, or the end at start). */
  readonly stop: string;
  readonly scored: number;
  readonly deadLettered: number;
}

/** Counts, per partition, the offers and dead letters every sink acknowledged. */
export class ReplayCounts {
  readonly #scored = new Map<number, number>();
  readonly #deadLettered = new Map<number, number>();

  add(partition: number, scored: number, deadLettered: number): void {
    this.#scored.set(partition, (this.#scored.get(partition) ?? 0) + scored);
    this.#deadLettered.set(partition, (this.#deadLettered.get(partition) ?? 0) + deadLettered);
  }

  of(range: PartitionRange): PartitionReplay {
    return {
      partition: range.partition,
      start: range.start.toString(),
      stop: range.stop.toString(),
      scored: this.#scored.get(range.partition) ?? 0,
      deadLettered: this.#deadLettered.get(range.partition) ?? 0,
    };
  }
}

export interface ReplayControl {
  /** Stops fetching partitions that have nothing left to replay. */
  pausePartitions(partitions: readonly number[]): void;
}

/**
 * Hands `process` only the records of a batch that lie in the replay's range, and commits a
 * partition up to its stop offset once the records before it are done, so that the replay
 * group's committed offsets say where it ended. Batches of finished partitions are left
 * alone, uncommitted: the records past `stop` belong to the live consumer.
 */
export function replayBatchHandler(
  progress: ReplayProgress,
  process: BatchHandler,
  control: ReplayControl,
): BatchHandler {
  return async (batch, context) => {
    const { partition } = batch;
    const range = progress.range(partition);
    if (range === undefined || progress.isDone(partition)) {
      control.pausePartitions([partition]);
      return;
    }
    const cut = batch.messages.findIndex((message) => BigInt(message.offset) >= range.stop);
    const inRange = cut === -1 ? batch.messages : batch.messages.slice(0, cut);
    let committed: string | undefined;
    const tracked: BatchContext = {
      isStale: () => context.isStale(),
      heartbeat: () => context.heartbeat(),
      commit: async (offset) => {
        await context.commit(offset);
        committed = offset;
        progress.advance(partition, BigInt(offset) + 1n);
      },
    };
    if (inRange.length > 0) await process({ ...batch, messages: inRange }, tracked);
    const last = inRange.at(-1);
    // A record at or past `stop` was fetched: what lies between the last record handled and
    // `stop` can only be control records or aborted ones, which Kafka never hands out.
    const reachedStop = cut !== -1 && (last === undefined || committed === last.offset);
    if (reachedStop && progress.next(partition) < range.stop && !context.isStale()) {
      try {
        await tracked.commit((range.stop - 1n).toString());
      } catch (error) {
        // Membership lost: the partition comes back after the re-join, from its commit.
        if (decideFailure(error) !== 'abandon') throw error;
      }
    }
    if (progress.isDone(partition)) control.pausePartitions([partition]);
  };
}
