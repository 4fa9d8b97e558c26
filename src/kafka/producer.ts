import { Partitioners, type IHeaders, type Kafka, type Producer } from 'kafkajs';

import type { MessageProducer } from './types.js';

export function createProducer(kafka: Kafka): MessageProducer {
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
