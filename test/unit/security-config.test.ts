import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { loadKafkaConfig, loadServiceConfig, redactUrlPassword } from '../../src/config/config.js';
import { OfferError } from '../../src/errors.js';

const MINIMAL = {
  KAFKA_BROKERS: '127.0.0.1:9092',
  CLICKHOUSE_URL: 'http://127.0.0.1:8123',
  REDIS_URL: 'redis://127.0.0.1:6379',
};
const dir = mkdtempSync(join(tmpdir(), 'offers-config-'));
const CA_FILE = join(dir, 'ca.pem');
writeFileSync(CA_FILE, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
const NOT_PEM = join(dir, 'not.pem');
writeFileSync(NOT_PEM, 'hello');

function configError(env: Record<string, string>): string {
  try {
    loadServiceConfig({ ...MINIMAL, ...env });
  } catch (error) {
    assert.ok(error instanceof OfferError);
    assert.equal(error.code, 'CONFIG_INVALID');
    return error.message;
  }
  assert.fail('expected the configuration to be rejected');
}

describe('Kafka SASL and TLS configuration', () => {
  it('uses neither by default', () => {
    const { kafka } = loadServiceConfig(MINIMAL);
    assert.equal(kafka.sasl, undefined);
    assert.equal(kafka.tls, undefined);
  });

  it('reads SASL credentials and the CA bundle', () => {
    const { kafka } = loadServiceConfig({
      ...MINIMAL,
      KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512',
      KAFKA_SASL_USERNAME: 'offers',
      KAFKA_SASL_PASSWORD: 's3cret',
      KAFKA_TLS: 'true',
      KAFKA_TLS_CA_FILE: CA_FILE,
    });
    assert.deepEqual(kafka.sasl, {
      mechanism: 'scram-sha-512',
      username: 'offers',
      password: 's3cret',
    });
    assert.match(kafka.tls?.ca ?? '', /BEGIN CERTIFICATE/);
    assert.deepEqual(loadServiceConfig({ ...MINIMAL, KAFKA_TLS: 'true' }).kafka.tls, {});
  });

  it('applies to the commands that only talk to Kafka', () => {
    const config = loadKafkaConfig({
      KAFKA_BROKERS: '127.0.0.1:9093',
      KAFKA_SASL_MECHANISM: 'plain',
      KAFKA_SASL_USERNAME: 'u',
      KAFKA_SASL_PASSWORD: 'p',
    });
    assert.equal(config.sasl?.mechanism, 'plain');
    assert.throws(
      () => loadKafkaConfig({ KAFKA_BROKERS: '127.0.0.1:9093', KAFKA_SASL_MECHANISM: 'plain' }),
      /KAFKA_SASL_USERNAME \(unset\): is required when KAFKA_SASL_MECHANISM is set/,
    );
  });

  it('names an unknown mechanism and lists the allowed ones', () => {
    assert.match(
      configError({ KAFKA_SASL_MECHANISM: 'gssapi' }),
      /KAFKA_SASL_MECHANISM \("gssapi"\): must be one of plain, scram-sha-256, scram-sha-512/,
    );
  });

  it('requires both credentials with a mechanism, without showing the password', () => {
    const message = configError({ KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_PASSWORD: '' });
    assert.match(message, /KAFKA_SASL_USERNAME \(unset\): is required/);
    assert.match(message, /KAFKA_SASL_PASSWORD \(set\): is required/);
  });

  it('rejects credentials without a mechanism instead of connecting unauthenticated', () => {
    const message = configError({ KAFKA_SASL_USERNAME: 'offers', KAFKA_SASL_PASSWORD: 'x' });
    assert.match(
      message,
      /KAFKA_SASL_USERNAME \("offers"\): is set but KAFKA_SASL_MECHANISM is not/,
    );
    assert.match(message, /KAFKA_SASL_PASSWORD \(set\): is set but/);
    assert.doesNotMatch(message, /"x"/);
  });

  it('checks the CA file at start: readable, PEM, and only with KAFKA_TLS', () => {
    assert.match(
      configError({ KAFKA_TLS: 'true', KAFKA_TLS_CA_FILE: join(dir, 'missing.pem') }),
      /KAFKA_TLS_CA_FILE \(".*missing\.pem"\): cannot read the file \(ENOENT\)/,
    );
    assert.match(
      configError({ KAFKA_TLS: 'true', KAFKA_TLS_CA_FILE: NOT_PEM }),
      /KAFKA_TLS_CA_FILE \(".*not\.pem"\): is not a PEM file with CA certificates/,
    );
    assert.match(
      configError({ KAFKA_TLS_CA_FILE: CA_FILE }),
      /KAFKA_TLS_CA_FILE \(".*ca\.pem"\): needs KAFKA_TLS=true/,
    );
  });
});

describe('passwords in configuration errors', () => {
  it('masks the password of a URL shown in an error', () => {
    const message = configError({ REDIS_URL: 'redis://offers:hunter2@redis:notaport' });
    assert.match(message, /REDIS_URL \("redis:\/\/offers:\*\*\*@redis:notaport"\)/);
    assert.doesNotMatch(message, /hunter2/);
    const clickhouse = configError({ CLICKHOUSE_URL: 'ftp://u:pw@clickhouse:8123' });
    assert.doesNotMatch(clickhouse, /:pw@/);
  });

  it('redacts userinfo passwords, and only those', () => {
    assert.equal(redactUrlPassword('redis://:pw@h:1/0'), 'redis://:***@h:1/0');
    assert.equal(redactUrlPassword('rediss://user:p%40ss@h:1'), 'rediss://user:***@h:1');
    assert.equal(redactUrlPassword('redis://h:6379'), 'redis://h:6379');
    assert.equal(redactUrlPassword('kafka-0:9092,kafka-1:9092'), 'kafka-0:9092,kafka-1:9092');
  });
});
