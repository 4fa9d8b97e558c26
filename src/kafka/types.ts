/**
 * The service's view of Kafka. Every kafkajs call lives in src/kafka; kafkajs is no longer
 * maintained, and replacing it means re-implementing these small interfaces, nothing else.
 */

export { lastHeader, type HeaderValue, type MessageHeaders } from '../contract/headers.js';
import type { ServiceConfig } from '../config/config.js';
import type { MessageHeaders } from '../contract/headers.js';

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

/**
 * The consumer's settings, as the config holds them. `metadataMaxAgeMs`: partitions added to
 * the topic are consumed after at most this long (kafkajs's default, 5 minutes, when unset).
 */
export type ConsumerOptions = Pick<
  ServiceConfig['kafka'],
  | 'groupId'
  | 'topic'
  | 'fromBeginning'
  | 'partitionsConcurrency'
  | 'maxBytesPerPartition'
  | 'sessionTimeoutMs'
  | 'heartbeatIntervalMs'
> &
  Partial<Pick<ServiceConfig['kafka'], 'metadataMaxAgeMs'>>;

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
  /**
   * Stops fetching these partitions of the topic; `resumeFetching` fetches them again (a
   * caller that wants them left alone pauses them again when one of their batches arrives).
   */
  pausePartitions(partitions: readonly number[]): void;
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
  /**
   * Per partition, the offset of the first record whose timestamp is at or after
   * `timestampMs`; the high watermark where there is none (every record is older).
   */
  offsetsAtTime(topic: string, timestampMs: number): Promise<Map<number, string>>;
  /** Sets a group's committed offsets; the group must have no active members. */
  setGroupOffsets(
    groupId: string,
    topic: string,
    offsets: ReadonlyMap<number, string>,
  ): Promise<void>;
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
  /**
   * A connected admin client. `attempts: 1` makes each request (the connection included) fail
   * at its first error instead of after kafkajs's own retries: for a caller that retries
   * itself, such as the start-up window, so that a refusal stops start-up at once.
   */
  admin(options?: AdminOptions): Promise<TopicAdmin>;
}

export interface AdminOptions {
  /** Tries per request, the first included; kafkajs's default (6) when undefined. */
  readonly attempts?: number;
}
