import { setTimeout as sleep } from 'node:timers/promises';

import kafkajs, {
  Kafka,
  logLevel as KafkaLogLevel,
  Partitioners,
  type Admin,
  type Consumer,
  type EachBatchPayload,
  type IHeaders,
  type KafkaMessage,
  type LogEntry,
  type Producer,
  type SASLOptions,
} from 'kafkajs';

import { OfferError } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import { registerCodecs, UNDECODABLE_HEADER, undecodableReason } from './codecs.js';

// kafkajs is CommonJS; Node's named-export detection misses this one.
const { ConfigResourceTypes } = kafkajs;

/**
 * Every kafkajs call of the service lives in this file. kafkajs is no longer maintained;
 * replacing it means re-implementing these small interfaces, nothing else.
 */

/** A header value as it is on the wire: bytes, or null (Kafka allows a header without value). */
export type HeaderValue = Buffer | null;

/**
 * Headers as decoded: a name sent more than once holds every value, in order. Own properties
 * only: read them with `lastHeader`, never by indexing (a header may be named `toString`).
 */
export type MessageHeaders = Readonly<Record<string, HeaderValue | readonly HeaderValue[]>>;

function isHeaderList(value: unknown): value is readonly HeaderValue[] {
  return Array.isArray(value);
}

/** The last value of header `name`; undefined when the message has no such header. */
export function lastHeader(headers: MessageHeaders, name: string): HeaderValue | undefined {
  if (!Object.hasOwn(headers, name)) return undefined;
  const value = headers[name];
  if (isHeaderList(value)) return value.at(-1) ?? null;
  return value ?? null;
}

export interface InboundMessage {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly offset: string;
  /** Kafka message timestamp (CreateTime or LogAppendTime), ms since the epoch; -1 when none. */
  readonly timestampMs: number;
  readonly headers: MessageHeaders;
  /**
   * Set when the record batch this message came in could not be decoded (see codecs.ts): the
   * message is a placeholder at the right offset, to be dead-lettered with this reason.
   */
  readonly undecodable?: string;
}

export interface InboundBatch {
  readonly topic: string;
  readonly partition: number;
  readonly messages: readonly InboundMessage[];
}

export interface BatchContext {
  /**
   * True once the batch must not be committed: a seek moved the partition, or this member
   * lost its place in the group (rebalance, eviction), so the partition may be someone else's.
   */
  isStale(): boolean;
  /**
   * Keeps the group membership alive during long work (the adapter also does it on a timer
   * while a batch is handled). Throws an `ABORTED` OfferError once the membership is lost.
   */
  heartbeat(): Promise<void>;
  /**
   * Marks every message up to and including `offset` as done and commits that position; past
   * the batch's control records and aborted records when `offset` is its last message. Throws
   * an `ABORTED` OfferError when the group no longer accepts this member's commits (the batch
   * is redelivered after the re-join) and a non-retriable one when the broker refuses for good.
   */
  commit(offset: string): Promise<void>;
}

export type BatchHandler = (batch: InboundBatch, context: BatchContext) => Promise<void>;

export interface OutboundMessage {
  readonly key: Buffer | string | null;
  readonly value: Buffer | string | null;
  /** A name given several values is sent once per value, in order; null sends no value. */
  readonly headers?: Readonly<
    Record<string, Buffer | string | null | readonly (Buffer | string | null)[]>
  >;
}

export interface ConsumerOptions {
  readonly groupId: string;
  readonly topic: string;
  readonly fromBeginning: boolean;
  readonly partitionsConcurrency: number;
  readonly maxBytesPerPartition: number;
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  /**
   * How old the cluster metadata may get before it is fetched again; partitions added to the
   * topic are consumed after at most this long (kafkajs's default is 5 minutes).
   */
  readonly metadataMaxAgeMs?: number;
}

