import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { startInfra } from '../support/infra.js';
import { runCli } from '../support/service.js';

describe('CLI start-up errors', () => {
  it('consume exits non-zero naming the bad variable and the allowed values', async () => {
    const result = await runCli(['consume'], {
      KAFKA_BROKERS: '127.0.0.1:1',
      CLICKHOUSE_URL: 'http://127.0.0.1:1',
      REDIS_URL: 'redis://127.0.0.1:1',
      LOG_LEVEL: 'chatty',
      KAFKA_OFFSET_RESET: 'middle',
    });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /LOG_LEVEL \("chatty"\): must be one of fatal, error, warn, info, debug, trace, silent/,
    );
    assert.match(result.stderr, /KAFKA_OFFSET_RESET \("middle"\): must be one of earliest, latest/);
  });

  it('consume exits non-zero with a clear message when the model file is missing', async () => {
    const result = await runCli(['consume'], {
      KAFKA_BROKERS: '127.0.0.1:1',
      CLICKHOUSE_URL: 'http://127.0.0.1:1',
      REDIS_URL: 'redis://127.0.0.1:1',
      MODEL_PATH: 'model/does-not-exist.onnx',
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /does-not-exist\.onnx/);
  });

  it('consume with REDIS_MODE=cluster against one Redis exits 1 naming why', async () => {
    const infra = await startInfra();
    const result = await runCli(['consume'], {
      KAFKA_BROKERS: infra.kafkaBrokers.join(','),
      CLICKHOUSE_URL: infra.clickhouseUrl,
      CLICKHOUSE_USER: infra.clickhouseUser,
      CLICKHOUSE_PASSWORD: infra.clickhousePassword,
      REDIS_URL: infra.redisUrl,
      REDIS_MODE: 'cluster',
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr + result.stdout, /cluster support disabled/);
  });

  it('an unknown command prints the usage and exits 2', async () => {
    const result = await runCli(['frobnicate'], {});
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown command "frobnicate"/);
    assert.match(result.stderr, /usage: realtime-offers/);
  });
});
