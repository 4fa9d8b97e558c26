import { randomUUID } from 'node:crypto';

import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { Cluster, Redis } from 'ioredis';

import {
  createKafkaClients,
  type InboundMessage,
  type KafkaClients,
  type TopicAdmin,
} from '../../src/kafka/kafka-adapter.js';
import { migrate } from '../../src/sinks/clickhouse-migration.js';
import { localTableName } from '../../src/sinks/clickhouse-schema.js';
import { createLogger } from '../../src/telemetry/logger.js';
import type { InfraEnv } from './infra.js';
import { waitFor } from './service.js';

/**
 * One test's private slice of the shared services: its own topics, consumer group,
 * ClickHouse table and Redis key prefix, all named with a random suffix.
 */
export class PipelineFixture {
  readonly id = randomUUID().replaceAll('-', '').slice(0, 12);
  readonly topic = `registrations-${this.id}`;
  readonly dlqTopic = `${this.topic}.dlq`;
  readonly groupId = `offers-${this.id}`;
  readonly table = `personal_offer_${this.id}`;
  readonly keyPrefix: string;
  /** CLICKHOUSE_CLUSTER of an infra started with INFRA_CLICKHOUSE_MODE=cluster, else empty. */
  readonly clickhouseCluster: string;
  readonly clickhouse: ClickHouseClient;
  readonly kafka: KafkaClients;
  /** The Redis Cluster of infra started with INFRA_REDIS_MODE=cluster, else undefined. */
  readonly cluster: Cluster | undefined;
  readonly #redis: Redis | undefined;
  readonly #infra: InfraEnv;
  #admin: TopicAdmin | undefined;

