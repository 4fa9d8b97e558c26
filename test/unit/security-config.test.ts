import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import {
  loadClickHouseConfig,
  loadKafkaConfig,
  loadServiceConfig,
  redactUrlPassword,
} from '../../src/config/config.js';
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

// Real keys and certificates (openssl, as the local services' set-up uses): a client
// certificate, its key also encrypted, and a key of another pair.
function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}
openssl(
  'req',
  '-x509',
  '-newkey',
  'rsa:2048',
  '-nodes',
  '-days',
  '2',
  '-subj',
  '/CN=client',
  '-keyout',
  'client.key',
  '-out',
  'client.crt',
);
openssl(
  'pkcs8',
  '-topk8',
  '-v2',
  'aes-256-cbc',
  '-in',
  'client.key',
  '-out',
  'encrypted.key',
  '-passout',
  'pass:open-sesame',
);
openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', 'other.key');
const CERT = join(dir, 'client.crt');
const KEY = join(dir, 'client.key');
const ENCRYPTED_KEY = join(dir, 'encrypted.key');
const OTHER_KEY = join(dir, 'other.key');

describe('TLS files of Kafka, ClickHouse and Redis', () => {
  const stores = [
    { prefix: 'KAFKA', on: { KAFKA_TLS: 'true' } },
    { prefix: 'CLICKHOUSE', on: { CLICKHOUSE_URL: 'https://clickhouse:8443' } },
    { prefix: 'REDIS', on: { REDIS_URL: 'rediss://redis:6380' } },
  ] as const;

  it('reads the CA, the client certificate and its (encrypted) key of each store', () => {
    const config = loadServiceConfig({
      ...MINIMAL,
      KAFKA_TLS: 'true',
      CLICKHOUSE_URL: 'https://clickhouse:8443',
      REDIS_URL: 'rediss://redis:6380',
      ...Object.fromEntries(
        stores.flatMap(({ prefix }) => [
          [`${prefix}_TLS_CA_FILE`, CA_FILE],
          [`${prefix}_TLS_CERT_FILE`, CERT],
          [`${prefix}_TLS_KEY_FILE`, ENCRYPTED_KEY],
          [`${prefix}_TLS_KEY_PASSWORD`, 'open-sesame'],
        ]),
      ),
    });
    for (const tls of [config.kafka.tls, config.clickhouse.tls, config.redis.tls]) {
      assert.match(tls?.ca ?? '', /BEGIN CERTIFICATE/);
      assert.match(tls?.cert ?? '', /BEGIN CERTIFICATE/);
      assert.match(tls?.key ?? '', /BEGIN ENCRYPTED PRIVATE KEY/);
      assert.equal(tls?.passphrase, 'open-sesame');
    }
    assert.equal(
      loadClickHouseConfig({
        CLICKHOUSE_URL: 'https://c:8443',
        CLICKHOUSE_TLS_CA_FILE: CA_FILE,
      }).tls?.ca?.includes('BEGIN CERTIFICATE'),
      true,
      'the migrate command takes them too',
    );
    assert.equal(loadServiceConfig(MINIMAL).redis.tls, undefined);
  });

  for (const { prefix, on } of stores) {
    it(`${prefix}: names the variable of a key or certificate that cannot work`, () => {
      const error = (env: Record<string, string>) => configError({ ...on, ...env });
      assert.match(
        error({ [`${prefix}_TLS_CERT_FILE`]: CERT }),
        new RegExp(`${prefix}_TLS_KEY_FILE \\(unset\\): is required with ${prefix}_TLS_CERT_FILE`),
      );
      assert.match(
        error({ [`${prefix}_TLS_CERT_FILE`]: CERT, [`${prefix}_TLS_KEY_FILE`]: OTHER_KEY }),
        new RegExp(
          `${prefix}_TLS_CERT_FILE \\(".*client\\.crt"\\): is not the certificate of ${prefix}_TLS_KEY_FILE`,
        ),
      );
      const wrong = error({
        [`${prefix}_TLS_CERT_FILE`]: CERT,
        [`${prefix}_TLS_KEY_FILE`]: ENCRYPTED_KEY,
        [`${prefix}_TLS_KEY_PASSWORD`]: 'not-the-password',
      });
      assert.match(
        wrong,
        new RegExp(`${prefix}_TLS_KEY_FILE .*cannot be decrypted with ${prefix}_TLS_KEY_PASSWORD`),
      );
      assert.doesNotMatch(wrong, /not-the-password/);
      assert.match(
        error({ [`${prefix}_TLS_CERT_FILE`]: CERT, [`${prefix}_TLS_KEY_FILE`]: ENCRYPTED_KEY }),
        new RegExp(`${prefix}_TLS_KEY_FILE .*it is encrypted \\(set ${prefix}_TLS_KEY_PASSWORD\\)`),
      );
      assert.match(
        error({ [`${prefix}_TLS_CERT_FILE`]: KEY, [`${prefix}_TLS_KEY_FILE`]: KEY }),
        new RegExp(`${prefix}_TLS_CERT_FILE \\(".*client\\.key"\\): is not a PEM certificate`),
      );
      assert.match(
        error({ [`${prefix}_TLS_CERT_FILE`]: CERT, [`${prefix}_TLS_KEY_FILE`]: CERT }),
        new RegExp(`${prefix}_TLS_KEY_FILE \\(".*client\\.crt"\\): is not a PEM private key`),
      );
      assert.match(
        error({ [`${prefix}_TLS_CA_FILE`]: join(dir, 'missing.pem') }),
        new RegExp(
          `${prefix}_TLS_CA_FILE \\(".*missing\\.pem"\\): cannot read the file \\(ENOENT\\)`,
        ),
      );
    });
  }

  it('refuses TLS files for a connection without TLS, naming what turns it on', () => {
    assert.match(
      configError({ CLICKHOUSE_TLS_CA_FILE: CA_FILE }),
      /CLICKHOUSE_TLS_CA_FILE \(".*"\): needs CLICKHOUSE_URL to start with https:\/\//,
    );
    assert.match(
      configError({ REDIS_TLS_CERT_FILE: CERT, REDIS_TLS_KEY_FILE: KEY }),
      /REDIS_TLS_CERT_FILE \(".*"\): needs REDIS_URL to start with rediss:\/\/ \(TLS\)/,
    );
  });

  it('treats an empty key password as none, as a chart renders an unset one', () => {
    const config = loadServiceConfig({
      ...MINIMAL,
      KAFKA_TLS: 'true',
      KAFKA_TLS_CERT_FILE: CERT,
      KAFKA_TLS_KEY_FILE: KEY,
      KAFKA_TLS_KEY_PASSWORD: '',
    });
    assert.equal(config.kafka.tls?.passphrase, undefined);
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
