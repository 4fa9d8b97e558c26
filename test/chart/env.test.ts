import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import {
  ENVIRONMENT_VARIABLES,
  loadClickHouseConfig,
  loadServiceConfig,
  loadSmokeConfig,
} from '../../src/config/config.js';
import { containers, only, render, resolvedEnv, template, VALUES_FILES } from './support.js';

/**
 * The chart maps onto exactly the service's variables: every variable src/config/variables.ts declares (the service's)
 * reads is set by the Deployment (or deliberately left to the service's default, listed
 * below with the reason), and every variable the chart sets is one the service or its
 * libraries read.
 */
const CONFIG_NAMES = ENVIRONMENT_VARIABLES;

// The service only checks that the file holds a PEM certificate block.
const TEST_CA_FILE = path.join(mkdtempSync(path.join(tmpdir(), 'chart-ca-')), 'ca.crt');
writeFileSync(TEST_CA_FILE, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');

// The service reads the CA files at start; in the cluster the chart mounts them from Secrets.
function withTestCa(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).map(([name, value]) => [
      name,
      name.endsWith('_TLS_CA_FILE') ? TEST_CA_FILE : value,
    ]),
  );
}

// Read by the service, left to its defaults by the chart (extraEnv sets them when needed).
const LEFT_TO_DEFAULTS: Readonly<Record<string, string>> = {
  OTEL_SDK_DISABLED: 'tracing is off by leaving otel.endpoint empty',
  OTEL_TRACES_EXPORTER: 'otlp, the only exporter a cluster uses',
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'otel.endpoint covers it',
  OTEL_EXPORTER_OTLP_ENDPOINT: 'set only when otel.endpoint is',
  OTEL_BSP_SCHEDULE_DELAY: 'batch span processor tuning',
  OTEL_BSP_MAX_QUEUE_SIZE: 'batch span processor tuning',
  OTEL_BSP_MAX_EXPORT_BATCH_SIZE: 'batch span processor tuning',
  OTEL_BSP_EXPORT_TIMEOUT: 'batch span processor tuning',
  KAFKA_SASL_MECHANISM: 'set only when kafka.sasl is configured',
  KAFKA_SASL_USERNAME: 'set only when kafka.sasl is configured',
  KAFKA_SASL_PASSWORD: 'set only when kafka.sasl is configured',
  ...Object.fromEntries(
    ['KAFKA', 'CLICKHOUSE', 'REDIS'].flatMap((store) => [
      [`${store}_TLS_CA_FILE`, 'set only when a CA Secret is configured'],
      [`${store}_TLS_CERT_FILE`, 'set only when a client certificate Secret is configured'],
      [`${store}_TLS_KEY_FILE`, 'set only when a client certificate Secret is configured'],
      [`${store}_TLS_KEY_PASSWORD`, 'set only when the client key has a password key'],
    ]),
  ),
};

// Set by the chart although config.ts does not read them.
const CHART_ONLY: Readonly<Record<string, string>> = {
  OTEL_RESOURCE_ATTRIBUTES: 'read by the OpenTelemetry SDK itself',
  K8S_POD_NAME: 'downward API, interpolated into OTEL_RESOURCE_ATTRIBUTES',
  K8S_NAMESPACE: 'downward API, interpolated into OTEL_RESOURCE_ATTRIBUTES',
  REDIS_PASSWORD: 'from the Secret, interpolated into REDIS_URL',
  NODE_OPTIONS: 'read by Node.js itself (nodeOptions: V8 settings)',
};

