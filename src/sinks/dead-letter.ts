import type { RejectReason } from '../contract/decode.js';
import type {
  HeaderValue,
  InboundMessage,
  MessageHeaders,
  OutboundMessage,
} from '../kafka/kafka-adapter.js';

/**
 * Dead-letter records keep the original key, value and headers, and add Kafka Connect's
 * error-context headers (`errors.deadletterqueue.context.headers.enable`), so tools that
 * read Connect DLQs read ours. `__connect.errors.connector.name` carries the consumer
 * group; `realtime-offers.errors.reason` the stable rejection code.
 */
export const DLQ_HEADERS = {
  topic: '__connect.errors.topic',
  partition: '__connect.errors.partition',
  offset: '__connect.errors.offset',
  connectorName: '__connect.errors.connector.name',
  stage: '__connect.errors.stage',
  className: '__connect.errors.class.name',
  exceptionClass: '__connect.errors.exception.class.name',
  exceptionMessage: '__connect.errors.exception.message',
  reason: 'realtime-offers.errors.reason',
  consumerGroup: 'realtime-offers.errors.consumer.group',
  valueTruncated: 'realtime-offers.errors.value.truncated',
  keyTruncated: 'realtime-offers.errors.key.truncated',
  headersDropped: 'realtime-offers.errors.headers.dropped',
} as const;

/**
 * How much of a `too_large` value the dead letter keeps. The input topic may accept larger
 * records than the DLQ topic (the broker's default limit is about 1 MB); a dead letter
 * carrying the whole value would then be refused forever and block its partition. The head
 * identifies the producer; the whole value stays in the input topic for its retention.
 */
export const TOO_LARGE_KEPT_BYTES = 16_384;

/** Original headers copied into a dead letter, in bytes (names + values); the rest is counted. */
export const HEADERS_KEPT_BYTES = 16_384;

/** Bytes of the original key copied into a dead letter. */
export const KEY_KEPT_BYTES = 16_384;

/** The broker's default `max.message.bytes`, used when the DLQ topic's own cannot be read. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

// Kafka's record-batch header is 61 bytes; each record adds up to ~30 bytes of varints, and
// each header two varints. Estimates stay above the real sizes.
const BATCH_OVERHEAD_BYTES = 128;
const RECORD_OVERHEAD_BYTES = 40;
const HEADER_OVERHEAD_BYTES = 10;

export interface Rejection {
  readonly reason: RejectReason;
  readonly detail: string;
}

export interface DeadLetterSource {
  readonly topic: string;
  readonly partition: number;
  readonly groupId: string;
}

type OutboundHeaderValue = Buffer | string | null;

function byteLength(value: OutboundHeaderValue): number {
  if (value === null) return 0;
  return typeof value === 'string' ? Buffer.byteLength(value) : value.length;
}

/** Bytes a record takes in a batch, at most (uncompressed, as the DLQ producer sends it). */
export function recordBytes(message: OutboundMessage): number {
  let size = RECORD_OVERHEAD_BYTES + byteLength(message.key) + byteLength(message.value);
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    const values = Array.isArray(value) ? (value as readonly OutboundHeaderValue[]) : [value];
    for (const one of values) {
      size +=
        HEADER_OVERHEAD_BYTES + Buffer.byteLength(name) + byteLength(one as OutboundHeaderValue);
    }
  }
  return size;
}

/** Copies original headers in order until `HEADERS_KEPT_BYTES`; counts what did not fit. */
function keptHeaders(headers: MessageHeaders): {
  kept: Record<string, Buffer | null | (Buffer | null)[]>;
  dropped: number;
  droppedBytes: number;
} {
  const kept: Record<string, Buffer | null | (Buffer | null)[]> = {};
  let budget = HEADERS_KEPT_BYTES;
  let dropped = 0;
  let droppedBytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    const values: readonly HeaderValue[] = Array.isArray(value) ? value : [value as HeaderValue];
    const nameBytes = Buffer.byteLength(name);
    const fitting: HeaderValue[] = [];
    for (const one of values) {
      const size = nameBytes + (one?.length ?? 0);
      if (size > budget) {
        dropped += 1;
        droppedBytes += size;
        continue;
      }
      budget -= size;
      fitting.push(one);
    }
    const [only] = fitting;
    if (fitting.length === 1 && only !== undefined) kept[name] = only;
    else if (fitting.length > 1) kept[name] = fitting;
  }
  return { kept, dropped, droppedBytes };
}