export interface ConsumerEvents {
  /** The consumer failed; `willRestart` false means it stopped for good. */
  onCrash?: (error: Error, willRestart: boolean) => void;
  onGroupJoin?: (memberId: string, partitions: readonly number[]) => void;
  onRebalancing?: () => void;
  /** The group no longer accepted this member (evicted, rebalanced); it re-joins by itself. */
  onMembershipLost?: (reason: string) => void;
}

export interface RegistrationConsumer {
  start(handler: BatchHandler): Promise<void>;
  /**
   * When the group coordinator or a broker last answered this member (a heartbeat, a fetch, a
   * commit, a join), ms since the epoch; 0 before the first answer. A member that heard
   * nothing for longer than its session timeout has lost its partitions.
   */
  lastContactMs(): number;
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
  /** The effective value of one topic config (the broker's default included). */
  topicConfig(topic: string, name: string): Promise<string | undefined>;
  /** Grows the topic to `count` partitions. */
  createPartitions(topic: string, count: number): Promise<void>;
  /** The broker id leading each partition (-1 while it has none). */
  partitionLeaders(topic: string): Promise<Map<number, number>>;
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

/** The deepest kafkajs protocol error (the broker's answer) in an error's cause chain. */
function protocolErrorOf(error: unknown): { type?: unknown; retriable?: unknown } | undefined {
  let current: unknown = error;
  let protocol: { type?: unknown; retriable?: unknown } | undefined;
  for (let depth = 0; depth < 10 && current instanceof Error; depth += 1) {
    if (current.name === 'KafkaJSProtocolError') protocol = current as { retriable?: unknown };
    current = (current as { cause?: unknown }).cause;
  }
  return protocol;
}

/**
 * True when the broker refused a request in a way no retry can change: the deepest kafkajs
 * protocol error in the cause chain is not retriable (TOPIC_AUTHORIZATION_FAILED,
 * MESSAGE_TOO_LARGE, ...). kafkajs wraps retriable errors it gave up on (a deleted topic's
 * UNKNOWN_TOPIC_OR_PARTITION, a broker that is down) in a "non-retriable" error too, so the
 * outer flag alone says nothing.
 */
export function isPermanentKafkaError(error: unknown): boolean {
  return protocolErrorOf(error)?.retriable === false && !isMembershipError(error);
}

// The group coordinator's ways of saying "this member's generation is over": it was evicted
// (session expired, e.g. a network cut or a batch longer than the session timeout), the group
// is rebalancing, or the coordinator moved. kafkajs re-joins on its own once its fetch loop or
// heartbeat sees them; a commit or heartbeat made during a batch must not turn them into a crash.
const MEMBERSHIP_ERRORS: ReadonlySet<unknown> = new Set([
  'UNKNOWN_MEMBER_ID',
  'ILLEGAL_GENERATION',
  'REBALANCE_IN_PROGRESS',
  'FENCED_INSTANCE_ID',
  'NOT_COORDINATOR',
  'NOT_COORDINATOR_FOR_GROUP',
  'COORDINATOR_NOT_AVAILABLE',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'GROUP_LOAD_IN_PROGRESS',
]);

export function isMembershipError(error: unknown): boolean {
  return MEMBERSHIP_ERRORS.has(protocolErrorOf(error)?.type);
}

const TOPIC_READY_TIMEOUT_MS = 30_000;

function isUnknownTopic(error: unknown): boolean {
  return protocolErrorOf(error)?.type === 'UNKNOWN_TOPIC_OR_PARTITION';
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Kafka records may carry no timestamp (-1); a value kafkajs cannot parse counts as none. */
function timestampOf(text: string): number {
  const value = Number(text);
  return Number.isFinite(value) ? value : -1;
}

function inboundMessage(message: KafkaMessage): InboundMessage {
  const headers = (message.headers ?? {}) as MessageHeaders;
  const inbound = {
    key: message.key,
    value: message.value,
    offset: message.offset,
    timestampMs: timestampOf(message.timestamp),
    headers,
  };
  if (!Object.hasOwn(headers, UNDECODABLE_HEADER)) return inbound;
  const reason = undecodableReason(lastHeader(headers, UNDECODABLE_HEADER));
  if (reason === undefined) return inbound;
  const { [UNDECODABLE_HEADER]: _marker, ...original } = headers;
  return { ...inbound, headers: original, undecodable: reason };
}

function createConsumer(
  kafka: Kafka,
  options: ConsumerOptions,
  events: ConsumerEvents,
  logger: Logger,
): RegistrationConsumer {
  const consumer: Consumer = kafka.consumer({
    groupId: options.groupId,
    sessionTimeout: options.sessionTimeoutMs,
    heartbeatInterval: options.heartbeatIntervalMs,
    maxBytesPerPartition: options.maxBytesPerPartition,
    allowAutoTopicCreation: false,
    ...(options.metadataMaxAgeMs === undefined ? {} : { metadataMaxAge: options.metadataMaxAgeMs }),
  });
  let lastContact = 0;
  const contact = (): void => {
    lastContact = Date.now();
  };
  consumer.on(consumer.events.HEARTBEAT, contact);
  consumer.on(consumer.events.FETCH, contact);
  consumer.on(consumer.events.COMMIT_OFFSETS, contact);
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    events.onCrash?.(payload.error, payload.restart);
  });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    contact();
    const partitions = Object.values(payload.memberAssignment).flat();
    events.onGroupJoin?.(payload.memberId, partitions);
  });
  consumer.on(consumer.events.REBALANCING, () => events.onRebalancing?.());
  // A batch whose records were all filtered out (transaction markers, aborted records) never
  // reaches eachBatch; without this commit the group's offset stays behind the log end for
  // good and the lag never reaches 0. Such a batch comes only after the previous one of its
  // partition was handled, so committing past it skips nothing.
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
    // kafkajs's types miss that firstOffset is null for a batch with no records at all.
    const firstOffset = payload.firstOffset as string | null;
    if (payload.batchSize !== 0 || firstOffset === null) return;
    const offset = (BigInt(payload.lastOffset) + 1n).toString();
    consumer
      .commitOffsets([{ topic: payload.topic, partition: payload.partition, offset }])
      .catch((error: unknown) => {
        // The next batch of the partition commits past these records anyway.
        logger.debug(
          { topic: payload.topic, partition: payload.partition, offset, err: errorText(error) },
          'commit past filtered records failed',
        );
      });
  });

  const membershipLost = (error: unknown, during: string): OfferError => {
    events.onMembershipLost?.(`${during}: ${errorText(error)}`);
    return new OfferError(
      'ABORTED',
      `group membership lost during ${during} (${errorText(error)}); the batch is left uncommitted and redelivered after the re-join`,
      { retriable: false, cause: error },
    );
  };

  async function handle(payload: EachBatchPayload, handler: BatchHandler): Promise<void> {
    const { batch } = payload;
    let lost: OfferError | undefined;
    const heartbeat = async (): Promise<void> => {
      if (lost) throw lost;
      try {
        await payload.heartbeat();
      } catch (error) {
        // Other failures (a slow or unreachable coordinator) are kafkajs's to recover from;
        // a heartbeat missed here is sent again at the next tick.
        if (!isMembershipError(error)) return;
        lost ??= membershipLost(error, 'a heartbeat');
        throw lost;
      }
    };
    // kafkajs heartbeats only between batches: a batch waiting on a slow sink for longer
    // than the session timeout got the member evicted. Heartbeat on a timer meanwhile.
    const ticker = setInterval(() => {
      heartbeat().catch(() => undefined);
    }, options.heartbeatIntervalMs);
    ticker.unref();
    const lastMessage = batch.messages.at(-1)?.offset;
    try {
      await handler(
        {
          topic: batch.topic,
          partition: batch.partition,
          messages: batch.messages.map(inboundMessage),
        },
        {
          isStale: () => lost !== undefined || payload.isStale(),
          heartbeat,
          commit: async (offset) => {
            if (lost) throw lost;
            // The last message's commit also covers what kafkajs filtered out after it (the
            // transaction's commit marker, aborted records), so lag can reach 0.
            const through = offset === lastMessage ? batch.lastOffset() : offset;
            const next = { partition: batch.partition, offset: (BigInt(through) + 1n).toString() };
            try {
              if (payload.isRunning()) {
                await consumer.commitOffsets([{ topic: batch.topic, ...next }]);
              } else {
                // Once disconnect() has begun, kafkajs makes consumer.commitOffsets a silent
                // no-op, so the batches a clean shutdown waits for were left uncommitted and
                // redelivered. The group membership lasts until they end: commit through it.
                await payload.commitOffsetsIfNecessary({
                  topics: [{ topic: batch.topic, partitions: [next] }],
                });
              }
              // Only now: the next fetch starts after a resolved offset, so a batch whose
              // commit failed is fetched and written again rather than silently skipped.
              payload.resolveOffset(through);
            } catch (error) {
              if (isPermanentKafkaError(error)) {
                throw new OfferError(
                  'KAFKA_COMMIT_FAILED',
                  `offset commit refused: ${errorText(error)}`,
                  {
                    retriable: false,
                    cause: error,
                  },
                );
              }
              // Evicted, rebalancing, or the coordinator unreachable: either way this member
              // cannot vouch for the partition any more.
              lost ??= membershipLost(error, 'the offset commit');
              throw lost;
            }
          },
        },
      );
    } finally {
      clearInterval(ticker);
    }
  }

  return {
    async start(handler) {
      registerCodecs();
      await consumer.connect();
      await consumer.subscribe({ topics: [options.topic], fromBeginning: options.fromBeginning });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConcurrency,
        eachBatch: (payload) => handle(payload, handler),
      });
    },
    lastContactMs: () => lastContact,
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
          // kafkajs sends each value of an array as a header of its own and a null value as
          // a header without value; its types only miss the null.
          headers: message.headers as IHeaders | undefined,
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
        waitForLeaders: false,
        topics: missing.map((topic) => ({
          topic: topic.name,
          numPartitions: topic.partitions,
          configEntries: Object.entries(topic.config ?? {}).map(([name, value]) => ({
            name,
            value,
          })),
        })),
      });
      // kafkajs's own wait retries only LEADER_NOT_AVAILABLE; on a cluster of several brokers
      // the one it asks may not know the topic yet (UNKNOWN_TOPIC_OR_PARTITION) for a moment.
      const names = missing.map((topic) => topic.name);
      const deadline = Date.now() + TOPIC_READY_TIMEOUT_MS;
      for (;;) {
        const ready = await admin
          .fetchTopicMetadata({ topics: names })
          .then(({ topics: found }) =>
            found.every((topic) => topic.partitions.every((partition) => partition.leader >= 0)),
          )
          .catch((error: unknown) => {
            if (isPermanentKafkaError(error) && !isUnknownTopic(error)) throw error;
            return false;
          });
        if (ready) return;
        if (Date.now() > deadline) {
          throw new Error(
            `topics ${names.join(', ')} have no leaders after ${TOPIC_READY_TIMEOUT_MS} ms`,
          );
        }
        await sleep(200);
      }
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
    async topicConfig(topic, name) {
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: [name] }],
      });
      const [resource] = resources;
      if (resource !== undefined && resource.errorCode !== 0) {
        throw new Error(`describing topic ${topic} failed: ${resource.errorMessage}`);
      }
      return resource?.configEntries.find((entry) => entry.configName === name)?.configValue;
    },
    async createPartitions(topic, count) {
      await admin.createPartitions({ topicPartitions: [{ topic, count }] });
    },
    async partitionLeaders(topic) {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitions = topics[0]?.partitions ?? [];
      return new Map(partitions.map((p) => [p.partitionId, p.leader]));
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
    consumer: (options, events = {}) => createConsumer(kafka, options, events, kafkaLogger),
    producer: () => createProducer(kafka),
    admin: () => createAdmin(kafka),
  };
}
