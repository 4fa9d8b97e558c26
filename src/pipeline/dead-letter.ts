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
} as const;

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
  return {
    key: message.key,
    value: message.value,
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
    },
  };
}
