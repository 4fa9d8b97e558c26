import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Tracer,
} from '@opentelemetry/api';

import type { MessageProducer, OutboundMessage } from '../kafka/kafka-adapter.js';
import { ATTR } from '../telemetry/semconv.js';

/**
 * Sends messages, each inside its own PRODUCER span `send <topic>` (a new trace per
 * message), with the span's W3C `traceparent`/`tracestate` injected into the message
 * headers: the consumer continues that trace. Without a tracer it only sends.
 */
export async function sendTraced(
  producer: MessageProducer,
  tracer: Tracer | undefined,
  topic: string,
  messages: readonly OutboundMessage[],
): Promise<void> {
  if (tracer === undefined) {
    await producer.send(topic, messages);
    return;
  }
  const spans = messages.map((message) =>
    tracer.startSpan(`send ${topic}`, {
      kind: SpanKind.PRODUCER,
      root: true,
      attributes: {
        [ATTR.messagingSystem]: 'kafka',
        [ATTR.messagingOperationType]: 'send',
        [ATTR.messagingOperationName]: 'send',
        [ATTR.messagingDestination]: topic,
        ...(message.key === null ? {} : { [ATTR.kafkaMessageKey]: message.key.toString() }),
      },
    }),
  );
  const traced = messages.map((message, index) => {
    const span = spans[index];
    if (span === undefined) return message;
    const headers: Record<string, NonNullable<OutboundMessage['headers']>[string]> = {
      ...message.headers,
    };
    propagation.inject(trace.setSpan(context.active(), span), headers);
    return { ...message, headers };
  });
  try {
    await producer.send(topic, traced);
  } catch (error) {
    for (const span of spans) {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    throw error;
  } finally {
    for (const span of spans) span.end();
  }
}