describe('chart: environment of the service', () => {
  it('reads the variable names from src/config/config.ts', () => {
    for (const name of ['KAFKA_BROKERS', 'CLICKHOUSE_URL', 'REDIS_URL', 'SHUTDOWN_GRACE_MS']) {
      assert.ok(CONFIG_NAMES.includes(name), `${name} not found in config.ts`);
    }
  });

  for (const { name, files } of VALUES_FILES) {
    it(`the Deployment sets every service variable and nothing unknown (${name} values)`, () => {
      const [consumer] = containers(only(render(files), 'Deployment'));
      const set = new Set((consumer?.env ?? []).map((variable) => variable.name));
      const missing = CONFIG_NAMES.filter(
        (variable) => !set.has(variable) && !(variable in LEFT_TO_DEFAULTS),
      );
      // CLICKHOUSE_PASSWORD is absent only when no Secret is configured (an empty password).
      const allowedMissing = name === 'default' ? ['CLICKHOUSE_PASSWORD'] : [];
      assert.deepEqual(
        missing.filter((variable) => !allowedMissing.includes(variable)),
        [],
      );
      const unknown = [...set].filter(
        (variable) => !CONFIG_NAMES.includes(variable) && !(variable in CHART_ONLY),
      );
      assert.deepEqual(unknown, []);
    });

    it(`the service accepts the environment the chart builds (${name} values)`, () => {
      const manifests = render(files);
      const [consumer] = containers(only(manifests, 'Deployment'));
      const [migrate] = containers(only(manifests, 'Job'));
      const [smoke] = containers(only(manifests, 'Pod'));
      assert.ok(consumer && migrate && smoke);
      const service = loadServiceConfig(withTestCa(resolvedEnv(consumer)));
      assert.equal(service.http.port, 8080);
      assert.ok(service.redis.url.startsWith('redis'));
      const clickhouse = loadClickHouseConfig(withTestCa(resolvedEnv(migrate)));
      assert.equal(clickhouse.url, service.clickhouse.url);
      assert.equal(clickhouse.table, service.clickhouse.table);
      const smokeConfig = loadSmokeConfig(withTestCa(resolvedEnv(smoke)));
      assert.equal(smokeConfig.kafka.topic, service.kafka.topic);
      assert.equal(smokeConfig.redis.url, service.redis.url);
      assert.equal(smokeConfig.redis.keyPrefix, service.redis.keyPrefix);
    });
  }

  it('gives the consumer and the replay Job the measured V8 settings, and none when nodeOptions is empty', () => {
    const nodeOptions = (manifests: ReturnType<typeof render>, kind: string) =>
      manifests
        .filter((manifest) => manifest.kind === kind)
        .flatMap((manifest) => containers(manifest))
        .flatMap((container) => container.env ?? [])
        .filter((variable) => variable.name === 'NODE_OPTIONS')
        .map((variable) => variable.value);
    const replay = ['replay.enabled=true', 'replay.from=1700000000000', 'replay.to=1700003600000'];
    const defaults = render([], replay);
    assert.deepEqual(nodeOptions(defaults, 'Deployment'), ['--max-semi-space-size=8']);
    assert.ok(
      nodeOptions(defaults, 'Job').includes('--max-semi-space-size=8'),
      'the replay Job runs the pipeline with the same V8 settings',
    );
    const none = render([], [...replay, 'nodeOptions=']);
    assert.deepEqual(nodeOptions(none, 'Deployment'), []);
    assert.deepEqual(nodeOptions(none, 'Job'), []);
  });

  it('composes REDIS_URL from the password Secret, or takes it whole from the Secret', () => {
    const composed = resolvedEnv(
      containers(only(render(['values-kind.yaml']), 'Deployment'))[0] ?? { name: '' },
    );
    assert.equal(composed.REDIS_URL, 'redis://:secret-redis-credentials-password@redis:6379/0');
    const whole = render([], ['redis.existingSecret=redis-url', 'redis.existingSecretUrlKey=url']);
    const [consumer] = containers(only(whole, 'Deployment'));
    const redisUrl = consumer?.env?.find((variable) => variable.name === 'REDIS_URL');
    assert.deepEqual(redisUrl?.valueFrom?.secretKeyRef, { name: 'redis-url', key: 'url' });
  });

  it('maps redis.mode and redis.waitReplicas, for the service and for helm test', () => {
    const manifests = render(['values-production-example.yaml']);
    const env = resolvedEnv(containers(only(manifests, 'Deployment'))[0] ?? { name: '' });
    assert.equal(env.REDIS_MODE, 'cluster');
    assert.equal(env.REDIS_WAIT_REPLICAS, '1');
    const config = loadServiceConfig(withTestCa(env));
    assert.equal(config.redis.mode, 'cluster');
    assert.deepEqual(config.redis.nodes, [
      'rediss://:secret-realtime-offers-redis-password@clustercfg.redis.example.com:6380/0',
    ]);
    const smoke = manifests.find((manifest) => manifest.kind === 'Pod');
    assert.ok(smoke !== undefined, 'the helm test Pod');
    assert.equal(
      loadSmokeConfig(withTestCa(resolvedEnv(containers(smoke)[0] ?? { name: '' }))).redis.mode,
      'cluster',
    );
  });

  it('refuses a Redis Cluster database other than 0, and a replica wait without a cluster', () => {
    const cluster = template([], ['redis.mode=cluster', 'redis.db=2']);
    assert.notEqual(cluster.status, 0);
    assert.match(cluster.stderr, /redis.mode cluster needs redis.db 0/);
    const wait = template([], ['redis.waitReplicas=1']);
    assert.notEqual(wait.status, 0);
    assert.match(wait.stderr, /redis.waitReplicas needs redis.mode cluster/);
    assert.notEqual(template([], ['redis.mode=sentinel']).status, 0, 'the schema knows the modes');
  });

  it('maps the Kafka SASL/TLS values onto the names the service will read', () => {
    const env = resolvedEnv(
      containers(only(render(['values-production-example.yaml']), 'Deployment'))[0] ?? { name: '' },
    );
    assert.equal(env.KAFKA_SASL_MECHANISM, 'scram-sha-512');
    assert.equal(env.KAFKA_SASL_USERNAME, 'realtime-offers');
    assert.equal(env.KAFKA_SASL_PASSWORD, 'secret-realtime-offers-kafka-password');
    assert.equal(env.KAFKA_TLS, 'true');
    assert.equal(env.KAFKA_TLS_CA_FILE, '/etc/realtime-offers/kafka-ca/ca.crt');
    assert.match(env.OTEL_RESOURCE_ATTRIBUTES ?? '', /k8s\.pod\.name=field-metadata\.name/);
  });
});
