import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import kafkajs from 'kafkajs';

import { migrate } from '../../src/sinks/clickhouse-migration.js';
import { infraDir, Services, type InfraEnv } from '../support/infra.js';
import { OtlpReceiver } from '../support/otlp-receiver.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, fatalMessage, runCli, waitFor } from '../support/service.js';

// A broker with SASL (SCRAM, PLAIN) and TLS listeners and ACLs enforced, ClickHouse with a
// password-protected user confined to one database, Redis with an ACL user: the services of
// its own state dir (scripts/infra with INFRA_SECURITY=1), next to the shared ones.
const SECURITY_INFRA_DIR = process.env.SECURITY_INFRA_DIR ?? `${infraDir()}-security`;
const DATABASE = 'offers';
const VALID = 300;
const INVALID = 7;

/** The least privileges the README documents, per store. */
const REDIS_COMMANDS = ['+evalsha', '+eval', '+get', '+set', '+info'];

function need(vars: Record<string, string>, name: string): string {
  const value = vars[name];
  if (value === undefined || value === '') throw new Error(`the security infra has no ${name}`);
  return value;
}

// The ACL enums are not named exports of kafkajs's CommonJS build.
const {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  Kafka,
  logLevel,
  ResourcePatternTypes,
} = kafkajs;

describe('security: authenticated, encrypted, least-privileged connections', () => {
  const services = new Services(SECURITY_INFRA_DIR, { INFRA_SECURITY: '1' });
  const consumers: ConsumerProcess[] = [];
  /** Everything the service wrote or served, searched for secrets at the end. */
  const observed: string[] = [];
  let infra: InfraEnv;
  let fixture: PipelineFixture;
  let receiver: OtlpReceiver;
  let kafkaAdmin: kafkajs.Admin;
  let redisUser: string;
  let redisPassword: string;
  const wrongPasswords = [
    `wrong-${randomBytes(12).toString('hex')}`,
    `wrong-${randomBytes(12).toString('hex')}`,
    `wrong-${randomBytes(12).toString('hex')}`,
  ];

  const vars = (): Record<string, string> => infra.vars;
  const redisUrl = (user: string, password: string): string =>
    `redis://${user}:${password}@${new URL(infra.redisUrl).host}`;

  /** The service's environment with every credential right; tests break one at a time. */
  function secureEnv(overrides: Record<string, string> = {}): Record<string, string> {
    return {
      ...fixture.env(),
      KAFKA_BROKERS: need(vars(), 'KAFKA_SASL_SSL_BROKERS'),
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: need(vars(), 'KAFKA_SERVICE_USER'),
      KAFKA_SASL_PASSWORD: need(vars(), 'KAFKA_SERVICE_PASSWORD'),
      KAFKA_TLS: 'true',
      KAFKA_TLS_CA_FILE: need(vars(), 'KAFKA_TEST_CA_FILE'),
      CLICKHOUSE_USER: need(vars(), 'CLICKHOUSE_SERVICE_USER'),
      CLICKHOUSE_PASSWORD: need(vars(), 'CLICKHOUSE_SERVICE_PASSWORD'),
      CLICKHOUSE_DATABASE: DATABASE,
      REDIS_URL: redisUrl(redisUser, redisPassword),
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_TRACES_SAMPLER: 'always_on',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      ...overrides,
    };
  }

  async function start(env: Record<string, string>): Promise<ConsumerProcess> {
    const consumer = await ConsumerProcess.start(env);
    consumers.push(consumer);
    return consumer;
  }

  /** Runs a consumer that must refuse to work; resolves with its exit code and output. */
  async function mustFail(
    env: Record<string, string>,
  ): Promise<{ code: number | null; output: string }> {
    const consumer = await start(env);
    const code = await consumer.waitExit();
    observed.push(consumer.output);
    return { code, output: consumer.output };
  }

  async function grantRedisUser(name: string, commands: readonly string[]): Promise<void> {
    await fixture.redis.call(
      'ACL',
      'SETUSER',
      name,
      'reset',
      'on',
      `>${redisPassword}`,
      `~${fixture.keyPrefix}*`,
      'resetchannels',
      '-@all',
      ...commands,
    );
  }

  before(async () => {
    infra = await services.up();
    receiver = await OtlpReceiver.start();
    fixture = new PipelineFixture(infra);
    await fixture.setUp(3, { createTable: false });
    await migrate(fixture.clickhouse, {
      database: DATABASE,
      table: fixture.table,
      cluster: '',
      ttlDays: 0,
    });
    redisUser = `offers-${fixture.id}`;
    redisPassword = randomBytes(18).toString('hex');
    await grantRedisUser(redisUser, REDIS_COMMANDS);

    // ACLs are administered over the PLAINTEXT listener, whose anonymous principal is a
    // super user of this test broker; kafkajs is used directly because the service itself
    // never manages ACLs.
    kafkaAdmin = new Kafka({
      clientId: 'security-test-admin',
      brokers: infra.kafkaBrokers,
      logLevel: logLevel.NOTHING,
    }).admin();
    await kafkaAdmin.connect();
    const principal = `User:${need(vars(), 'KAFKA_SERVICE_USER')}`;
    const allow = (
      resourceType: kafkajs.AclResourceTypes,
      resourceName: string,
      operation: kafkajs.AclOperationTypes,
    ) => ({
      resourceType,
      resourceName,
      resourcePatternType: ResourcePatternTypes.LITERAL,
      principal,
      host: '*',
      operation,
      permissionType: AclPermissionTypes.ALLOW,
    });
    // The least the service needs: Read on the input topic and on the group, Write on the
    // DLQ topic (each implies Describe), and DescribeConfigs on the DLQ topic (its record
    // limit, which dead letters are cut to). The chart's KafkaUser grants these plus explicit
    // Describes; no cluster-level ACL is needed.
    await kafkaAdmin.createAcls({
      acl: [
        allow(AclResourceTypes.TOPIC, fixture.topic, AclOperationTypes.READ),
        allow(AclResourceTypes.TOPIC, fixture.dlqTopic, AclOperationTypes.WRITE),
        allow(AclResourceTypes.TOPIC, fixture.dlqTopic, AclOperationTypes.DESCRIBE_CONFIGS),
        allow(AclResourceTypes.GROUP, fixture.groupId, AclOperationTypes.READ),
      ],
    });
  });

  after(async () => {
    for (const consumer of consumers) await consumer.stop('SIGKILL');
    await kafkaAdmin.disconnect();
    await fixture.redis.call('ACL', 'DELUSER', redisUser, `${redisUser}-limited`);
    await fixture.clickhouse
      .command({ query: `DROP TABLE IF EXISTS ${DATABASE}.${fixture.table}` })
      .catch(() => undefined);
    await fixture.tearDown();
    await receiver.close();
    if (process.env.SECURITY_KEEP_INFRA !== '1') await services.down();
  });

  it('works with the right credentials: SCRAM-SHA-512 over TLS, a ClickHouse user, a Redis ACL user', async () => {
    await fixture.redis.call('ACL', 'LOG', 'RESET');
    const consumer = await start(secureEnv());
    await consumer.waitReady();
    // Produced over the PLAINTEXT listener: the service's own user may not write the input.
    const sent = await runCli(
      ['send', '--count', String(VALID), '--invalid', String(INVALID), '--no-progress'],
      fixture.env(),
    );
    assert.equal(sent.code, 0, sent.stderr);
    await fixture.waitCommittedToEnd();

    const [stored] = await fixture.queryRows<{ users: string }>(
      `SELECT uniqExact(user_id) AS users FROM ${DATABASE}.${fixture.table} FINAL`,
    );
    assert.equal(Number(stored?.users), VALID, 'every offer is in ClickHouse');
    assert.equal((await fixture.redisKeys()).length, VALID, 'every offer is in Redis');
    assert.equal(
      (await fixture.readDeadLetters(INVALID)).length,
      INVALID,
      'every bad message is in the DLQ',
    );
    assert.doesNotMatch(
      consumer.output,
      /could not read the DLQ topic's max.message.bytes/,
      "the DLQ topic's record limit is read with the granted ACLs",
    );
    const denied = (await fixture.redis.call('ACL', 'LOG')) as unknown[];
    assert.deepEqual(denied, [], `the Redis user needs nothing beyond ${REDIS_COMMANDS.join(' ')}`);

    for (const path of ['/metrics', '/readyz', '/healthz']) {
      const response = await fetch(`http://127.0.0.1:${consumer.httpPort}${path}`);
      observed.push(await response.text());
    }
    assert.equal(await consumer.stop('SIGTERM'), 0);
    observed.push(consumer.output);
    await waitFor('spans at the receiver', () => receiver.spans.length > 0, 10_000);
  });

  it('also authenticates with SCRAM-SHA-256 and PLAIN on the SASL_PLAINTEXT listener', async () => {
    for (const mechanism of ['scram-sha-256', 'plain']) {
      const result = await runCli(
        ['lag'],
        secureEnv({
          KAFKA_BROKERS: need(vars(), 'KAFKA_SASL_BROKERS'),
          KAFKA_SASL_MECHANISM: mechanism,
          KAFKA_TLS: 'false',
          KAFKA_TLS_CA_FILE: '',
        }),
      );
      observed.push(result.stdout, result.stderr);
      assert.equal(result.code, 0, `${mechanism}: ${result.stderr}`);
      assert.match(result.stdout, /total lag 0/);
    }
  });

  it('stops with exit code 1 naming the problem when the Kafka password is wrong', async () => {
    const started = Date.now();
    const { code, output } = await mustFail(
      secureEnv({ KAFKA_SASL_PASSWORD: wrongPasswords[0] ?? '' }),
    );
    assert.equal(code, 1, output.slice(-2000));
    assert.match(output, /SASL SCRAM SHA512 authentication failed.*invalid credentials/);
    assert.ok(Date.now() - started < 30_000, 'no endless retry');
  });

  it('stops with exit code 1 when the broker certificate is not from the configured CA', async () => {
    const { code, output } = await mustFail(
      secureEnv({ KAFKA_TLS_CA_FILE: need(vars(), 'KAFKA_TEST_OTHER_CA_FILE') }),
    );
    assert.equal(code, 1, output.slice(-2000));
    assert.match(output, /certificate/i);
  });

  it('refuses to start on an unreadable CA file or a mechanism without credentials', async () => {
    const missing = await mustFail(secureEnv({ KAFKA_TLS_CA_FILE: '/nonexistent/ca.pem' }));
    assert.equal(missing.code, 1);
    assert.match(
      fatalMessage(missing.output),
      /KAFKA_TLS_CA_FILE \("\/nonexistent\/ca.pem"\): cannot read/,
    );
    const incomplete = await mustFail(secureEnv({ KAFKA_SASL_PASSWORD: '' }));
    assert.equal(incomplete.code, 1);
    assert.match(fatalMessage(incomplete.output), /KAFKA_SASL_PASSWORD \(set\): is required/);
    // A URL with a password in a configuration error is shown with the password masked.
    const badUrl = await mustFail(
      secureEnv({ REDIS_URL: `${redisUrl(redisUser, redisPassword)}:notaport` }),
    );
    assert.equal(badUrl.code, 1);
    assert.match(
      fatalMessage(badUrl.output),
      new RegExp(`REDIS_URL \\("redis://${redisUser}:\\*\\*\\*@`),
    );
  });

  it('stops at start with exit code 1 naming ClickHouse when its password is wrong', async () => {
    const { code, output } = await mustFail(
      secureEnv({ CLICKHOUSE_PASSWORD: wrongPasswords[1] ?? '' }),
    );
    assert.equal(code, 1, output.slice(-2000));
    assert.match(output, /ClickHouse start-up check failed: .*Wrong password for user offers/);
  });

  it('stops at start with exit code 1 naming Redis when its password is wrong', async () => {
    const { code, output } = await mustFail(
      secureEnv({ REDIS_URL: redisUrl(redisUser, wrongPasswords[2] ?? '') }),
    );
    assert.equal(code, 1, output.slice(-2000));
    assert.match(output, /Redis connection failed: .*WRONGPASS/);
  });

  it('stops with exit code 1 naming Redis when its user lacks a command the service needs', async () => {
    const limited = `${redisUser}-limited`;
    await grantRedisUser(
      limited,
      REDIS_COMMANDS.filter((command) => command !== '+evalsha'),
    );
    const consumer = await start(secureEnv({ REDIS_URL: redisUrl(limited, redisPassword) }));
    await consumer.waitReady();
    const sent = await runCli(
      ['send', '--count', '20', '--first-id', '5000', '--no-progress'],
      fixture.env(),
    );
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(await consumer.waitExit(), 1, consumer.output.slice(-2000));
    observed.push(consumer.output);
    assert.match(consumer.output, /Redis offer write failed: NOPERM.*unrecoverable failure/);
  });

  it('stops with exit code 1 when the Kafka user may not write the dead-letter topic', async () => {
    // A DLQ topic outside the user's ACLs: the write is refused, and no retry can change that.
    const unwritable = `${fixture.topic}.dlq-unwritable`;
    const admin = await fixture.kafka.admin();
    await admin.ensureTopics([{ name: unwritable, partitions: 1 }]);
    await admin.disconnect();
    await kafkaAdmin.createAcls({
      acl: [
        {
          resourceType: AclResourceTypes.TOPIC,
          resourceName: unwritable,
          resourcePatternType: ResourcePatternTypes.LITERAL,
          principal: `User:${need(vars(), 'KAFKA_SERVICE_USER')}`,
          host: '*',
          operation: AclOperationTypes.DESCRIBE,
          permissionType: AclPermissionTypes.ALLOW,
        },
      ],
    });
    const consumer = await start(secureEnv({ KAFKA_DLQ_TOPIC: unwritable }));
    await consumer.waitReady();
    const sent = await runCli(
      ['send', '--count', '5', '--first-id', '6000', '--invalid', '2', '--no-progress'],
      fixture.env(),
    );
    assert.equal(sent.code, 0, sent.stderr);
    assert.equal(await consumer.waitExit(), 1, consumer.output.slice(-2000));
    observed.push(consumer.output);
    assert.match(
      consumer.output,
      /dead-letter write failed: Not authorized to access topics.*unrecoverable failure/,
    );
  });

  it('writes no secret to its logs, errors, metrics, readiness answers or spans', () => {
    const secrets = [
      need(vars(), 'KAFKA_SERVICE_PASSWORD'),
      need(vars(), 'CLICKHOUSE_SERVICE_PASSWORD'),
      redisPassword,
      ...wrongPasswords,
    ];
    const spans = JSON.stringify(receiver.spans);
    assert.ok(observed.join('').length > 10_000, 'there is output to search');
    assert.ok(receiver.spans.length > 0, 'there are spans to search');
    for (const secret of secrets) {
      for (const [index, text] of [...observed, spans].entries()) {
        assert.ok(!text.includes(secret), `a secret appears in output #${index}`);
      }
    }
  });
});
