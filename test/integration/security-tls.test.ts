import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import { createClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import kafkajs from 'kafkajs';

import { infraDir, Services, type InfraEnv } from '../support/infra.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, fatalMessage, runCli } from '../support/service.js';

// Mutual TLS to Kafka, ClickHouse over HTTPS and Redis over TLS, each with the test CA, and
// users that can do their job and nothing else: the services of the security state dir
// (scripts/infra with INFRA_SECURITY=1), which security.test.ts shares and takes down.
const SECURITY_INFRA_DIR = process.env.SECURITY_INFRA_DIR ?? `${infraDir()}-security`;
const DATABASE = 'offers';
const VALID = 400;
const INVALID = 9;

// The ACL enums are not named exports of kafkajs's CommonJS build.
const {
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  Kafka,
  logLevel,
  ResourcePatternTypes,
} = kafkajs;

function need(vars: Record<string, string>, name: string): string {
  const value = vars[name];
  if (value === undefined || value === '') throw new Error(`the security infra has no ${name}`);
  return value;
}

describe('security: mutual TLS, private CAs and least-privilege users on the real servers', () => {
  const services = new Services(SECURITY_INFRA_DIR, { INFRA_SECURITY: '1' });
  const consumers: ConsumerProcess[] = [];
  let infra: InfraEnv;
  let fixture: PipelineFixture;
  let kafkaAdmin: kafkajs.Admin | undefined;

  const v = (name: string): string => need(infra.vars, name);

  /** The service over TLS everywhere, as the least-privileged users; tests change one thing. */
  function tlsEnv(overrides: Record<string, string> = {}): Record<string, string> {
    const redisAddress = new URL(v('REDIS_TLS_URL')).host;
    return {
      ...fixture.env(),
      KAFKA_BROKERS: v('KAFKA_SSL_BROKERS'),
      KAFKA_TLS: 'true',
      KAFKA_TLS_CA_FILE: v('TLS_CA_FILE'),
      KAFKA_TLS_CERT_FILE: v('TLS_CLIENT_CERT_FILE'),
      // The encrypted copy of the key, so the password reaches the TLS client.
      KAFKA_TLS_KEY_FILE: v('TLS_CLIENT_ENCRYPTED_KEY_FILE'),
      KAFKA_TLS_KEY_PASSWORD: v('TLS_CLIENT_KEY_PASSWORD'),
      CLICKHOUSE_URL: v('CLICKHOUSE_HTTPS_URL'),
      CLICKHOUSE_USER: v('CLICKHOUSE_SERVICE_USER'),
      CLICKHOUSE_PASSWORD: v('CLICKHOUSE_SERVICE_PASSWORD'),
      CLICKHOUSE_DATABASE: DATABASE,
      CLICKHOUSE_TLS_CA_FILE: v('TLS_CA_FILE'),
      CLICKHOUSE_TLS_CERT_FILE: v('TLS_CLIENT_CERT_FILE'),
      CLICKHOUSE_TLS_KEY_FILE: v('TLS_CLIENT_ENCRYPTED_KEY_FILE'),
      CLICKHOUSE_TLS_KEY_PASSWORD: v('TLS_CLIENT_KEY_PASSWORD'),
      REDIS_URL: `rediss://${v('REDIS_SERVICE_USER')}:${v('REDIS_SERVICE_PASSWORD')}@${redisAddress}`,
      REDIS_TLS_CA_FILE: v('TLS_CA_FILE'),
      REDIS_TLS_CERT_FILE: v('TLS_CLIENT_CERT_FILE'),
      REDIS_TLS_KEY_FILE: v('TLS_CLIENT_KEY_FILE'),
      ...overrides,
    };
  }

  /**
   * Runs a consumer that must refuse to start: its exit code, its fatal message, and whether
   * start-up gave up on a store only when its window closed. A refusal ends start-up as soon
   * as a store gives it (on a busy machine a first handshake may time out and be retried).
   */
  async function refused(
    env: Record<string, string>,
  ): Promise<{ code: number | null; message: string; timedOut: boolean }> {
    const consumer = await ConsumerProcess.start(env);
    consumers.push(consumer);
    const code = await consumer.waitExit();
    const message = fatalMessage(consumer.output);
    return { code, message, timedOut: message.includes('was not ready within') };
  }

  before(async () => {
    infra = await services.up();
    fixture = new PipelineFixture(infra, {
      keyPrefix: need(infra.vars, 'REDIS_SERVICE_KEY_PREFIX'),
    });
    await fixture.setUp(3, { createTable: false });
    // The table comes from `migrate` as the migration user, over HTTPS with the test CA.
    const migrated = await runCli(['migrate'], {
      CLICKHOUSE_URL: v('CLICKHOUSE_HTTPS_URL'),
      CLICKHOUSE_USER: v('CLICKHOUSE_MIGRATE_USER'),
      CLICKHOUSE_PASSWORD: v('CLICKHOUSE_MIGRATE_PASSWORD'),
      CLICKHOUSE_DATABASE: DATABASE,
      CLICKHOUSE_TABLE: fixture.table,
      CLICKHOUSE_TLS_CA_FILE: v('TLS_CA_FILE'),
    });
    assert.equal(migrated.code, 0, migrated.stderr);

    // The certificate's principal gets what the README lists for the service, nothing more.
    kafkaAdmin = new Kafka({
      clientId: 'security-tls-test-admin',
      brokers: infra.kafkaBrokers,
      logLevel: logLevel.NOTHING,
    }).admin();
    await kafkaAdmin.connect();
    const allow = (
      resourceType: kafkajs.AclResourceTypes,
      resourceName: string,
      operation: kafkajs.AclOperationTypes,
    ) => ({
      resourceType,
      resourceName,
      resourcePatternType: ResourcePatternTypes.LITERAL,
      principal: v('KAFKA_MTLS_PRINCIPAL'),
      host: '*',
      operation,
      permissionType: AclPermissionTypes.ALLOW,
    });
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
    await kafkaAdmin?.disconnect();
    await fixture.clickhouse
      .command({ query: `DROP TABLE IF EXISTS ${DATABASE}.${fixture.table}` })
      .catch(() => undefined);
    await fixture.tearDown();
  });

  it('stores every valid message once and dead-letters every invalid one, over TLS everywhere', async () => {
    await fixture.redis.call('ACL', 'LOG', 'RESET');
    const consumer = await ConsumerProcess.start(tlsEnv());
    consumers.push(consumer);
    await consumer.waitReady();
    // Produced over the PLAINTEXT listener: the service's principal may not write the input.
    const sent = await runCli(
      ['send', '--count', String(VALID), '--invalid', String(INVALID), '--no-progress'],
      fixture.env(),
    );
    assert.equal(sent.code, 0, sent.stderr);
    await fixture.waitCommittedToEnd();

    const [stored] = await fixture.queryRows<{ rows: string; users: string }>(
      `SELECT count() AS rows, uniqExact(user_id) AS users FROM ${DATABASE}.${fixture.table} FINAL`,
    );
    assert.equal(Number(stored?.users), VALID, 'every valid message is in ClickHouse');
    assert.equal(Number(stored?.rows), VALID, 'once');
    assert.equal((await fixture.redisKeys()).length, VALID, 'every offer is in Redis');
    assert.equal(
      (await fixture.readDeadLetters(INVALID)).length,
      INVALID,
      'every bad one in the DLQ',
    );
    assert.equal(await consumer.metric('offers_dead_lettered_total'), INVALID);
    const denied = (await fixture.redis.call('ACL', 'LOG')) as unknown[];
    assert.deepEqual(denied, [], 'the Redis ACL user needs nothing beyond its rules');
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it('refuses the ClickHouse consumer user DDL, which the migration user may run', async () => {
    const ca = Buffer.from(await readFile(v('TLS_CA_FILE')));
    const connect = (user: string, password: string) =>
      createClient({
        url: v('CLICKHOUSE_HTTPS_URL'),
        username: user,
        password,
        database: DATABASE,
        tls: { ca_cert: ca },
      });
    const consumerUser = connect(v('CLICKHOUSE_SERVICE_USER'), v('CLICKHOUSE_SERVICE_PASSWORD'));
    const migrationUser = connect(v('CLICKHOUSE_MIGRATE_USER'), v('CLICKHOUSE_MIGRATE_PASSWORD'));
    try {
      for (const query of [
        `DROP TABLE ${DATABASE}.${fixture.table}`,
        `TRUNCATE TABLE ${DATABASE}.${fixture.table}`,
      ]) {
        await assert.rejects(consumerUser.command({ query }), /DDL queries are prohibited/);
      }
      const scratch = `${fixture.table}_scratch`;
      await migrationUser.command({
        query: `CREATE TABLE ${DATABASE}.${scratch} (x UInt8) ENGINE = Memory`,
      });
      await migrationUser.command({ query: `DROP TABLE ${DATABASE}.${scratch}` });
    } finally {
      await consumerUser.close();
      await migrationUser.close();
    }
    // And the service, asked to create a table that does not exist yet as the consumer user,
    // stops at once naming the right it lacks. (Its existing table, already at the settings'
    // schema, needs no DDL: migrate then changes nothing and the consumer starts.)
    const { code, message } = await refused(
      tlsEnv({ CLICKHOUSE_CREATE_TABLE: 'true', CLICKHOUSE_TABLE: `${fixture.table}_new` }),
    );
    assert.equal(code, 1);
    assert.match(
      message,
      /ClickHouse migration failed: .*DDL queries are prohibited.*CLICKHOUSE_USER lacks a right/,
    );
  });

  it('refuses the Redis user FLUSHALL, CONFIG and keys outside its prefix', async () => {
    const redis = new Redis(tlsEnv().REDIS_URL ?? '', {
      tls: { ca: await readFile(v('TLS_CA_FILE'), 'utf8') },
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    });
    try {
      await redis.connect();
      await assert.rejects(redis.flushall(), /NOPERM/);
      await assert.rejects(redis.call('CONFIG', 'GET', 'maxmemory'), /NOPERM/);
      await assert.rejects(redis.set('elsewhere:1', 'x'), /NOPERM/);
      await assert.rejects(redis.get('1'), /NOPERM/);
      await redis.set(`${fixture.keyPrefix}probe`, 'x');
      assert.equal(await redis.get(`${fixture.keyPrefix}probe`), 'x');
      await assert.rejects(redis.call('ACL', 'WHOAMI'), /NOPERM/);
    } finally {
      redis.disconnect();
    }
  });

  it('refuses a Kafka client certificate from another CA, and none, naming it', async () => {
    // Each run starts a consumer process; they run side by side.
    const [foreign, none] = await Promise.all([
      refused(
        tlsEnv({
          KAFKA_TLS_CERT_FILE: v('TLS_OTHER_CLIENT_CERT_FILE'),
          KAFKA_TLS_KEY_FILE: v('TLS_OTHER_CLIENT_KEY_FILE'),
          KAFKA_TLS_KEY_PASSWORD: '',
        }),
      ),
      refused(
        tlsEnv({ KAFKA_TLS_CERT_FILE: '', KAFKA_TLS_KEY_FILE: '', KAFKA_TLS_KEY_PASSWORD: '' }),
      ),
    ]);
    assert.equal(foreign.code, 1);
    assert.match(foreign.message, /Kafka refused the connection: .*KAFKA_TLS_CERT_FILE/);
    assert.equal(none.code, 1);
    assert.match(none.message, /Kafka refused the connection: .*KAFKA_TLS_CERT_FILE/);
    for (const run of [foreign, none]) assert.equal(run.timedOut, false, run.message);
  });

  it('refuses a server certificate from a CA it was not given, naming the store and setting', async () => {
    const other = v('TLS_OTHER_CA_FILE');
    const [kafka, clickhouse, redis] = await Promise.all([
      refused(tlsEnv({ KAFKA_TLS_CA_FILE: other })),
      refused(tlsEnv({ CLICKHOUSE_TLS_CA_FILE: other })),
      refused(tlsEnv({ REDIS_TLS_CA_FILE: other })),
    ]);
    assert.match(kafka.message, /Kafka refused the connection: .*not trusted.*KAFKA_TLS_CA_FILE/);
    assert.match(
      clickhouse.message,
      /ClickHouse start-up check failed: .*not trusted.*CLICKHOUSE_TLS_CA_FILE/,
    );
    assert.match(redis.message, /Redis connection failed: .*not trusted.*REDIS_TLS_CA_FILE/);
    for (const run of [kafka, clickhouse, redis]) {
      assert.equal(run.code, 1);
      assert.equal(run.timedOut, false, run.message);
    }
  });

  it('refuses a ClickHouse or Redis client certificate from another CA, naming it', async () => {
    const foreign = {
      cert: v('TLS_OTHER_CLIENT_CERT_FILE'),
      key: v('TLS_OTHER_CLIENT_KEY_FILE'),
    };
    const [clickhouse, redis] = await Promise.all([
      refused(
        tlsEnv({
          CLICKHOUSE_TLS_CERT_FILE: foreign.cert,
          CLICKHOUSE_TLS_KEY_FILE: foreign.key,
          CLICKHOUSE_TLS_KEY_PASSWORD: '',
        }),
      ),
      refused(tlsEnv({ REDIS_TLS_CERT_FILE: foreign.cert, REDIS_TLS_KEY_FILE: foreign.key })),
    ]);
    assert.match(
      clickhouse.message,
      /ClickHouse start-up check failed: .*CLICKHOUSE_TLS_CERT_FILE/,
    );
    assert.match(redis.message, /Redis connection failed: .*REDIS_TLS_CERT_FILE/);
    for (const run of [clickhouse, redis]) {
      assert.equal(run.code, 1);
      assert.equal(run.timedOut, false, run.message);
    }
  });

  it('stops on an unusable key or certificate before connecting, naming the variable', async () => {
    const [mismatched, wrongPassword] = await Promise.all([
      refused(
        tlsEnv({ KAFKA_TLS_KEY_FILE: v('TLS_OTHER_CLIENT_KEY_FILE'), KAFKA_TLS_KEY_PASSWORD: '' }),
      ),
      refused(
        tlsEnv({
          REDIS_TLS_KEY_FILE: v('TLS_CLIENT_ENCRYPTED_KEY_FILE'),
          REDIS_TLS_KEY_PASSWORD: 'not-it',
        }),
      ),
    ]);
    assert.match(
      mismatched.message,
      /KAFKA_TLS_CERT_FILE \(".*client\.crt"\): is not the certificate of KAFKA_TLS_KEY_FILE/,
    );
    assert.match(
      wrongPassword.message,
      /REDIS_TLS_KEY_FILE .*cannot be decrypted with REDIS_TLS_KEY_PASSWORD/,
    );
    assert.doesNotMatch(wrongPassword.message, /not-it/);
  });

  it('says that the NetworkPolicy may be why a store times out at start', async () => {
    // Nothing listens on this port: as with a port a NetworkPolicy drops, start-up waits.
    const { code, message } = await refused(
      tlsEnv({
        KAFKA_BROKERS: '127.0.0.1:1',
        STARTUP_TIMEOUT_MS: '1500',
        NETWORK_POLICY_ENABLED: 'true',
      }),
    );
    assert.equal(code, 1);
    assert.match(message, /Kafka was not ready within 1\.5 s.*networkPolicy\.kafka\.ports/);
  });
});
