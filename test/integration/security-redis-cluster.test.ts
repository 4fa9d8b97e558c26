import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import { Cluster } from 'ioredis';

import { isOfferError } from '../../src/errors.js';
import { createRedisClusterClient } from '../../src/sinks/redis-cluster-sink.js';
import { RedisClusterOfferSink } from '../../src/sinks/redis-cluster-sink.js';
import { infraDir, Services, type InfraEnv } from '../support/infra.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, runCli } from '../support/service.js';

// A Redis Cluster (3 primaries + 3 replicas) whose clients, cluster bus and replication speak
// TLS with the test CA, and an ACL user confined to its key prefix and commands: the services
// of a state dir of their own (INFRA_SECURITY=1 with INFRA_REDIS_MODE=cluster).
const CLUSTER_INFRA_DIR =
  process.env.SECURITY_REDIS_CLUSTER_INFRA_DIR ?? `${infraDir()}-security-redis-cluster`;
const VALID = 600;
const INVALID = 5;

function need(vars: Record<string, string>, name: string): string {
  const value = vars[name];
  if (value === undefined || value === '') throw new Error(`the security infra has no ${name}`);
  return value;
}

describe('security: a Redis Cluster over TLS with a private CA and an ACL user', () => {
  const services = new Services(CLUSTER_INFRA_DIR, {
    INFRA_SECURITY: '1',
    INFRA_REDIS_MODE: 'cluster',
  });
  const consumers: ConsumerProcess[] = [];
  let infra: InfraEnv;
  let fixture: PipelineFixture;

  const v = (name: string): string => need(infra.vars, name);
  /** The TLS node URLs with the ACL user's credentials. */
  const tlsUrls = (): string[] =>
    v('REDIS_TLS_URL')
      .split(',')
      .map(
        (url) =>
          `rediss://${v('REDIS_SERVICE_USER')}:${v('REDIS_SERVICE_PASSWORD')}@${new URL(url).host}`,
      );

  before(async () => {
    infra = await services.up();
    fixture = new PipelineFixture(infra, { keyPrefix: v('REDIS_SERVICE_KEY_PREFIX') });
    await fixture.setUp(3);
  });

  after(async () => {
    for (const consumer of consumers) await consumer.stop('SIGKILL');
    await fixture.tearDown();
    if (process.env.SECURITY_KEEP_INFRA !== '1') await services.down();
  });

  it('runs the pipeline against it end to end: every valid message stored once, every invalid one dead-lettered', async () => {
    await Promise.all(
      fixture.cluster?.nodes('all').map((node) => node.call('ACL', 'LOG', 'RESET')) ?? [],
    );
    const consumer = await ConsumerProcess.start(
      fixture.env({
        REDIS_URL: tlsUrls().join(','),
        REDIS_TLS_CA_FILE: v('TLS_CA_FILE'),
        REDIS_TLS_CERT_FILE: v('TLS_CLIENT_CERT_FILE'),
        REDIS_TLS_KEY_FILE: v('TLS_CLIENT_ENCRYPTED_KEY_FILE'),
        REDIS_TLS_KEY_PASSWORD: v('TLS_CLIENT_KEY_PASSWORD'),
        REDIS_WAIT_REPLICAS: '1',
      }),
    );
    consumers.push(consumer);
    await consumer.waitReady();
    const sent = await runCli(
      ['send', '--count', String(VALID), '--invalid', String(INVALID), '--no-progress'],
      fixture.env(),
    );
    assert.equal(sent.code, 0, sent.stderr);
    await fixture.waitCommittedToEnd();
    assert.equal(await fixture.distinctUsers(), VALID, 'every valid message is in ClickHouse');
    assert.equal((await fixture.redisKeys()).length, VALID, 'every offer is on the cluster');
    assert.equal((await fixture.readDeadLetters(INVALID)).length, INVALID);
    const denied = await Promise.all(
      fixture.cluster?.nodes('all').map((node) => node.call('ACL', 'LOG')) ?? [],
    );
    assert.deepEqual(denied.flat(), [], 'the ACL user needs nothing beyond its rules');
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it('refuses the ACL user FLUSHALL, CONFIG and keys outside its prefix on every primary', async () => {
    const cluster = createRedisClusterClient(tlsUrls(), {
      tls: { ca: await readFile(v('TLS_CA_FILE'), 'utf8') },
    });
    try {
      await cluster.connect();
      for (const node of cluster.nodes('master')) {
        await assert.rejects(node.flushall(), /NOPERM/);
        await assert.rejects(node.call('CONFIG', 'GET', 'maxmemory'), /NOPERM/);
      }
      await assert.rejects(cluster.set('elsewhere:1', 'x'), /NOPERM/);
      await cluster.set(`${fixture.keyPrefix}probe`, 'x');
      assert.equal(await cluster.get(`${fixture.keyPrefix}probe`), 'x');
    } finally {
      cluster.disconnect();
    }
  });

  it('refuses a server certificate from another CA at start, naming REDIS_TLS_CA_FILE', async () => {
    const cluster: Cluster = createRedisClusterClient(tlsUrls(), {
      tls: { ca: await readFile(v('TLS_OTHER_CA_FILE'), 'utf8') },
    });
    const sink = new RedisClusterOfferSink(cluster, {
      keyPrefix: fixture.keyPrefix,
      ttlSeconds: 0,
      waitReplicas: 0,
      nodes: tlsUrls(),
    });
    try {
      await assert.rejects(sink.healthcheck(), (error: unknown) => {
        assert.ok(isOfferError(error, 'REDIS_FAILED'), String(error));
        assert.equal(error.retriable, false);
        assert.match(error.message, /not trusted.*REDIS_TLS_CA_FILE/);
        return true;
      });
    } finally {
      cluster.disconnect();
    }
  });
});
