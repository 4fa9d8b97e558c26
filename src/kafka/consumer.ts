import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from 'kafkajs';

import { errorMessage, OfferError } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import { registerCodecs, UNDECODABLE_HEADER, undecodableReason } from './codecs.js';
import { isMembershipError, isPermanentKafkaError } from './errors.js';
import {
  lastHeader,
  type BatchHandler,
  type ConsumerEvents,
  type ConsumerOptions,
  type InboundMessage,
  type MessageHeaders,
  type RegistrationConsumer,
} from './types.js';

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

export function createConsumer(
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
  const contact = listen(consumer, events, logger);
  return {
    async start(handler) {
      registerCodecs();
      await consumer.connect();
      await consumer.subscribe({ topics: [options.topic], fromBeginning: options.fromBeginning });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConcurrency,
        eachBatch: (payload) =>
          handleBatch(consumer, payload, handler, {
            heartbeatIntervalMs: options.heartbeatIntervalMs,
            events,
          }),
      });
    },
    lastContactMs: contact.lastContactMs,
    pauseFetching: () => {
      consumer.pause([{ topic: options.topic }]);
    },
    resumeFetching: () => {
      consumer.resume([{ topic: options.topic }]);
    },
    pausePartitions: (partitions) => {
      consumer.pause([{ topic: options.topic, partitions: [...partitions] }]);
    },
    stop: () => consumer.disconnect(),
  };
}

/** Passes the consumer's group events on, and keeps when the brokers last answered it. */
function listen(
  consumer: Consumer,
  events: ConsumerEvents,
  logger: Logger,
): { lastContactMs: () => number } {
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
          { topic: payload.topic, partition: payload.partition, offset, err: errorMessage(error) },
          'commit past filtered records failed',
        );
      });
  });
  return { lastContactMs: () => lastContact };
}

function membershipLost(events: ConsumerEvents, error: unknown, during: string): OfferError {
  events.onMembershipLost?.(`${during}: ${errorMessage(error)}`);
  return new OfferError(
    'ABORTED',
    `group membership lost during ${during} (${errorMessage(error)}); the batch is left uncommitted and redelivered after the re-join`,
    { retriable: false, cause: error },
  );
}

/** One fetched batch through `handler`, heartbeating meanwhile, committing as it says. */
async function handleBatch(
  consumer: Consumer,
  payload: EachBatchPayload,
  handler: BatchHandler,
  { heartbeatIntervalMs, events }: { heartbeatIntervalMs: number; events: ConsumerEvents },
): Promise<void> {
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
      lost ??= membershipLost(events, error, 'a heartbeat');
      throw lost;
    }
  };
  // kafkajs heartbeats only between batches: a batch waiting on a slow sink for longer
  // than the session timeout got the member evicted. Heartbeat on a timer meanwhile.
  const ticker = setInterval(() => {
    heartbeat().catch(() => undefined);
  }, heartbeatIntervalMs);
  ticker.unref();
  const lastMessage = batch.messages.at(-1)?.offset;
  const commit = async (offset: string): Promise<void> => {
    if (lost) throw lost;
    // The last message's commit also covers what kafkajs filtered out after it (the
    // transaction's commit marker, aborted records), so lag can reach 0.
    const through = offset === lastMessage ? batch.lastOffset() : offset;
    try {
      await commitThrough(consumer, payload, through);
    } catch (error) {
      if (isPermanentKafkaError(error)) {
        throw new OfferError(
          'KAFKA_COMMIT_FAILED',
          `offset commit refused: ${errorMessage(error)}`,
          {
            retriable: false,
            cause: error,
          },
        );
      }
      // Evicted, rebalancing, or the coordinator unreachable: either way this member
      // cannot vouch for the partition any more.
      lost ??= membershipLost(events, error, 'the offset commit');
      throw lost;
    }
  };
  try {
    const inbound = {
      topic: batch.topic,
      partition: batch.partition,
      messages: batch.messages.map(inboundMessage),
    };
    await handler(inbound, {
      isStale: () => lost !== undefined || payload.isStale(),
      heartbeat,
      commit,
    });
  } finally {
    clearInterval(ticker);
  }
}

/** Commits the partition through `through` (inclusive), then resolves it for the next fetch. */
async function commitThrough(
  consumer: Consumer,
  payload: EachBatchPayload,
  through: string,
): Promise<void> {
  const { batch } = payload;
  const next = { partition: batch.partition, offset: (BigInt(through) + 1n).toString() };
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
}
