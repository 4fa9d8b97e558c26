import { randomUUID } from 'node:crypto';

import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { Cluster, Redis } from 'ioredis';
import {
  defaultFirstUserId,
  LoadGenerator,
  servicePids,
  startLocalServices,
  type ServiceEndpoints,
  type WatchedProcess,
} from 'realtime-offers-loadtest';

import {
  createKafkaClients,
  type MessageProducer,
  type TopicAdmin,
} from '../../../../src/kafka/kafka-adapter.js';
import { migrate } from '../../../../src/sinks/clickhouse-migration.js';
import { createLogger } from '../../../../src/telemetry/logger.js';
import { log } from './format.js';
import { INFRA_DIR, PARTITIONS } from './options.js';

/**
 * The benchmark's local services and its clients of them: topics it preloads, and per
 * measurement a fresh consumer group, table and key prefix, removed afterwards.
 */
export class Bench {
  readonly endpoints: ServiceEndpoints;
  readonly admin: TopicAdmin;
  readonly producer: MessageProducer;
  /** The single Redis; with a Redis Cluster, its first node (see `#cluster`). */
  readonly redis: Redis;
  readonly clickhouse: ClickHouseClient;
  readonly services: readonly WatchedProcess[];
  /** The compiled CLI the consumers run; undefined runs the TypeScript source through tsx. */
  readonly compiledCli: string | undefined;
  readonly #cluster: Cluster | undefined;
  readonly #topics: string[] = [];

  private constructor(
    endpoints: ServiceEndpoints,
    admin: TopicAdmin,
    producer: MessageProducer,
    services: readonly WatchedProcess[],
    compiledCli: string | undefined,
  ) {
    this.endpoints = endpoints;
    this.compiledCli = compiledCli;
    this.admin = admin;
    this.producer = producer;
    this.services = services;
    const redisUrls = endpoints.redisUrl.split(',');
    this.redis = new Redis(redisUrls[0] ?? '', { maxRetriesPerRequest: 3 });
    this.#cluster =
      endpoints.redisMode === 'cluster'
        ? new Cluster(
            redisUrls.map((url) => ({
              host: new URL(url).hostname,
              port: Number(new URL(url).port),
            })),
            { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 3 } },
          )
        : undefined;
    this.clickhouse = createClient({
      url: endpoints.clickhouseUrl,
      username: endpoints.clickhouseUser,
      password: endpoints.clickhousePassword,
    });
  }

  static async start(
    compiledCli: string | undefined,
    infraDir: string = INFRA_DIR,
    infraEnv: Readonly<Record<string, string>> = {},
  ): Promise<Bench> {
    log(`local services in ${infraDir}`);
    const endpoints = await startLocalServices(infraDir, infraEnv);
    const kafka = createKafkaClients(
      { brokers: endpoints.kafkaBrokers, clientId: 'pipeline-bench' },
      createLogger('error'),
    );
    const admin = await kafka.admin();
    const producer = kafka.producer();
    await producer.connect();
    return new Bench(endpoints, admin, producer, await servicePids(infraDir), compiledCli);
  }

  async topic(): Promise<string> {
    const name = `bench-${randomUUID().slice(0, 8)}`;
    await this.admin.ensureTopics([
      { name, partitions: PARTITIONS },
      { name: `${name}.dlq`, partitions: 1 },
    ]);
    this.#topics.push(name, `${name}.dlq`);
    return name;
  }

  /** Produces `count` registrations as fast as the broker takes them. */
  async preload(topic: string, count: number): Promise<{ seconds: number; rate: number }> {
    const generator = new LoadGenerator(this.producer, {
      topic,
      rate: 0,
      durationMs: undefined,
      count,
      firstUserId: defaultFirstUserId(Date.now()),
      seed: 42,
      batchSize: 2_000,
      maxInFlight: 8,
    });
    const result = await generator.run();
    const seconds = (result.endedAtMs - result.startedAtMs) / 1000;
    return { seconds, rate: count / seconds };
  }

  /** A fresh group, table and key prefix on `topic`, and the consumer environment for it. */
  async slice(topic: string): Promise<{
    groupId: string;
    table: string;
    keyPrefix: string;
    env: Record<string, string>;
    cleanUp: () => Promise<void>;
  }> {
    const id = randomUUID().replaceAll('-', '').slice(0, 10);
    const groupId = `bench-${id}`;
    const table = `personal_offer_bench_${id}`;
    const keyPrefix = `bench-${id}:`;
    await migrate(this.clickhouse, { database: 'default', table, cluster: '', ttlDays: 0 });
    return {
      groupId,
      table,
      keyPrefix,
      env: {
        KAFKA_BROKERS: this.endpoints.kafkaBrokers.join(','),
        KAFKA_TOPIC: topic,
        KAFKA_GROUP_ID: groupId,
        CLICKHOUSE_URL: this.endpoints.clickhouseUrl,
        CLICKHOUSE_USER: this.endpoints.clickhouseUser,
        CLICKHOUSE_PASSWORD: this.endpoints.clickhousePassword,
        CLICKHOUSE_TABLE: table,
        REDIS_URL: this.endpoints.redisUrl,
        REDIS_MODE: this.endpoints.redisMode,
        REDIS_KEY_PREFIX: keyPrefix,
        LOG_LEVEL: 'warn',
      },
      cleanUp: async () => {
        await this.clickhouse.command({ query: `DROP TABLE IF EXISTS default.${table}` });
        // On a cluster, every primary's keys, one at a time (they are in different slots).
        const nodes = this.#cluster === undefined ? [this.redis] : this.#cluster.nodes('master');
        for (const node of nodes) {
          let cursor = '0';
          do {
            const [next, keys] = await node.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 10_000);
            cursor = next;
            if (keys.length === 0) continue;
            if (this.#cluster === undefined) await node.unlink(...keys);
            else await Promise.all(keys.map((key) => node.unlink(key)));
          } while (cursor !== '0');
        }
      },
    };
  }

  /**
   * INSERT queries the server has run since it started: how often the consumers insert
   * (MergeTree tables want few, large inserts; each one creates a part to merge).
   */
  async insertQueries(): Promise<number> {
    const result = await this.clickhouse.query({
      query: "SELECT value FROM system.events WHERE event = 'InsertQuery'",
      format: 'JSONEachRow',
    });
    const [row] = await result.json<{ value: string | number }>();
    return Number(row?.value ?? 0);
  }

  async close(): Promise<void> {
    await this.admin.deleteTopics(this.#topics).catch(() => undefined);
    await this.producer.disconnect();
    await this.admin.disconnect();
    this.redis.disconnect();
    this.#cluster?.disconnect();
    await this.clickhouse.close();
  }

  /** Connects the cluster client of a Redis Cluster (no-op for a single Redis). */
  async connect(): Promise<void> {
    await this.#cluster?.connect();
  }
}
