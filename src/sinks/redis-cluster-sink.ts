import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis, type ClusterOptions } from 'ioredis';

import type { TlsFiles } from '../config/config.js';
import { errorMessage, OfferError } from '../errors.js';
import type { StoredOffer } from './offer-record.js';
import {
  appendOfferArgs,
  connectAttempt,
  KEYS_PER_CALL,
  PUT_OFFERS_SCRIPT,
  redisOfferSpan,
  redisTlsOptions,
  toRedisFailure,
  type OfferCommands,
  type RedisSinkOptions,
} from './redis-sink.js';
import type { Sink, SinkSpan } from './sink.js';

// Key layout on a Redis Cluster: the same keys as on one Redis, `<prefix><user_id>`, with no
// hash tag, so `GET <prefix><user_id>` (redis-cli -c, any cluster client) finds an offer
// without knowing anything else, and the keys spread over every slot and so every primary.
// A hash tag shared by many keys would let one script call carry more of them, but it would
// either pile every offer onto one node or make each reader compute the tag.

export interface RedisClusterSinkOptions extends RedisSinkOptions {
  /**
   * Replicas of the written node that must have each write before it counts (WAIT); 0 does
   * not wait. With 1, an acknowledged offer survives its primary failing over to a replica.
   */
  readonly waitReplicas: number;
  /**
   * The node URLs the client starts from (REDIS_URL). When it cannot connect, the first one
   * is asked directly why: the client's slot-map connections report no reason (a TLS
   * refusal among them).
   */
  readonly nodes?: readonly string[];
}

/** How long one node's WAIT may take before the write is retried (well below commandTimeout). */
export const WAIT_TIMEOUT_MS = 2_000;

/**
 * A Redis Cluster client from the URLs of some of its nodes (it discovers the rest); the
 * scheme, user and password of the first URL apply to every node (the config checks that
 * they agree), and so do the TLS files with rediss:// URLs.
 */
export function createRedisClusterClient(
  urls: readonly string[],
  options: { readonly tls?: TlsFiles; readonly overrides?: Partial<ClusterOptions> } = {},
): Cluster {
  const tls = options.tls === undefined ? {} : redisTlsOptions(options.tls);
  const parsed = urls.map((url) => new URL(url));
  const [first] = parsed;
  if (first === undefined) throw new Error('a Redis Cluster needs at least one node URL');
  return new Cluster(
    parsed.map((url) => ({ host: url.hostname, port: Number(url.port === '' ? 6379 : url.port) })),
    {
      lazyConnect: true,
      // While the cluster is not ready, fail commands at once instead of queueing them: the
      // pipeline retries with backoff and pauses consumption, as with one Redis.
      enableOfflineQueue: false,
      scaleReads: 'master',
      // Picks up a replica promoted by a failover even when no command was redirected yet.
      slotsRefreshInterval: 5_000,
      slotsRefreshTimeout: 5_000,
      clusterRetryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
      // TLS certificates name hosts: connect to a node by the name it was given, not by an
      // address the client looked up for it (ioredis resolves names by default, and a
      // certificate for `clustercfg.example.com` does not list the address). Nodes the
      // cluster announces by address are reached by that address either way.
      ...(first.protocol === 'rediss:'
        ? {
            dnsLookup: (address: string, callback: (error: null, address: string) => void) => {
              callback(null, address);
            },
          }
        : {}),
      redisOptions: {
        ...(first.username === '' ? {} : { username: decodeURIComponent(first.username) }),
        ...(first.password === '' ? {} : { password: decodeURIComponent(first.password) }),
        ...(first.protocol === 'rediss:' ? { tls } : {}),
        maxRetriesPerRequest: 0,
        commandTimeout: 10_000,
        connectTimeout: 5_000,
      },
      ...options.overrides,
    },
  );
}

interface SlotGroup {
  readonly keys: string[];
  readonly records: StoredOffer[];
}

/**
 * Writes offers to a Redis Cluster: the offers of a batch are grouped by hash slot (the
 * version-guarded script of the single-node sink, once per slot, since one call's keys must
 * share a slot) and the slots by the nodes that serve them, one pipeline per node, all nodes
 * at once. A redirection (MOVED, ASK), a slot in migration (TRYAGAIN), a cluster that is down
 * (CLUSTERDOWN) or a node that is gone fails the write as retriable: the pipeline backs off
 * with consumption paused, and the next attempt groups by the refreshed slot map.
 */
export class RedisClusterOfferSink implements Sink<StoredOffer> {
  readonly name = 'redis';
  readonly span: SinkSpan<StoredOffer>;
  readonly #cluster: Cluster;
  readonly #options: RedisClusterSinkOptions;
  #lastConnectionError: unknown;
  #lastNodeError: unknown;

