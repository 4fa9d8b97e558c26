import { SpanKind } from '@opentelemetry/api';

import { errorMessage, OfferError } from '../errors.js';
import {
  isPermanentKafkaError,
  type KafkaClients,
  type InboundMessage,
  type MessageProducer,
} from '../kafka/kafka-adapter.js';
import type { Logger } from '../telemetry/logger.js';
import { ATTR } from '../telemetry/semconv.js';
import {
  deadLetterMessage,
  DEFAULT_MAX_MESSAGE_BYTES,
  sendGroups,
  type Rejection,
} from './dead-letter.js';
import type { RowOrigin, Sink, SinkSpan } from './sink.js';

/** A message the pipeline could not use, and why. */
export interface RejectedMessage {
  readonly message: InboundMessage;
  readonly rejection: Rejection;
}

function dlqFailure(error: unknown): OfferError {
  return new OfferError('DLQ_FAILED', `dead-letter write failed: ${errorMessage(error)}`, {
    // The DLQ lives on the cluster we consume from: an outage there (a missing topic
    // included) is waited out; a refusal no retry can change (no Write ACL, a record too
    // large for the topic) stops the service like any other permanent sink failure.
    retriable: !isPermanentKafkaError(error),
    cause: error,
  });
}

/**
 * The dead-letter topic as a sink: rejected messages become dead letters (see
 * dead-letter.ts) cut to fit the topic's record limit, sent in batches that fit it too.
 */
export class DeadLetterSink implements Sink<RejectedMessage> {
  readonly name = 'dlq';
  readonly topic: string;
  readonly span: SinkSpan<RejectedMessage>;
  readonly #kafka: KafkaClients;
  readonly #producer: MessageProducer;
  readonly #groupId: string;
  readonly #logger: Logger;
  #maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES;

  constructor(options: {
    kafka: KafkaClients;
    producer: MessageProducer;
    topic: string;
    groupId: string;
    logger: Logger;
  }) {
    this.#kafka = options.kafka;
    this.#producer = options.producer;
    this.topic = options.topic;
    this.span = {
      name: `send ${options.topic}`,
      kind: SpanKind.PRODUCER,
      attributes: {
        [ATTR.messagingSystem]: 'kafka',
        [ATTR.messagingOperationType]: 'send',
        [ATTR.messagingDestination]: options.topic,
      },
      rowsOf: 'rejected',
    };
    this.#groupId = options.groupId;
    this.#logger = options.logger;
  }

  /** The record limit dead letters are cut to. */
  get maxMessageBytes(): number {
    return this.#maxMessageBytes;
  }

  /**
   * The topic must exist (start-up asks once for it and the input topic: requireTopics); its
   * `max.message.bytes` is read here (the broker default if this client may not).
   */
  async healthcheck(): Promise<void> {
    const admin = await this.#kafka.admin();
    try {
      this.#maxMessageBytes = await admin
        .topicConfig(this.topic, 'max.message.bytes')
        .then((value) => {
          const bytes = Number(value);
          if (!Number.isInteger(bytes) || bytes <= 0) throw new Error(`unexpected value ${value}`);
          return bytes;
        })
        .catch((error: unknown) => {
          this.#logger.warn(
            {
              topic: this.topic,
              assumedBytes: DEFAULT_MAX_MESSAGE_BYTES,
              err: errorMessage(error),
            },
            "could not read the DLQ topic's max.message.bytes (DescribeConfigs ACL); dead letters are cut to the broker default",
          );
          return DEFAULT_MAX_MESSAGE_BYTES;
        });
    } finally {
      await admin.disconnect();
    }
  }

  async write(rows: readonly RejectedMessage[], origin: RowOrigin): Promise<void> {
    const source = { topic: origin.topic, partition: origin.partition, groupId: this.#groupId };
    const letters = rows.map(({ message, rejection }) =>
      deadLetterMessage(message, source, rejection, this.#maxMessageBytes),
    );
    try {
      for (const group of sendGroups(letters, this.#maxMessageBytes)) {
        await this.#producer.send(this.topic, group);
      }
    } catch (error) {
      throw dlqFailure(error);
    }
  }
}
