import { randomInt } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

import { loadSmokeConfig, type SmokeConfig } from '../config/config.js';
import { createKafkaClients, type MessageProducer } from '../kafka/kafka-adapter.js';
import { createRedisClusterClient } from '../sinks/redis-cluster-sink.js';
import { createRedisClient } from '../sinks/redis-sink.js';
import { createLogger } from '../telemetry/logger.js';
import { generateMessages } from './registration-generator.js';

/**
 * End-to-end check of a running deployment (the Helm chart's `helm test`): one registration
 * goes into the input topic and the command waits until the consumer has written its offer
 * to Redis. Reaching Redis means Kafka, the model, ClickHouse (offsets commit only after
 * both sinks acknowledged, and Redis is written alongside) and Redis all work.
 */

export interface SmokeOptions {
  /** Give up after this long. */
  readonly timeoutMs: number;
  /** Delay between two Redis reads. */
  readonly pollMs: number;
  /** The user id to send; a random id far above real ones when omitted. */
  readonly userId?: number;
}

export interface SmokeResult {
  readonly userId: number;
  readonly key: string;
  /** The offer JSON as stored in Redis. */
  readonly offer: string;
  readonly seconds: number;
}

/** The one Redis call the check needs, so tests can pass a stub. */
export interface OfferReader {
  get(key: string): Promise<string | null>;
}

// Real user ids are far below 2^52; ids from [2^52, 2^52 + 2^47) never collide with them,
// and a fresh id per run means an offer left by an earlier run cannot pass the check.
const SMOKE_ID_BASE = 2 ** 52;
const SMOKE_ID_SPAN = 2 ** 47;

export function randomSmokeUserId(): number {
  return SMOKE_ID_BASE + randomInt(SMOKE_ID_SPAN);
}

export class SmokeTimeoutError extends Error {
  override readonly name = 'SmokeTimeoutError';
}

/** Sends one registration and polls `GET <prefix><id>` until the offer appears. */
export async function runSmoke(
  producer: MessageProducer,
  redis: OfferReader,
  config: SmokeConfig,
  options: SmokeOptions,
): Promise<SmokeResult> {
  const userId = options.userId ?? randomSmokeUserId();
  const [message] = Array.from(
    generateMessages({ count: 1, firstUserId: userId, seed: userId % 1_000_000 }),
  );
  if (message === undefined) throw new Error('the registration generator produced nothing');
  const key = `${config.redis.keyPrefix}${userId}`;
  const started = performance.now();
  await producer.send(config.kafka.topic, [{ key: message.key, value: message.value }]);

  const deadline = started + options.timeoutMs;
  for (;;) {
    const offer = await redis.get(key);
    if (offer !== null) {
      return { userId, key, offer, seconds: (performance.now() - started) / 1000 };
    }
    if (performance.now() >= deadline) {
      throw new SmokeTimeoutError(
        `no offer under Redis key ${JSON.stringify(key)} ${options.timeoutMs / 1000} s after sending user ${userId} to ${config.kafka.topic}`,
      );
    }
    await sleep(options.pollMs);
  }
}

/** `smoke [--timeout S]`: exit code 0 when the offer arrived in time, 1 otherwise. */
/** `smoke`: the check against the deployment the environment names; exit code 0 or 1. */
export async function smokeCommand(timeoutSeconds: number): Promise<number> {
  const config = loadSmokeConfig();
  const producer = createKafkaClients(config.kafka, createLogger('warn')).producer();
  const redis =
    config.redis.mode === 'cluster'
      ? createRedisClusterClient(config.redis.nodes, {
          ...(config.redis.tls === undefined ? {} : { tls: config.redis.tls }),
        })
      : createRedisClient(config.redis.url, config.redis.tls);
  try {
    await Promise.all([producer.connect(), redis.connect()]);
    const result = await runSmoke(producer, redis, config, {
      timeoutMs: timeoutSeconds * 1000,
      pollMs: 250,
    });
    console.log(
      `offer of user ${result.userId} in Redis (${result.key}) after ${result.seconds.toFixed(2)} s: ${result.offer}`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof SmokeTimeoutError)) throw error;
    console.error(`smoke test failed: ${error.message}`);
    return 1;
  } finally {
    await producer.disconnect();
    redis.disconnect();
  }
}
