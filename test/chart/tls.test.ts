import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import {
  loadClickHouseConfig,
  loadServiceConfig,
  loadSmokeConfig,
} from '../../src/config/config.js';
import {
  all,
  at,
  containers,
  only,
  podSpec,
  render,
  resolvedEnv,
  template,
  type Container,
  type Manifest,
} from './support.js';

/**
 * Mutual TLS to a Strimzi Kafka (the KafkaUser's Secret as it is), private CAs for ClickHouse
 * and Redis, and a migration user of its own: what the consumer, the migration Job, the helm
 * test and KEDA receive.
 */
const SECURED = [
  'kafka.brokers=kafka-kafka-bootstrap:9093',
  'kafka.tls.enabled=true',
  'kafka.tls.caSecret=kafka-cluster-ca-cert',
  'strimzi.user.enabled=true',
  'strimzi.user.name=offers-consumer',
  'strimzi.user.authentication=tls',
  'clickhouse.url=https://clickhouse-offers:8443',
  'clickhouse.tls.caSecret=clickhouse-ca',
  'clickhouse.tls.certSecret=clickhouse-client',
  'clickhouse.tls.keyPasswordSecretKey=key-password',
  'redis.scheme=rediss',
  'redis.port=6380',
  'redis.tls.caSecret=redis-ca',
  'migration.clickhouse.user=offers_migrate',
  'migration.clickhouse.existingSecret=clickhouse-migrate',
];

// Real PEM files for the paths the chart mounts, so that the service's config accepts them.
const dir = mkdtempSync(path.join(tmpdir(), 'chart-tls-'));
execFileSync(
  'openssl',
  [
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
  ],
  { cwd: dir, stdio: 'ignore' },
);
const FILES = {
  ca: path.join(dir, 'ca.crt'),
  cert: path.join(dir, 'client.crt'),
  key: path.join(dir, 'client.key'),
};
writeFileSync(FILES.ca, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');

/** The container's env with the mounted files swapped for local ones (an unencrypted key). */
function localFiles(container: Container): Record<string, string> {
  const env = resolvedEnv(container);
  const swapped: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (name.endsWith('_TLS_CA_FILE')) swapped[name] = FILES.ca;
    else if (name.endsWith('_TLS_CERT_FILE')) swapped[name] = FILES.cert;
    else if (name.endsWith('_TLS_KEY_FILE')) swapped[name] = FILES.key;
    else if (!name.endsWith('_TLS_KEY_PASSWORD')) swapped[name] = value;
  }
  return swapped;
}

function envOf(manifest: Manifest): Record<string, string> {
  const [container] = containers(manifest);
  assert.ok(container);
  return resolvedEnv(container);
}

/** Each mounted file's Secret and key: `/etc/...` path -> `secret/key`. */
function mountedFiles(manifest: Manifest): Map<string, string> {
  const pod = podSpec(manifest);
  const [container] = containers(manifest);
  const volumes = (pod.volumes ?? []) as {
    name: string;
    secret?: { secretName: string; items: { key: string; path: string }[] };
  }[];
  const files = new Map<string, string>();
  for (const mount of container?.volumeMounts ?? []) {
    const secret = volumes.find((volume) => volume.name === mount.name)?.secret;
    for (const item of secret?.items ?? []) {
      files.set(`${mount.mountPath}/${item.path}`, `${secret?.secretName}/${item.key}`);
    }
  }
  return files;
}