/**
 * The dead letter of a rejected message: its original key, value and headers (repeated names
 * and null values kept) plus the error context, cut so that it fits a topic whose records may
 * be at most `maxMessageBytes` long. What was cut is said in headers: the key's and value's
 * original sizes, and how many header values (and bytes) were left out.
 */
export function deadLetterMessage(
  message: InboundMessage,
  source: DeadLetterSource,
  rejection: Rejection,
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
): OutboundMessage {
  const { kept, dropped, droppedBytes } = keptHeaders(message.headers);
  const keyBytes = message.key?.length ?? 0;
  const key =
    message.key !== null && keyBytes > KEY_KEPT_BYTES
      ? message.key.subarray(0, KEY_KEPT_BYTES)
      : message.key;
  const context: Record<string, string> = {
    [DLQ_HEADERS.topic]: source.topic,
    [DLQ_HEADERS.partition]: String(source.partition),
    [DLQ_HEADERS.offset]: message.offset,
    [DLQ_HEADERS.connectorName]: source.groupId,
    [DLQ_HEADERS.stage]:
      rejection.reason === 'undecodable_batch' ? 'KAFKA_CLIENT' : 'VALUE_CONVERTER',
    [DLQ_HEADERS.className]: 'realtime-offers/contract/decode',
    [DLQ_HEADERS.exceptionClass]: `InvalidRegistration.${rejection.reason}`,
    [DLQ_HEADERS.exceptionMessage]: rejection.detail,
    [DLQ_HEADERS.reason]: rejection.reason,
    [DLQ_HEADERS.consumerGroup]: source.groupId,
  };
  if (key !== message.key) context[DLQ_HEADERS.keyTruncated] = String(keyBytes);
  if (dropped > 0) context[DLQ_HEADERS.headersDropped] = `${dropped} values, ${droppedBytes} bytes`;
  // Sized with room for the value-truncation header itself.
  const withoutValue = recordBytes({
    key,
    value: null,
    headers: { ...kept, ...context, [DLQ_HEADERS.valueTruncated]: '0000000000' },
  });
  const room = Math.max(0, maxMessageBytes - BATCH_OVERHEAD_BYTES - withoutValue);
  const valueBytes = message.value?.length ?? 0;
  const limit = rejection.reason === 'too_large' ? Math.min(room, TOO_LARGE_KEPT_BYTES) : room;
  const value =
    message.value !== null && valueBytes > limit ? message.value.subarray(0, limit) : message.value;
  if (value !== message.value) context[DLQ_HEADERS.valueTruncated] = String(valueBytes);
  return { key, value, headers: { ...kept, ...context } };
}

/**
 * Splits dead letters into sends whose record batch stays within `maxMessageBytes`: the
 * producer puts one send's records of a partition into one batch, and the broker checks
 * the topic's limit against the whole batch.
 */
export function sendGroups(
  letters: readonly OutboundMessage[],
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
): OutboundMessage[][] {
  const groups: OutboundMessage[][] = [];
  let current: OutboundMessage[] = [];
  let size = BATCH_OVERHEAD_BYTES;
  for (const letter of letters) {
    const bytes = recordBytes(letter);
    if (current.length > 0 && size + bytes > maxMessageBytes) {
      groups.push(current);
      current = [];
      size = BATCH_OVERHEAD_BYTES;
    }
    current.push(letter);
    size += bytes;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}
