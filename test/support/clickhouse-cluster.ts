// What the ClickHouse cluster tests share: a TCP balancer over the cluster's servers (what a
// Kubernetes Service over the replicas gives the service) that can also swallow responses, and
// the per-node counts of a fixture's replicated local table.
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

import { createClient } from '@clickhouse/client';

import { localTableName } from '../../src/sinks/clickhouse-schema.js';

import type { InfraEnv } from './infra.js';
import type { PipelineFixture } from './pipeline-fixture.js';

/** Every server of the cluster, shard by shard: node N is replica (N-1)%R+1 of shard (N-1)/R+1. */
export interface ClusterNode {
  readonly name: `clickhouse-${number}`;
  readonly url: string;
  readonly shard: number;
  readonly replica: number;
}

export function clusterNodes(infra: InfraEnv): ClusterNode[] {
  const urls = (infra.vars.CLICKHOUSE_NODE_URLS ?? '').split(',').filter((url) => url !== '');
  const replicas = Number(infra.vars.CLICKHOUSE_REPLICAS ?? '0');
  if (urls.length === 0 || !(replicas > 0)) {
    throw new Error(`${infra.dir}/env has no ClickHouse cluster (INFRA_CLICKHOUSE_MODE=cluster)`);
  }
  return urls.map((url, i) => ({
    name: `clickhouse-${i + 1}`,
    url,
    shard: Math.floor(i / replicas) + 1,
    replica: (i % replicas) + 1,
  }));
}

/**
 * A TCP balancer on loopback: each connection goes to the next server, round robin, skipping
 * one that refuses the connection (a killed server), as a Service sends a pod's traffic only to
 * ready endpoints. With `swallowResponses`, requests still reach the server but nothing comes
 * back: the client times out on a request the server carried out.
 */
export class BalancingProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #targets: readonly { host: string; port: number }[];
  #next = 0;
  #swallowing = false;
  /** Bytes of responses dropped while swallowing. */
  swallowedBytes = 0;

  private constructor(urls: readonly string[]) {
    this.#targets = urls.map((url) => {
      const parsed = new URL(url);
      return { host: parsed.hostname, port: Number(parsed.port) };
    });
    this.#server = createServer((client) => {
      this.#sockets.add(client);
      client.on('close', () => this.#sockets.delete(client));
      client.on('error', () => client.destroy());
      client.pause();
      this.#connect(client, 0);
    });
  }

  static async start(urls: readonly string[]): Promise<BalancingProxy> {
    const proxy = new BalancingProxy(urls);
    proxy.#server.listen(0, '127.0.0.1');
    await once(proxy.#server, 'listening');
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  swallowResponses(on: boolean): void {
    this.#swallowing = on;
  }

  /** Closes every open connection (clients reconnect through the balancer). */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.dropConnections();
    this.#server.close();
    await once(this.#server, 'close').catch(() => undefined);
  }

  #connect(client: Socket, attempt: number): void {
    if (attempt >= this.#targets.length) {
      client.destroy();
      return;
    }
    const target = this.#targets[this.#next++ % this.#targets.length];
    if (target === undefined) return;
    const upstream = connect(target);
    this.#sockets.add(upstream);
    let connected = false;
    upstream.on('close', () => {
      this.#sockets.delete(upstream);
      if (connected) client.destroy();
    });
    upstream.once('error', () => {
      upstream.destroy();
      // Refused (the server is down): the next one, as a load balancer skips a dead endpoint.
      if (!connected) this.#connect(client, attempt + 1);
    });
    upstream.once('connect', () => {
      connected = true;
      client.on('data', (chunk: Buffer) => upstream.write(chunk));
      upstream.on('data', (chunk: Buffer) => {
        if (this.#swallowing) this.swallowedBytes += chunk.length;
        else client.write(chunk);
      });
      client.on('close', () => upstream.destroy());
      client.resume();
    });
  }
}

export interface NodeCount {
  readonly node: ClusterNode;
  /** Rows in the node's local table, without FINAL: every insert that was stored. */
  readonly rows: number;
  readonly users: number;
}

/** Waits until every replica has fetched what its shard's other replicas have. */
export async function syncReplicas(infra: InfraEnv, table: string): Promise<void> {
  await Promise.all(
    clusterNodes(infra).map(async (node) => {
      const client = createClient({ url: node.url, request_timeout: 120_000 });
      try {
        await client.command({ query: `SYSTEM SYNC REPLICA default.${table}` });
      } finally {
        await client.close();
      }
    }),
  );
}

function replicasAgree(counts: readonly NodeCount[]): boolean {
  return counts.every((count) =>
    counts
      .filter((other) => other.node.shard === count.node.shard)
      .every((other) => other.rows === count.rows && other.users === count.users),
  );
}

/**
 * Row and user counts of the fixture's local table on every node, once the replicas of each
 * shard agree, or as they are after `timeoutMs`. A replica just restarted may not have queued
 * what its shard's log holds when SYNC REPLICA returns: it is asked again until they agree.
 */
export async function localCounts(
  infra: InfraEnv,
  fixture: PipelineFixture,
  timeoutMs = 60_000,
): Promise<NodeCount[]> {
  const local = localTableName(fixture.table);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await syncReplicas(infra, local);
    const counts = await countOnEveryNode(infra, local);
    if (replicasAgree(counts) || Date.now() > deadline) return counts;
    await sleep(500);
  }
}

