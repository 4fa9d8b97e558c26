import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import {
  loadClickHouseConfig,
  loadKafkaConfig,
  loadServiceConfig,
} from '../../src/config/config.js';
import { OfferError } from '../../src/errors.js';

const MINIMAL = {
  KAFKA_BROKERS: '127.0.0.1:9092',
  CLICKHOUSE_URL: 'http://127.0.0.1:8123',
  REDIS_URL: 'redis://127.0.0.1:6379',
};

function configError(env: Record<string, string>): string {
  try {
    loadServiceConfig(env);
  } catch (error) {
    assert.ok(error instanceof OfferError);
    assert.equal(error.code, 'CONFIG_INVALID');
    assert.equal(error.retriable, false);
    return error.message;
  }
  assert.fail('expected the configuration to be rejected');
}

describe('loadServiceConfig', () => {
  it('fills every default from a minimal environment', () => {
    const config = loadServiceConfig(MINIMAL);
    assert.deepEqual(config.kafka.brokers, ['127.0.0.1:9092']);
    assert.equal(config.kafka.topic, 'streaming-user-registration');
    assert.equal(config.kafka.dlqTopic, 'streaming-user-registration.dlq');
    assert.equal(config.kafka.groupId, 'realtime-offers');
    assert.equal(config.kafka.fromBeginning, true);
    assert.equal(config.messageMaxBytes, 65_536);
    assert.equal(config.clickhouse.table, 'personal_offer');
    assert.equal(config.clickhouse.createTable, false);
    assert.equal(config.redis.keyPrefix, '');
    assert.equal(config.redis.ttlSeconds, 0);
    assert.equal(config.logLevel, 'info');
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.kafka));
  });

  it('derives the DLQ topic from the input topic, and accepts an explicit one', () => {
    assert.equal(loadServiceConfig({ ...MINIMAL, KAFKA_TOPIC: 'regs' }).kafka.dlqTopic, 'regs.dlq');
    assert.equal(loadServiceConfig({ ...MINIMAL, KAFKA_DLQ_TOPIC: 'dead' }).kafka.dlqTopic, 'dead');
  });

  it('parses lists, numbers, flags and enums', () => {
    const config = loadServiceConfig({
      ...MINIMAL,
      KAFKA_BROKERS: 'a:1, b:2',
      KAFKA_OFFSET_RESET: 'LATEST',
      CLICKHOUSE_CREATE_TABLE: 'yes',
      REDIS_TTL_SECONDS: '3600',
      LOG_LEVEL: 'debug',
    });
    assert.deepEqual(config.kafka.brokers, ['a:1', 'b:2']);
    assert.equal(config.kafka.fromBeginning, false);
    assert.equal(config.clickhouse.createTable, true);
    assert.equal(config.redis.ttlSeconds, 3600);
    assert.equal(config.logLevel, 'debug');
  });

  it('MODEL_SHA256: 64 hex digits (upper case taken as lower), or empty for no check', () => {
    assert.equal(loadServiceConfig(MINIMAL).model.sha256, '');
    assert.equal(
      loadServiceConfig({ ...MINIMAL, MODEL_SHA256: 'AB'.repeat(32) }).model.sha256,
      'ab'.repeat(32),
    );
    assert.match(
      configError({ ...MINIMAL, MODEL_SHA256: 'sha256:' + 'ab'.repeat(32) }),
      /MODEL_SHA256 \("sha256:ab[ab]*"\): must be a SHA-256 digest: 64 hexadecimal digits \(or empty for no check\)/,
    );
    assert.match(configError({ ...MINIMAL, MODEL_SHA256: 'ab'.repeat(31) }), /MODEL_SHA256/);
  });

  it('MODEL_SHADOW_PATH: off when empty; set, a shadow model and the table <CLICKHOUSE_TABLE>_shadow', () => {
    const off = loadServiceConfig(MINIMAL);
    assert.equal(off.model.shadow, undefined);
    assert.equal(off.clickhouse.shadowTable, '');
    assert.equal(loadServiceConfig({ ...MINIMAL, MODEL_SHADOW_PATH: '' }).model.shadow, undefined);
    const on = loadServiceConfig({
      ...MINIMAL,
      CLICKHOUSE_TABLE: 'offers',
      MODEL_SHADOW_PATH: '/models/candidate.onnx',
      MODEL_SHADOW_SHA256: 'CD'.repeat(32),
    });
    assert.deepEqual(on.model.shadow, { path: '/models/candidate.onnx', sha256: 'cd'.repeat(32) });
    assert.equal(on.clickhouse.shadowTable, 'offers_shadow');
    assert.equal(
      loadClickHouseConfig({ CLICKHOUSE_URL: 'http://c:8123', MODEL_SHADOW_PATH: '/m.onnx' })
        .shadowTable,
      'personal_offer_shadow',
    );
    assert.equal(loadClickHouseConfig({ CLICKHOUSE_URL: 'http://c:8123' }).shadowTable, '');
  });

  it('refuses a shadow model that is the live one, a bad MODEL_SHADOW_SHA256, or one without a path', () => {
    assert.match(
      configError({ ...MINIMAL, MODEL_PATH: '/m.onnx', MODEL_SHADOW_PATH: '/m.onnx' }),
      /MODEL_SHADOW_PATH \("\/m\.onnx"\): must differ from MODEL_PATH/,
    );
    assert.match(
      configError({ ...MINIMAL, MODEL_SHADOW_PATH: '/c.onnx', MODEL_SHADOW_SHA256: 'xyz' }),
      /MODEL_SHADOW_SHA256 \("xyz"\): must be a SHA-256 digest/,
    );
    assert.match(
      configError({ ...MINIMAL, MODEL_SHADOW_SHA256: 'ab'.repeat(32) }),
      /MODEL_SHADOW_SHA256 \("ab[ab]*"\): checks the shadow model: set MODEL_SHADOW_PATH too/,
    );
  });

  it('treats an empty value as unset', () => {
    assert.equal(loadServiceConfig({ ...MINIMAL, LOG_LEVEL: '' }).logLevel, 'info');
  });

  it('names the variable, its value and the allowed values', () => {
    const message = configError({ ...MINIMAL, LOG_LEVEL: 'loud' });
    assert.match(
      message,
      /LOG_LEVEL \("loud"\): must be one of fatal, error, warn, info, debug, trace, silent/,
    );
    assert.match(
      configError({ ...MINIMAL, HTTP_PORT: '70000' }),
      /HTTP_PORT \("70000"\): must be a whole number from 0 to 65535/,
    );
    assert.match(
      configError({ ...MINIMAL, CLICKHOUSE_CREATE_TABLE: 'maybe' }),
      /CLICKHOUSE_CREATE_TABLE .*true, false/,
    );
    assert.match(
      configError({ ...MINIMAL, KAFKA_BROKERS: 'localhost' }),
      /KAFKA_BROKERS .*host:port/,
    );
    assert.match(configError({ ...MINIMAL, REDIS_URL: 'http://x' }), /REDIS_URL .*redis:\/\//);
    assert.match(
      configError({ ...MINIMAL, CLICKHOUSE_TABLE: 'offers; drop' }),
      /CLICKHOUSE_TABLE .*plain identifier/,
    );
  });

  it('takes one Redis by default and a Redis Cluster from REDIS_MODE=cluster', () => {
    const single = loadServiceConfig(MINIMAL);
    assert.equal(single.redis.mode, 'standalone');
    assert.equal(single.redis.url, 'redis://127.0.0.1:6379');
    assert.equal(single.redis.waitReplicas, 0);
    const cluster = loadServiceConfig({
      ...MINIMAL,
      REDIS_MODE: 'Cluster',
      REDIS_URL: 'rediss://offers:pw@node-0:6379, rediss://offers:pw@node-1:6379/0',
      REDIS_WAIT_REPLICAS: '1',
    });
    assert.equal(cluster.redis.mode, 'cluster');
    assert.deepEqual(cluster.redis.nodes, [
      'rediss://offers:pw@node-0:6379',
      'rediss://offers:pw@node-1:6379/0',
    ]);
    assert.equal(cluster.redis.waitReplicas, 1);
  });

  it('rejects Redis settings that do not fit the mode, naming the variable', () => {
    assert.match(
      configError({ ...MINIMAL, REDIS_MODE: 'sharded' }),
      /REDIS_MODE \("sharded"\): must be one of standalone, cluster/,
    );
    assert.match(
      configError({ ...MINIMAL, REDIS_URL: 'redis://a:6379,redis://b:6379' }),
      /REDIS_URL .*holds 2 URLs.*REDIS_MODE=cluster/,
    );
    assert.match(
      configError({ ...MINIMAL, REDIS_WAIT_REPLICAS: '1' }),
      /REDIS_WAIT_REPLICAS .*needs REDIS_MODE=cluster/,
    );
    const cluster = { ...MINIMAL, REDIS_MODE: 'cluster' };
    assert.match(
      configError({ ...cluster, REDIS_URL: 'redis://:a@n0:6379,redis://:b@n1:6379' }),
      /REDIS_URL \("redis:\/\/:\*\*\*@n0:6379,redis:\/\/:\*\*\*@n1:6379"\): .*same scheme, user and password/,
    );
    assert.match(
      configError({ ...cluster, REDIS_URL: 'redis://n0:6379/2' }),
      /REDIS_URL .*database must be 0/,
    );
    assert.match(
      configError({ ...cluster, REDIS_URL: 'redis://n0:6379,n1:6379' }),
      /REDIS_URL .*comma-separated list of them/,
    );
    assert.match(
      configError({ ...cluster, REDIS_WAIT_REPLICAS: '9' }),
      /REDIS_WAIT_REPLICAS .*from 0 to 5/,
    );
  });

  it('reports every missing required variable at once', () => {
    const message = configError({});
    for (const name of ['KAFKA_BROKERS', 'CLICKHOUSE_URL', 'REDIS_URL']) {
      assert.match(message, new RegExp(`${name} \\(unset\\): is required`));
    }
  });

  it('enforces cross-field rules', () => {
    assert.match(
      configError({
        ...MINIMAL,
        KAFKA_HEARTBEAT_INTERVAL_MS: '30000',
        KAFKA_SESSION_TIMEOUT_MS: '30000',
      }),
      /KAFKA_HEARTBEAT_INTERVAL_MS .*lower than KAFKA_SESSION_TIMEOUT_MS/,
    );
    assert.match(
      configError({ ...MINIMAL, SINK_RETRY_INITIAL_MS: '9000', SINK_RETRY_MAX_MS: '1000' }),
      /SINK_RETRY_INITIAL_MS .*SINK_RETRY_MAX_MS/,
    );
    assert.match(
      configError({ ...MINIMAL, KAFKA_DLQ_TOPIC: 'streaming-user-registration' }),
      /KAFKA_DLQ_TOPIC .*differ/,
    );
  });
});

describe('per-command configuration', () => {
  it('needs only Kafka for send and only ClickHouse for migrate', () => {
    assert.equal(loadKafkaConfig({ KAFKA_BROKERS: 'k:1' }).topic, 'streaming-user-registration');
    assert.equal(loadClickHouseConfig({ CLICKHOUSE_URL: 'http://c:8123' }).table, 'personal_offer');
    assert.throws(() => loadKafkaConfig({}), /KAFKA_BROKERS/);
  });
});