  constructor(cluster: Cluster, options: RedisClusterSinkOptions) {
    this.#cluster = cluster;
    this.#options = options;
    this.span = redisOfferSpan((userId) => this.keyOf(userId));
    cluster.on('error', (error: unknown) => {
      this.#lastConnectionError = error;
    });
    // Why a node refused, e.g. "ERR This instance has cluster support disabled" when the
    // URL is one Redis, not a cluster: the cluster's own error only says no node answered.
    cluster.on('node error', (error: unknown, node: string) => {
      // The node's address in front, the error's code (a TLS refusal's) kept.
      this.#lastNodeError = Object.assign(new Error(`${node}: ${errorMessage(error)}`), {
        code: (error as { code?: unknown } | null)?.code,
      });
    });
    cluster.defineCommand('putOffers', { lua: PUT_OFFERS_SCRIPT });
  }

  keyOf(userId: number): string {
    return `${this.#options.keyPrefix}${userId}`;
  }

  get ready(): boolean {
    return this.#cluster.status === 'ready';
  }

  async close(): Promise<void> {
    await this.#cluster.quit();
  }

  /** One start-up attempt (connect, load the slot map); see connectAttempt for what is final. */
  async healthcheck(): Promise<void> {
    await connectAttempt(
      this.#cluster,
      'cluster connection',
      () => [this.#lastConnectionError, this.#lastNodeError],
      {
        // A single Redis at the address: no retry makes it a cluster (REDIS_MODE is wrong).
        final: (cause) => cause.includes('cluster support disabled'),
        diagnose: () => this.#seedError(),
      },
    );
  }

  /** What the first seed node says to a connection of its own, with the cluster's options. */
  async #seedError(): Promise<unknown> {
    const [seed] = this.#options.nodes ?? [];
    if (seed === undefined) return undefined;
    const { hostname, port } = new URL(seed);
    const probe = new Redis({
      ...this.#cluster.options.redisOptions,
      host: hostname,
      port: port === '' ? 6379 : Number(port),
      lazyConnect: true,
      enableReadyCheck: false,
      retryStrategy: () => null,
    });
    let failure: unknown;
    probe.on('error', (error: unknown) => {
      failure ??= error;
    });
    try {
      await probe.connect();
    } catch (error) {
      failure ??= error;
    } finally {
      probe.disconnect();
    }
    return failure;
  }

  async write(records: readonly StoredOffer[]): Promise<void> {
    await this.put(records);
  }

  /** Writes the offers; resolves with how many keys were written (older events are skipped). */
  async put(records: readonly StoredOffer[]): Promise<number> {
    if (records.length === 0) return 0;
    try {
      const written = await Promise.all(
        [...this.#groupByNode(records).values()].map((slots) => this.#writeNode(slots)),
      );
      return written.reduce((sum, count) => sum + count, 0);
    } catch (error) {
      // A failover or a resharding moved slots: the next attempt groups by the new map.
      this.#cluster.refreshSlotsCache();
      throw toRedisFailure(error, 'cluster offer write');
    }
  }

  /**
   * Slot groups per node, as ioredis routes a pipeline: by the set of nodes serving the slot
   * in its current map (a slot it has no node for yet goes to a group of its own).
   */
  #groupByNode(records: readonly StoredOffer[]): Map<string, Map<number, SlotGroup>> {
    const bySlot = new Map<number, SlotGroup>();
    for (const record of records) {
      const key = this.keyOf(record.userId);
      const slot = calculateSlot(key);
      let group = bySlot.get(slot);
      if (group === undefined) {
        group = { keys: [], records: [] };
        bySlot.set(slot, group);
      }
      group.keys.push(key);
      group.records.push(record);
    }
    const byNode = new Map<string, Map<number, SlotGroup>>();
    for (const [slot, group] of bySlot) {
      const node = this.#cluster.slots[slot]?.join(';') ?? `unmapped:${slot}`;
      let slots = byNode.get(node);
      if (slots === undefined) {
        slots = new Map();
        byNode.set(node, slots);
      }
      slots.set(slot, group);
    }
    return byNode;
  }

  async #writeNode(slots: ReadonlyMap<number, SlotGroup>): Promise<number> {
    const pipeline = this.#cluster.pipeline();
    const commands = pipeline as unknown as OfferCommands;
    for (const { keys, records } of slots.values()) {
      for (let start = 0; start < keys.length; start += KEYS_PER_CALL) {
        const end = Math.min(start + KEYS_PER_CALL, keys.length);
        const args: (string | number)[] = keys.slice(start, end);
        appendOfferArgs(args, records.slice(start, end), this.#options.ttlSeconds);
        commands.putOffers(end - start, ...args);
      }
    }
    const waiting = this.#options.waitReplicas > 0;
    if (waiting) pipeline.wait(this.#options.waitReplicas, WAIT_TIMEOUT_MS);
    const replies = await pipeline.exec();
    if (replies === null) throw new Error('pipeline was discarded');
    let written = 0;
    for (const [index, [error, reply]] of replies.entries()) {
      if (error) throw error;
      if (waiting && index === replies.length - 1) {
        const acknowledged = Number(reply);
        if (acknowledged < this.#options.waitReplicas) {
          throw new OfferError(
            'REDIS_FAILED',
            `Redis Cluster write reached ${acknowledged} of ${this.#options.waitReplicas} replicas within ${WAIT_TIMEOUT_MS} ms (REDIS_WAIT_REPLICAS)`,
            { retriable: true },
          );
        }
        continue;
      }
      written += Number(reply);
    }
    return written;
  }
}
