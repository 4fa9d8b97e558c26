/**
 * The ceiling the service is measured against: a plain kafkajs consumer that reads the same
 * topic with the service's own Kafka settings (read from the same environment variables by
 * the service's config loader), counts the messages and commits each batch, as the service
 * does, and nothing else. The benchmark starts it like a consumer: it answers /readyz with
 * 200 once it has joined its group, on HTTP_HOST:HTTP_PORT.
 */
import { createServer } from 'node:http';

import { Kafka, logLevel } from 'kafkajs';

import { loadServiceConfig } from '../../../src/config/config.js';

const config = loadServiceConfig();
const { kafka: settings } = config;
const kafka = new Kafka({
  clientId: 'raw-kafkajs-bench',
  brokers: [...settings.brokers],
  logLevel: logLevel.ERROR,
});
const consumer = kafka.consumer({
  groupId: settings.groupId,
  sessionTimeout: settings.sessionTimeoutMs,
  heartbeatInterval: settings.heartbeatIntervalMs,
  maxBytesPerPartition: settings.maxBytesPerPartition,
  metadataMaxAge: settings.metadataMaxAgeMs,
  allowAutoTopicCreation: false,
});

let joined = false;
let consumed = 0;
consumer.on(consumer.events.GROUP_JOIN, () => {
  joined = true;
});

const server = createServer((request, response) => {
  if (request.url === '/readyz') {
    response.writeHead(joined ? 200 : 503).end(joined ? 'ready' : 'joining');
  } else if (request.url === '/metrics') {
    response.writeHead(200).end(`raw_consumed_total ${consumed}\n`);
  } else {
    response.writeHead(404).end();
  }
});
server.listen(Number(process.env.HTTP_PORT ?? 0), process.env.HTTP_HOST ?? '127.0.0.1');

await consumer.connect();
await consumer.subscribe({ topics: [settings.topic], fromBeginning: settings.fromBeginning });
await consumer.run({
  autoCommit: false,
  eachBatchAutoResolve: false,
  partitionsConsumedConcurrently: settings.partitionsConcurrency,
  eachBatch: async (payload) => {
    const { batch } = payload;
    const last = batch.messages.at(-1);
    if (last === undefined) return;
    for (const message of batch.messages) if (message.value !== null) consumed += 1;
    await consumer.commitOffsets([
      {
        topic: batch.topic,
        partition: batch.partition,
        offset: (BigInt(batch.lastOffset()) + 1n).toString(),
      },
    ]);
    payload.resolveOffset(last.offset);
    await payload.heartbeat();
  },
});

const stop = (): void => {
  server.close();
  void consumer.disconnect().finally(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
