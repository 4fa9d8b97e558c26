import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { runSmoke, randomSmokeUserId, SmokeTimeoutError } from '../../src/cli/smoke.js';
import { loadSmokeConfig, type SmokeConfig } from '../../src/config/config.js';
import { OfferError } from '../../src/errors.js';
import type { MessageProducer, OutboundMessage } from '../../src/kafka/kafka-adapter.js';

describe('loadSmokeConfig', () => {
  it('needs only the Kafka connection and the Redis URL', () => {
    const config = loadSmokeConfig({
      KAFKA_BROKERS: 'kafka:9092',
      REDIS_URL: 'redis://:secret@redis:6379/0',
    });
    assert.deepEqual(config.kafka.brokers, ['kafka:9092']);
    assert.equal(config.kafka.topic, 'streaming-user-registration');
    assert.equal(config.redis.url, 'redis://:secret@redis:6379/0');
    assert.equal(config.redis.keyPrefix, '');
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.redis));
  });

  it('takes the key prefix and topic the consumer uses', () => {
    const config = loadSmokeConfig({
      KAFKA_BROKERS: 'kafka:9092',
      KAFKA_TOPIC: 'registrations',
      REDIS_URL: 'rediss://redis:6380',
      REDIS_KEY_PREFIX: 'offer:',
    });
    assert.equal(config.kafka.topic, 'registrations');
    assert.equal(config.redis.keyPrefix, 'offer:');
  });

  it('names a missing or wrong variable', () => {
    assert.throws(
      () => loadSmokeConfig({ KAFKA_BROKERS: 'kafka:9092', REDIS_URL: 'http://redis:6379' }),
      (error: unknown) =>
        error instanceof OfferError &&
        error.code === 'CONFIG_INVALID' &&
        error.message.includes('REDIS_URL'),
    );
    assert.throws(
      () => loadSmokeConfig({ REDIS_URL: 'redis://redis:6379' }),
      (error: unknown) => error instanceof OfferError && error.message.includes('KAFKA_BROKERS'),
    );
  });
});

const CONFIG: SmokeConfig = {
  kafka: {
    brokers: ['kafka:9092'],
    clientId: 'test',
    topic: 'input',
    dlqTopic: 'input.dlq',
    groupId: 'group',
  },
  redis: {
    mode: 'standalone',
    url: 'redis://redis:6379',
    nodes: ['redis://redis:6379'],
    keyPrefix: 'offer:',
  },
};

function recordingProducer(): MessageProducer & { sent: [string, OutboundMessage][] } {
  const sent: [string, OutboundMessage][] = [];
  return {
    sent,
    connect: () => Promise.resolve(),
    disconnect: () => Promise.resolve(),
    send: (topic, messages) => {
      for (const message of messages) sent.push([topic, message]);
      return Promise.resolve();
    },
  };
}

describe('runSmoke', () => {
  it('sends one registration keyed by the user id and returns its offer', async () => {
    const producer = recordingProducer();
    const reads: string[] = [];
    let calls = 0;
    const result = await runSmoke(
      producer,
      {
        get: (key) => {
          reads.push(key);
          calls += 1;
          return Promise.resolve(calls < 3 ? null : '{"user_id":42}');
        },
      },
      CONFIG,
      { timeoutMs: 5_000, pollMs: 1, userId: 42 },
    );
    assert.equal(producer.sent.length, 1);
    const first = producer.sent[0];
    assert.ok(first);
    const [topic, message] = first;
    assert.equal(topic, 'input');
    assert.equal(message.key, '42');
    assert.match(String(message.value), /42/);
    assert.deepEqual([...new Set(reads)], ['offer:42']);
    assert.equal(result.offer, '{"user_id":42}');
    assert.equal(result.key, 'offer:42');
  });

  it('gives up with SmokeTimeoutError when the offer never arrives', async () => {
    await assert.rejects(
      runSmoke(recordingProducer(), { get: () => Promise.resolve(null) }, CONFIG, {
        timeoutMs: 20,
        pollMs: 5,
        userId: 7,
      }),
      (error: unknown) => error instanceof SmokeTimeoutError && error.message.includes('offer:7'),
    );
  });

  it('picks ids above every real user id and within the safe integer range', () => {
    for (let index = 0; index < 100; index += 1) {
      const id = randomSmokeUserId();
      assert.ok(Number.isSafeInteger(id) && id >= 2 ** 52, String(id));
    }
  });
});