  /** `keyPrefix`: the start of this fixture's Redis keys, before its id (`offer-` by default). */
  constructor(infra: InfraEnv, options: { keyPrefix?: string } = {}) {
    this.#infra = infra;
    this.keyPrefix = `${options.keyPrefix ?? 'offer-'}${this.id}:`;
    this.clickhouseCluster = infra.vars.CLICKHOUSE_CLUSTER ?? '';
    this.clickhouse = createClient({
      url: infra.clickhouseUrl,
      username: infra.clickhouseUser,
      password: infra.clickhousePassword,
    });
    if (infra.vars.REDIS_MODE === 'cluster') {
      this.cluster = new Cluster(
        infra.redisUrl.split(',').map((url) => {
          const { hostname, port } = new URL(url);
          return { host: hostname, port: Number(port) };
        }),
        // No auto-pipelining: after a failover, a pipeline of reads mixing moved and unmoved
        // slots fails as a whole, while single commands follow their MOVED redirection.
        { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 3 } },
      );
      this.cluster.on('error', () => undefined);
    } else {
      this.#redis = new Redis(infra.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
      // Outage tests stop Redis on purpose; this client reconnects by itself.
      this.#redis.on('error', () => undefined);
    }
    this.kafka = createKafkaClients(
      { brokers: infra.kafkaBrokers, clientId: `test-${this.id}` },
      createLogger('error'),
    );
  }

  /** Creates the topics, and the table unless the consumer is to create it (`createTable: false`). */
  async setUp(partitions: number, options: { createTable?: boolean } = {}): Promise<void> {
    this.#admin = await this.kafka.admin();
    await this.#admin.ensureTopics([
      { name: this.topic, partitions },
      { name: this.dlqTopic, partitions: 1 },
    ]);
    if (options.createTable !== false)
      await migrate(this.clickhouse, {
        database: 'default',
        table: this.table,
        cluster: this.clickhouseCluster,
        ttlDays: 0,
      });
    await (this.cluster ?? this.redis).connect();
  }

  /** The single Redis of the infra (not with INFRA_REDIS_MODE=cluster: see `cluster`). */
  get redis(): Redis {
    if (this.#redis === undefined) throw new Error('this infra runs a Redis Cluster: use cluster');
    return this.#redis;
  }

  /** The values of `keys`, in order (null where there is none), on one Redis or a cluster. */
  async redisValues(keys: readonly string[]): Promise<(string | null)[]> {
    if (keys.length === 0) return [];
    if (this.cluster === undefined) return this.redis.mget(...keys);
    const cluster = this.cluster;
    return Promise.all(keys.map((key) => cluster.get(key)));
  }

  async tearDown(): Promise<void> {
    await this.#admin?.deleteTopics([this.topic, this.dlqTopic]).catch(() => undefined);
    await this.#admin?.disconnect();
    const onCluster =
      this.clickhouseCluster === '' ? '' : ` ON CLUSTER '${this.clickhouseCluster}'`;
    const tables =
      this.clickhouseCluster === '' ? [this.table] : [this.table, localTableName(this.table)];
    for (const table of tables) {
      await this.clickhouse
        .command({ query: `DROP TABLE IF EXISTS default.${table}${onCluster}` })
        .catch(() => undefined);
    }
    try {
      const keys = await this.redisKeys();
      const cluster = this.cluster;
      if (cluster !== undefined) await Promise.all(keys.map((key) => cluster.del(key)));
      else if (keys.length > 0) await this.redis.del(...keys);
    } finally {
      // A client left connected keeps reconnecting, and the test process never exits.
      (this.cluster ?? this.redis).disconnect();
      await this.clickhouse.close();
    }
  }

  /** Environment for the `consume` and `send` commands, pointed at this fixture's slice. */
  env(extra: Record<string, string> = {}): Record<string, string> {
    return {
      KAFKA_BROKERS: this.#infra.kafkaBrokers.join(','),
      KAFKA_TOPIC: this.topic,
      KAFKA_GROUP_ID: this.groupId,
      CLICKHOUSE_URL: this.#infra.clickhouseUrl,
      CLICKHOUSE_USER: this.#infra.clickhouseUser,
      CLICKHOUSE_PASSWORD: this.#infra.clickhousePassword,
      CLICKHOUSE_TABLE: this.table,
      ...(this.clickhouseCluster === '' ? {} : { CLICKHOUSE_CLUSTER: this.clickhouseCluster }),
      REDIS_URL: this.#infra.redisUrl,
      ...(this.cluster === undefined ? {} : { REDIS_MODE: 'cluster' }),
      REDIS_KEY_PREFIX: this.keyPrefix,
      SINK_RETRY_MAX_MS: '1000',
      CLICKHOUSE_INSERT_WINDOW_MS: '50',
      ...extra,
    };
  }

  /** This fixture's keys: on a cluster, those of every primary. */
  async redisKeys(): Promise<string[]> {
    const nodes = this.cluster === undefined ? [this.redis] : this.cluster.nodes('master');
    return (await Promise.all(nodes.map((node) => this.#scan(node)))).flat();
  }

  async #scan(redis: Redis): Promise<string[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${this.keyPrefix}*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  }

  async queryRows<T>(query: string): Promise<T[]> {
    const result = await this.clickhouse.query({ query, format: 'JSONEachRow' });
    return result.json<T>();
  }

  async distinctUsers(): Promise<number> {
    const [row] = await this.queryRows<{ users: string | number }>(
      `SELECT uniqExact(user_id) AS users FROM default.${this.table}`,
    );
    return Number(row?.users ?? 0);
  }

  /** Waits until every partition's committed offset reaches its end offset. */
  async waitCommittedToEnd(timeoutMs = 120_000): Promise<Map<number, string>> {
    const admin = this.#admin;
    if (admin === undefined) throw new Error('setUp first');
    let ends = new Map<number, string>();
    await waitFor(
      'committed offsets at the end of every partition',
      async () => {
        ends = await admin.endOffsets(this.topic);
        const committed = await admin.committedOffsets(this.groupId, this.topic);
        return [...ends].every(([partition, end]) => committed.get(partition) === end);
      },
      timeoutMs,
      250,
    );
    return ends;
  }

  async committedOffsets(): Promise<Map<number, string>> {
    if (this.#admin === undefined) throw new Error('setUp first');
    return this.#admin.committedOffsets(this.groupId, this.topic);
  }

  async endOffsets(topic = this.topic): Promise<Map<number, string>> {
    if (this.#admin === undefined) throw new Error('setUp first');
    return this.#admin.endOffsets(topic);
  }

  /** Reads the whole DLQ topic (from the beginning) until `expected` messages arrived. */
  async readDeadLetters(expected: number, timeoutMs = 60_000): Promise<InboundMessage[]> {
    const received: InboundMessage[] = [];
    const consumer = this.kafka.consumer({
      groupId: `dlq-reader-${this.id}`,
      topic: this.dlqTopic,
      fromBeginning: true,
      partitionsConcurrency: 1,
      maxBytesPerPartition: 1_048_576,
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 1_000,
    });
    await consumer.start(async (batch, context) => {
      received.push(...batch.messages);
      const last = batch.messages.at(-1);
      if (last) await context.commit(last.offset);
    });
    try {
      await waitFor(`${expected} dead letters`, () => received.length >= expected, timeoutMs);
    } finally {
      await consumer.stop();
    }
    return received;
  }
}