async function countOnEveryNode(infra: InfraEnv, local: string): Promise<NodeCount[]> {
  return Promise.all(
    clusterNodes(infra).map(async (node) => {
      const client = createClient({ url: node.url });
      try {
        const result = await client.query({
          query: `SELECT count() AS rows, uniqExact(user_id) AS users FROM default.${local}`,
          format: 'JSONEachRow',
        });
        const [row] = await result.json<{ rows: string | number; users: string | number }>();
        return { node, rows: Number(row?.rows ?? 0), users: Number(row?.users ?? 0) };
      } finally {
        await client.close();
      }
    }),
  );
}

/** What one scenario stored, counted on the cluster. */
export interface ClusterAccounting {
  /** Users expected (valid messages, distinct users). */
  readonly expected: number;
  /** Expected users missing from the Distributed table under FINAL. */
  readonly lost: number;
  /** Rows under FINAL beyond one per user, and users there that were never sent. */
  readonly duplicatesFinal: number;
  readonly unexpected: number;
  /** Rows stored per shard (replica 1), without FINAL: more than its users means a repeated insert. */
  readonly rawRows: number;
  readonly rawDuplicates: number;
  /** Per node: rows in its local table. */
  readonly nodes: readonly NodeCount[];
  /** Replicas of every shard hold the same rows. */
  readonly replicasEqual: boolean;
  /** Every shard holds rows. */
  readonly everyShardUsed: boolean;
}

export async function accountCluster(
  infra: InfraEnv,
  fixture: PipelineFixture,
  expectedUsers: ReadonlySet<number>,
): Promise<ClusterAccounting> {
  const nodes = await localCounts(infra, fixture);
  const rows = await fixture.queryRows<{ user_id: string | number }>(
    `SELECT user_id FROM default.${fixture.table} FINAL`,
  );
  const seen = new Map<number, number>();
  for (const row of rows) {
    const id = Number(row.user_id);
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  let lost = 0;
  for (const id of expectedUsers) if (!seen.has(id)) lost += 1;
  let duplicatesFinal = 0;
  let unexpected = 0;
  for (const [id, count] of seen) {
    duplicatesFinal += count - 1;
    if (!expectedUsers.has(id)) unexpected += 1;
  }
  const shards = new Map<number, NodeCount[]>();
  for (const count of nodes)
    shards.set(count.node.shard, [...(shards.get(count.node.shard) ?? []), count]);
  const replicasEqual = replicasAgree(nodes);
  const firstReplicas = [...shards.values()].map((replicas) => replicas[0]);
  const rawRows = firstReplicas.reduce((sum, count) => sum + (count?.rows ?? 0), 0);
  const rawUsers = firstReplicas.reduce((sum, count) => sum + (count?.users ?? 0), 0);
  return {
    expected: expectedUsers.size,
    lost,
    duplicatesFinal,
    unexpected,
    rawRows,
    rawDuplicates: rawRows - rawUsers,
    nodes,
    replicasEqual,
    everyShardUsed: firstReplicas.every((count) => (count?.rows ?? 0) > 0),
  };
}
