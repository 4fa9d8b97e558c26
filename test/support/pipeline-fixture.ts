import { randomUUID } from 'node:crypto';

import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';

import {
  createKafkaClients,
  type InboundMessage,
  type KafkaClients,
  type TopicAdmin,
} from '../../src/kafka/kafka-adapter.js';
import { migrate } from '../../src/sinks/clickhouse-schema.js';
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
  readonly keyPrefix = `offer-${this.id}:`;
  readonly clickhouse: ClickHouseClient;
  readonly redis: Redis;
  readonly kafka: KafkaClients;
  readonly #infra: InfraEnv;
  #admin: TopicAdmin | undefined;

  constructor(infra: InfraEnv) {
    this.#infra = infra;
    this.clickhouse = createClient({
      url: infra.clickhouseUrl,
      username: infra.clickhouseUser,
      password: infra.clickhousePassword,
    });
    this.redis = new Redis(infra.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 3 });
    // Outage tests stop Redis on purpose; this client reconnects by itself.
    this.redis.on('error', () => undefined);
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
    if (options.createTable !== false) await migrate(this.clickhouse, 'default', this.table);
    await this.redis.connect();
  }

  async tearDown(): Promise<void> {
    await this.#admin?.deleteTopics([this.topic, this.dlqTopic]).catch(() => undefined);
    await this.#admin?.disconnect();
    await this.clickhouse
      .command({ query: `DROP TABLE IF EXISTS default.${this.table}` })
      .catch(() => undefined);
    const keys = await this.redisKeys();
    if (keys.length > 0) await this.redis.del(...keys);
    this.redis.disconnect();
    await this.clickhouse.close();
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
      REDIS_URL: this.#infra.redisUrl,
      REDIS_KEY_PREFIX: this.keyPrefix,
      SINK_RETRY_MAX_MS: '1000',
      CLICKHOUSE_INSERT_WINDOW_MS: '50',
      ...extra,
    };
  }

  async redisKeys(): Promise<string[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.redis.scan(
        cursor,
        'MATCH',
        `${this.keyPrefix}*`,
        'COUNT',
        1000,
      );
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
