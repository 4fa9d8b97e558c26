import type { RejectReason } from '../contract/decode.js';
import type { InboundMessage, OutboundMessage } from '../kafka/kafka-adapter.js';

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
} as const;

/**
 * How much of a `too_large` value the dead letter keeps. The input topic may accept larger
 * records than the DLQ topic (the broker's default limit is about 1 MB); a dead letter
 * carrying the whole value would then be refused forever and block its partition. The head
 * identifies the producer; the whole value stays in the input topic for its retention.
 */
export const TOO_LARGE_KEPT_BYTES = 16_384;

export interface Rejection {
  readonly reason: RejectReason;
  readonly detail: string;
}

export interface DeadLetterSource {
  readonly topic: string;
  readonly partition: number;
  readonly groupId: string;
}

export function deadLetterMessage(
  message: InboundMessage,
  source: DeadLetterSource,
  rejection: Rejection,
): OutboundMessage {
  const original: Record<string, Buffer> = {};
  for (const [name, value] of Object.entries(message.headers)) {
    if (value !== undefined) original[name] = value;
  }
  const originalBytes = message.value?.length ?? 0;
  const truncated = rejection.reason === 'too_large' && originalBytes > TOO_LARGE_KEPT_BYTES;
  return {
    key: message.key,
    value: truncated ? (message.value?.subarray(0, TOO_LARGE_KEPT_BYTES) ?? null) : message.value,
    headers: {
      ...original,
      [DLQ_HEADERS.topic]: source.topic,
      [DLQ_HEADERS.partition]: String(source.partition),
      [DLQ_HEADERS.offset]: message.offset,
      [DLQ_HEADERS.connectorName]: source.groupId,
      [DLQ_HEADERS.stage]: 'VALUE_CONVERTER',
      [DLQ_HEADERS.className]: 'realtime-offers/contract/decode',
      [DLQ_HEADERS.exceptionClass]: `InvalidRegistration.${rejection.reason}`,
      [DLQ_HEADERS.exceptionMessage]: rejection.detail,
      [DLQ_HEADERS.reason]: rejection.reason,
      [DLQ_HEADERS.consumerGroup]: source.groupId,
      ...(truncated ? { [DLQ_HEADERS.valueTruncated]: String(originalBytes) } : {}),
    },
  };
}