describe('chart: mutual TLS and private CAs', () => {
  const manifests = render([], SECURED);
  const deployment = only(manifests, 'Deployment');
  const job = only(manifests, 'Job');
  const smoke = only(manifests, 'Pod');

  it("mounts the KafkaUser's Secret as it is and the three CAs into the consumer", () => {
    const env = envOf(deployment);
    const files = mountedFiles(deployment);
    const expected: Record<string, string> = {
      KAFKA_TLS_CA_FILE: 'kafka-cluster-ca-cert/ca.crt',
      KAFKA_TLS_CERT_FILE: 'offers-consumer/user.crt',
      KAFKA_TLS_KEY_FILE: 'offers-consumer/user.key',
      CLICKHOUSE_TLS_CA_FILE: 'clickhouse-ca/ca.crt',
      CLICKHOUSE_TLS_CERT_FILE: 'clickhouse-client/tls.crt',
      CLICKHOUSE_TLS_KEY_FILE: 'clickhouse-client/tls.key',
      REDIS_TLS_CA_FILE: 'redis-ca/ca.crt',
    };
    for (const [name, source] of Object.entries(expected)) {
      assert.equal(files.get(env[name] ?? ''), source, `${name} is ${source}`);
    }
    assert.equal(env.KAFKA_TLS_KEY_PASSWORD, undefined, "Strimzi's user.key is not encrypted");
    assert.equal(env.CLICKHOUSE_TLS_KEY_PASSWORD, 'secret-clickhouse-client-key-password');
    assert.equal(env.REDIS_TLS_CERT_FILE, undefined);
    assert.equal(env.NETWORK_POLICY_ENABLED, 'true');
    const config = loadServiceConfig(localFiles(containers(deployment)[0] ?? { name: '' }));
    assert.ok(config.kafka.tls?.cert !== undefined && config.clickhouse.tls?.ca !== undefined);
    assert.ok(config.redis.tls?.ca !== undefined);
  });

  it('runs the migration Job as its own user, with the ClickHouse TLS files only', () => {
    const env = envOf(job);
    assert.equal(env.CLICKHOUSE_USER, 'offers_migrate');
    assert.equal(env.CLICKHOUSE_PASSWORD, 'secret-clickhouse-migrate-password');
    const files = mountedFiles(job);
    assert.equal(files.get(env.CLICKHOUSE_TLS_CA_FILE ?? ''), 'clickhouse-ca/ca.crt');
    assert.equal(files.get(env.CLICKHOUSE_TLS_CERT_FILE ?? ''), 'clickhouse-client/tls.crt');
    assert.ok(
      !Object.keys(env).some((name) => /^(KAFKA|REDIS)_TLS_/.test(name)),
      'no Kafka or Redis files in the Job',
    );
    const config = loadClickHouseConfig(localFiles(containers(job)[0] ?? { name: '' }));
    assert.equal(config.user, 'offers_migrate');
    assert.ok(config.tls?.cert !== undefined);
    const consumer = envOf(deployment);
    assert.equal(consumer.CLICKHOUSE_USER, 'offers', 'the consumer keeps its own user');
  });

  it('falls back to the one ClickHouse user when no migration user is given', () => {
    const single = render([], ['clickhouse.existingSecret=clickhouse-credentials']);
    const env = envOf(only(single, 'Job'));
    assert.equal(env.CLICKHOUSE_USER, 'offers');
    assert.equal(env.CLICKHOUSE_PASSWORD, 'secret-clickhouse-credentials-password');
  });

  it("gives the helm test its own KafkaUser's certificate and the Redis CA", () => {
    const env = envOf(smoke);
    const files = mountedFiles(smoke);
    assert.equal(files.get(env.KAFKA_TLS_CERT_FILE ?? ''), 'offers-consumer-smoke/user.crt');
    assert.equal(files.get(env.REDIS_TLS_CA_FILE ?? ''), 'redis-ca/ca.crt');
    assert.equal(env.KAFKA_SASL_MECHANISM, undefined);
    assert.ok(loadSmokeConfig(localFiles(containers(smoke)[0] ?? { name: '' })).kafka.tls?.key);
    const users = all(manifests, 'KafkaUser');
    assert.deepEqual(
      users.map((user) => [user.metadata.name, at(user, 'spec', 'authentication', 'type')]),
      [
        ['offers-consumer', 'tls'],
        ['offers-consumer-smoke', 'tls'],
      ],
    );
  });

  it('authenticates KEDA with the same CA, certificate and key as the consumer', () => {
    const auth = only(manifests, 'TriggerAuthentication');
    const trigger = at(only(manifests, 'ScaledObject'), 'spec', 'triggers', 0) as {
      metadata: Record<string, string>;
      authenticationRef?: { name: string };
    };
    assert.equal(trigger.authenticationRef?.name, auth.metadata.name);
    assert.equal(trigger.metadata.tls, 'enable');
    assert.equal(trigger.metadata.sasl, undefined);
    assert.deepEqual(at(auth, 'spec', 'secretTargetRef'), [
      { parameter: 'ca', name: 'kafka-cluster-ca-cert', key: 'ca.crt' },
      { parameter: 'cert', name: 'offers-consumer', key: 'user.crt' },
      { parameter: 'key', name: 'offers-consumer', key: 'user.key' },
    ]);
    assert.equal(at(auth, 'spec', 'env'), undefined);
  });

  it('passes a client key password to KEDA too', () => {
    const withPassword = render(
      [],
      [
        'kafka.tls.enabled=true',
        'kafka.tls.certSecret=offers-client',
        'kafka.tls.keyPasswordSecretKey=password',
      ],
    );
    const refs = at(only(withPassword, 'TriggerAuthentication'), 'spec', 'secretTargetRef');
    assert.deepEqual(refs, [
      { parameter: 'cert', name: 'offers-client', key: 'user.crt' },
      { parameter: 'key', name: 'offers-client', key: 'user.key' },
      { parameter: 'keyPassword', name: 'offers-client', key: 'password' },
    ]);
    assert.equal(
      envOf(only(withPassword, 'Deployment')).KAFKA_TLS_KEY_PASSWORD,
      'secret-offers-client-password',
    );
  });

  it('refuses TLS values that cannot work together, naming them', () => {
    const cases: [string[], RegExp][] = [
      [
        [
          'strimzi.user.enabled=true',
          'strimzi.user.authentication=tls',
          'kafka.tls.enabled=true',
          'kafka.sasl.enabled=true',
        ],
        /strimzi.user.authentication tls .* set kafka.sasl.enabled false/,
      ],
      [['strimzi.user.enabled=true', 'strimzi.user.authentication=tls'], /needs kafka.tls.enabled/],
      [
        ['kafka.tls.certSecret=x'],
        /kafka.tls.caSecret and kafka.tls.certSecret need kafka.tls.enabled/,
      ],
      [['clickhouse.tls.caSecret=x'], /clickhouse.tls needs an https:\/\/ clickhouse.url/],
      [['redis.tls.caSecret=x'], /redis.tls needs redis.scheme rediss/],
      [['strimzi.user.authentication=gssapi'], /authentication/],
    ];
    for (const [sets, message] of cases) {
      const result = template([], sets);
      assert.notEqual(result.status, 0, sets.join(' '));
      assert.match(result.stderr, message);
    }
  });

  it('tells the service whether the NetworkPolicy is on', () => {
    const off = render([], ['networkPolicy.enabled=false']);
    assert.equal(envOf(only(off, 'Deployment')).NETWORK_POLICY_ENABLED, 'false');
    assert.equal(all(off, 'NetworkPolicy').length, 0);
  });
});
