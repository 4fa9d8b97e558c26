import {
  Kafka,
  logLevel as KafkaLogLevel,
  Partitioners,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type LogEntry,
  type Producer,
  type SASLOptions,
} from 'kafkajs';

import type { Logger } from '../telemetry/logger.js';

/**
 * Every kafkajs call of the service lives in this file. kafkajs is no longer maintained;
 * replacing it means re-implementing these small interfaces, nothing else.
 */

export interface InboundMessage {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly offset: string;
  /** Kafka message timestamp (CreateTime or LogAppendTime), ms since the epoch. */
  readonly timestampMs: number;
  readonly headers: Readonly<Record<string, Buffer | undefined>>;
}

export interface InboundBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly InboundMessage[];
}

export interface BatchContext {
  /** True once a seek moved this partition: the batch must not be committed. */
  isStale(): boolean;
  /**
   * Keeps the group membership alive during long work. Throws when the group is
   * rebalancing: the partition may be gone, so the caller abandons the batch uncommitted.
   */
  heartbeat(): Promise<void>;
  /** Marks every message up to and including `offset` as done and commits that position. */
  commit(offset: string): Promise<void>;
}

export type BatchHandler = (batch: InboundBatch, context: BatchContext) => Promise<void>;

export interface OutboundMessage {
  readonly key: Buffer | string | null;
  readonly value: Buffer | string | null;
  readonly headers?: Readonly<Record<string, Buffer | string>>;
}

export interface ConsumerOptions {
  readonly groupId: string;
  readonly topic: string;
  readonly fromBeginning: boolean;
  readonly partitionsConcurrency: number;
  readonly maxBytesPerPartition: number;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
}

export interface ConsumerEvents {
  /** The consumer failed; `willRestart` false means it stopped for good. */
  onCrash?: (error: Error, willRestart: boolean) => void;
  onGroupJoin?: (memberId: string, partitions: readonly number[]) => void;
  onRebalancing?: () => void;
}

export interface RegistrationConsumer {
  start(handler: BatchHandler): Promise<void>;
  /** Stops fetching new batches of the topic; batches already handed out continue. */
  pauseFetching(): void;
  resumeFetching(): void;
  /** Stops fetching, waits for in-flight batches to finish, leaves the group. */
  stop(): Promise<void>;
}

export interface MessageProducer {
  connect(): Promise<void>;
  /** Resolves once every message is acknowledged by all in-sync replicas. */
  send(topic: string, messages: readonly OutboundMessage[]): Promise<void>;
  disconnect(): Promise<void>;
}

export interface TopicAdmin {
  /**
   * Creates the topics that do not exist yet, with optional topic configs (such as
   * `max.message.bytes`); existing topics are left as they are.
   */
  ensureTopics(
    topics: readonly {
      name: string;
      partitions: number;
      config?: Readonly<Record<string, string>>;
    }[],
  ): Promise<void>;
  /** The names among `names` that are not topics of the cluster. */
  missingTopics(names: readonly string[]): Promise<string[]>;
  deleteTopics(names: readonly string[]): Promise<void>;
  /** Next offset to read per partition (the high watermark). */
  endOffsets(topic: string): Promise<Map<number, string>>;
  /** Committed offset per partition for a group; "-1" where nothing is committed. */
  committedOffsets(groupId: string, topic: string): Promise<Map<number, string>>;
  disconnect(): Promise<void>;
}

export interface KafkaClients {
  consumer(options: ConsumerOptions, events?: ConsumerEvents): RegistrationConsumer;
  producer(): MessageProducer;
  admin(): Promise<TopicAdmin>;
}

const LOG_METHODS: Readonly<Record<number, 'error' | 'warn' | 'info' | 'debug'>> = {
  [KafkaLogLevel.ERROR]: 'error',
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'info',
  [KafkaLogLevel.DEBUG]: 'debug',
};

/**
 * True when the broker refused a request in a way no retry can change: the deepest kafkajs
 * protocol error in the cause chain is not retriable (TOPIC_AUTHORIZATION_FAILED,
 * MESSAGE_TOO_LARGE, ...). kafkajs wraps retriable errors it gave up on (a deleted topic's
 * UNKNOWN_TOPIC_OR_PARTITION, a broker that is down) in a "non-retriable" error too, so the
 * outer flag alone says nothing.
 */
export function isPermanentKafkaError(error: unknown): boolean {
  let current: unknown = error;
  let protocol: { retriable?: unknown } | undefined;
  for (let depth = 0; depth < 10 && current instanceof Error; depth += 1) {
    if (current.name === 'KafkaJSProtocolError') protocol = current as { retriable?: unknown };
    current = (current as { cause?: unknown }).cause;
  }
  return protocol?.retriable === false;
}

function headersOf(headers: IHeaders | undefined): Record<string, Buffer | undefined> {
  const result: Record<string, Buffer | undefined> = {};
  if (!headers) return result;
  for (const [name, value] of Object.entries(headers)) {
    // A header repeated under one name arrives as an array; the last value wins.
    const last = Array.isArray(value) ? value.at(-1) : value;
    result[name] =
      last === undefined ? undefined : Buffer.isBuffer(last) ? last : Buffer.from(last);
  }
  return result;
}

