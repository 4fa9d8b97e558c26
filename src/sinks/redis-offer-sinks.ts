import type { ServiceConfig } from '../config/config.js';
import { errorMessage } from '../errors.js';
import type { Logger } from '../telemetry/logger.js';
import type { StoredOffer } from './offer-record.js';
import { createRedisClusterClient, RedisClusterOfferSink } from './redis-cluster-sink.js';
import { createRedisClient, RedisOfferSink } from './redis-sink.js';
import type { Sink } from './sink.js';

/** The Redis side of the service, whichever REDIS_MODE. */
export interface RedisOffers extends Sink<StoredOffer> {
  /** The connection is up (readiness). */
  readonly ready: boolean;
  close(): Promise<void>;
}

/** The offer sink of REDIS_MODE: one Redis (or a primary with replicas), or a Redis Cluster. */
export function openRedisSink(config: ServiceConfig['redis'], logger: Logger): RedisOffers {
  const logConnectionError = (error: unknown) => {
    logger.debug({ err: errorMessage(error) }, 'redis connection error');
  };
  if (config.mode === 'cluster') {
    const client = createRedisClusterClient(config.nodes, {
      ...(config.tls === undefined ? {} : { tls: config.tls }),
    });
    client.on('error', logConnectionError);
    return new RedisClusterOfferSink(client, config);
  }
  const client = createRedisClient(config.url, config.tls);
  client.on('error', logConnectionError);
  return new RedisOfferSink(client, config);
}
