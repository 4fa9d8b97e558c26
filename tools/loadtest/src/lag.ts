/** Consumer group lag from the admin API's end offsets and committed offsets. */

export interface GroupPosition {
  /** Per partition, ascending: end offset minus committed offset (never negative). */
  readonly lagByPartition: readonly number[];
  readonly lag: number;
  /** Sum of end offsets: every message the brokers hold for the topic. */
  readonly endTotal: number;
  /** Sum of committed offsets, a partition without a commit counting as 0. */
  readonly committedTotal: number;
}

export function groupPosition(
  ends: ReadonlyMap<number, string>,
  committed: ReadonlyMap<number, string>,
): GroupPosition {
  const partitions = [...ends.keys()].sort((a, b) => a - b);
  const lagByPartition: number[] = [];
  let endTotal = 0;
  let committedTotal = 0;
  for (const partition of partitions) {
    const end = Number(ends.get(partition) ?? 0);
    // "-1" means the group has not committed on this partition yet.
    const done = Math.max(0, Number(committed.get(partition) ?? -1));
    endTotal += end;
    committedTotal += done;
    lagByPartition.push(Math.max(0, end - done));
  }
  return {
    lagByPartition,
    lag: lagByPartition.reduce((sum, value) => sum + value, 0),
    endTotal,
    committedTotal,
  };
}