function createConsumer(
  kafka: Kafka,
  options: ConsumerOptions,
  events: ConsumerEvents,
): RegistrationConsumer {
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeoutMs,
    heartbeatInterval: options.heartbeatIntervalMs,
    maxBytesPerPartition: options.maxBytesPerPartition,
    allowAutoTopicCreation: false,
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    events.onCrash?.(payload.error, payload.restart);
  });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    const partitions = Object.values(payload.memberAssignment).flat();
    events.onGroupJoin?.(payload.memberId, partitions);
  });
  consumer.on(consumer.events.REBALANCING, () => events.onRebalancing?.());

  return {
    async start(handler) {
      await consumer.connect();
      await consumer.subscribe({ topics: [options.topic], fromBeginning: options.fromBeginning });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConcurrency,
        eachBatch: async (payload: EachBatchPayload) => {
          const { batch } = payload;
          await handler(
            {
              topic: batch.topic,
              partition: batch.partition,
              messages: batch.messages.map((message) => ({
                key: message.key,
                value: message.value,
                offset: message.offset,
                timestampMs: Number(message.timestamp),
                headers: headersOf(message.headers),
              })),
            },
            {
              isStale: () => payload.isStale(),
              heartbeat: () => payload.heartbeat(),
              commit: async (offset) => {
                payload.resolveOffset(offset);
                const next = {
                  partition: batch.partition,
                  offset: (BigInt(offset) + 1n).toString(),
                };
                if (payload.isRunning()) {
                  await consumer.commitOffsets([{ topic: batch.topic, ...next }]);
                  return;
                }
                // Once disconnect() has begun, kafkajs makes consumer.commitOffsets a silent
                // no-op, so the batches a clean shutdown waits for were left uncommitted and
                // redelivered. The group membership lasts until they end: commit through it.
                await payload.commitOffsetsIfNecessary({
                  topics: [{ topic: batch.topic, partitions: [next] }],
                });
              },
            },
          );
        },
      });
    },
    pauseFetching: () => {
      consumer.pause([{ topic: options.topic }]);
    },
    resumeFetching: () => {
      consumer.resume([{ topic: options.topic }]);
    },
    stop: () => consumer.disconnect(),
  };
}

function createProducer(kafka: Kafka): MessageProducer {
  const producer: Producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  return {
    connect: () => producer.connect(),
    async send(topic, messages) {
      if (messages.length === 0) return;
      await producer.send({
        topic,
        acks: -1,
        messages: messages.map((message) => ({
          key: message.key,
          value: message.value,
          headers: message.headers ? { ...message.headers } : undefined,
        })),
      });
    },
    disconnect: () => producer.disconnect(),
  };
}

async function createAdmin(kafka: Kafka): Promise<TopicAdmin> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  return {
    async ensureTopics(topics) {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((topic) => !existing.has(topic.name));
      if (missing.length === 0) return;
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({
          topic: topic.name,
          numPartitions: topic.partitions,
          configEntries: Object.entries(topic.config ?? {}).map(([name, value]) => ({
            name,
            value,
          })),
        })),
      });
    },
    async missingTopics(names) {
      const existing = new Set(await admin.listTopics());
      return names.filter((name) => !existing.has(name));
    },
    async deleteTopics(names) {
      await admin.deleteTopics({ topics: [...names] });
    },
    async endOffsets(topic) {
      const offsets = await admin.fetchTopicOffsets(topic);
      return new Map(offsets.map((entry) => [entry.partition, entry.high]));
    },
    async committedOffsets(groupId, topic) {
      const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return new Map((entry?.partitions ?? []).map((p) => [p.partition, p.offset]));
    },
    disconnect: () => admin.disconnect(),
  };
}

export interface KafkaConnection {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** SASL authentication; none when undefined. */
  readonly sasl?: {
    readonly mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512';
    readonly username: string;
    readonly password: string;
  };
  /** TLS to the brokers, verified against `ca` (PEM) or the system's CAs; none when undefined. */
  readonly tls?: { readonly ca?: string };
}

function saslOptions(sasl: NonNullable<KafkaConnection['sasl']>): SASLOptions {
  const { username, password } = sasl;
  switch (sasl.mechanism) {
    case 'plain':
      return { mechanism: 'plain', username, password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username, password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username, password };
  }
}

export function createKafkaClients(connection: KafkaConnection, logger: Logger): KafkaClients {
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  const { sasl, tls } = connection;
  const kafka = new Kafka({
    clientId: connection.clientId,
    brokers: [...connection.brokers],
    ...(tls === undefined ? {} : { ssl: tls.ca === undefined ? true : { ca: [tls.ca] } }),
    ...(sasl === undefined ? {} : { sasl: saslOptions(sasl) }),
    logLevel: KafkaLogLevel.WARN,
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...extra } = log;
        kafkaLogger[LOG_METHODS[level] ?? 'info'](extra, message);
      },
  });
  return {
    consumer: (options, events = {}) => createConsumer(kafka, options, events),
    producer: () => createProducer(kafka),
    admin: () => createAdmin(kafka),
  };
}
