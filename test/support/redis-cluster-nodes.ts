import type { Redis } from 'ioredis';

/** One line of CLUSTER NODES: address, flags and whether it serves slots. */
export interface ClusterNodeLine {
  readonly address: string;
  readonly flags: readonly string[];
  readonly slots: boolean;
}

/** The Redis Cluster's nodes as `via` sees them (CLUSTER NODES). */
export async function clusterNodes(via: Redis): Promise<ClusterNodeLine[]> {
  const text = String(await via.cluster('NODES'));
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const fields = line.split(' ');
      return {
        address: (fields[1] ?? '').split('@')[0] ?? '',
        flags: (fields[2] ?? '').split(','),
        slots: fields.length > 8,
      };
    });
}
