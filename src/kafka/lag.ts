import type { TopicAdmin } from './types.js';

/** Where a consumer group stands on one partition. */
export interface PartitionPosition {
  readonly partition: number;
  /** The partition's end offset (the next offset to be written). */
  readonly end: number;
  /** The group's committed offset; -1 before its first commit. */
  readonly committed: number;
  /** Messages not yet committed: a partition never committed counts from offset 0. */
  readonly lag: number;
}

/**
 * The group's position on every partition of `topic`, ordered by partition: the same two
 * requests KEDA's Kafka scaler makes (end offsets, committed offsets).
 */
export async function readGroupPositions(
  admin: Pick<TopicAdmin, 'endOffsets' | 'committedOffsets'>,
  groupId: string,
  topic: string,
): Promise<PartitionPosition[]> {
  const [ends, committed] = await Promise.all([
    admin.endOffsets(topic),
    admin.committedOffsets(groupId, topic),
  ]);
  return [...ends]
    .sort(([a], [b]) => a - b)
    .map(([partition, endText]) => {
      const end = Number(endText);
      const done = Number(committed.get(partition) ?? '-1');
      return { partition, end, committed: done, lag: Math.max(0, end - Math.max(0, done)) };
    });
}

export interface GroupPositions {
  read(): Promise<PartitionPosition[]>;
  close(): Promise<void>;
}

/**
 * Reads the group's positions on `topic` through one admin client, connected at the first
 * read and again after a failed one (a broker that went away may be back by the next read).
 */
export function groupPositions(
  connect: () => Promise<TopicAdmin>,
  groupId: string,
  topic: string,
): GroupPositions {
  let admin: Promise<TopicAdmin> | undefined;
  const drop = async (client: Promise<TopicAdmin> | undefined): Promise<void> => {
    await client?.then((connected) => connected.disconnect()).catch(() => undefined);
  };
  return {
    async read() {
      const client = (admin ??= connect());
      try {
        return await readGroupPositions(await client, groupId, topic);
      } catch (error) {
        if (admin === client) admin = undefined;
        void drop(client);
        throw error;
      }
    },
    async close() {
      const client = admin;
      admin = undefined;
      await drop(client);
    },
  };
}
