import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, describe, it } from 'node:test';

import { decodeRegistration, type RejectReason } from '../../src/contract/decode.js';
import { lastHeader } from '../../src/kafka/kafka-adapter.js';
import { DLQ_HEADERS, TOO_LARGE_KEPT_BYTES } from '../../src/sinks/dead-letter.js';
import { infraDir, Services } from '../support/infra.js';
import type { PipelineFixture } from '../support/pipeline-fixture.js';
import { SAMPLE_FIELDS } from '../support/registration-sample.js';
import { waitFor } from '../support/service.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import {
  commitsSince,
  committedTotal,
  drainSeconds,
  metricSample,
  readWholeTopic,
} from './observation.js';
import { PacedProducer, planMessages, type PlannedMessage } from './traffic.js';
import { FAULT_CONSUMER_ENV, FaultSuite, hasExited, hostPort } from './suite.js';

/**
 * The suite kills and restarts services, so it never uses the services other test runs
 * share: its state dir sits next to theirs (`<INFRA_DIR>-faults`).
 */
const FAULTS_INFRA_DIR = process.env.FAULTS_INFRA_DIR ?? `${infraDir()}-faults`;

/** Scenarios that add a line to the accounting table. */
const SCENARIOS = 9;
const OUTAGE_MS = 5_000;
const SINK_OUTAGE_MS = 10_000;
const SLOW_MS = 8_000;

/** ClickHouse rows at or beyond their partition's committed offset: written, not committed. */
async function storedUncommitted(fixture: PipelineFixture): Promise<number> {
  const committed = await fixture.committedOffsets();
  const conditions = [...committed].map(
    ([partition, offset]) =>
      `(kafka_partition = ${partition} AND kafka_offset >= ${Math.max(0, Number(offset))})`,
  );
  if (conditions.length === 0) return 0;
  const [row] = await fixture.queryRows<{ n: string }>(
    `SELECT count() AS n FROM default.${fixture.table} WHERE ${conditions.join(' OR ')}`,
  );
  return Number(row?.n ?? 0);
}

const MB = 1_048_576;
const MB_DECIMAL = 1_000_000;

function mib(bytes: number): string {
  return (bytes / MB).toFixed(0);
}

const nested = (depth: number, inner = ''): string =>
  `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

/** The hostile-input matrix as Kafka messages, each with what it must become. */
function hostileMessages(): PlannedMessage[] {
  const base = { ...SAMPLE_FIELDS, child_age: 9, child_smartphone_brand: 'xiaomi' };
  const invalid = (
    name: string,
    value: string | Buffer | null,
    reason: RejectReason,
  ): PlannedMessage => ({
    key: `invalid-${name}`,
    value,
    expect: { kind: 'invalid', reason },
  });
  const valid = (userId: number, value: string): PlannedMessage => {
    const decoded = decodeRegistration(Buffer.from(value), 2 * MB);
    if (!decoded.ok || decoded.registration.userId !== userId) {
      throw new Error(`hostile but valid message for user ${userId} does not decode to it`);
    }
    return {
      key: String(userId),
      value,
      expect: { kind: 'valid', userId, registration: decoded.registration },
    };
  };
  const record = (fields: Record<string, unknown>): string =>
    JSON.stringify({ ...base, ...fields });
  const tenMegabytes = Buffer.alloc(10 * MB_DECIMAL, 0x20);
  tenMegabytes.write('{"user_id":"1","padding":"', 0);
  return [
    invalid('utf8', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), 'not_json'),
    invalid('truncated', record({ user_id: '7' }).slice(0, 40), 'not_json'),
    invalid('raw-nul', '{"user_id":"7",\u0000"platform":"iOS"}', 'not_json'),
    invalid('empty', null, 'empty'),
    invalid('10mb', tenMegabytes, 'too_large'),
    invalid('nested-value', nested(100_000), 'not_object'),
    invalid('nested-id', `{"user_id":${nested(100_000, '1')}}`, 'invalid_id'),
    invalid('huge-id', '{"user_id":1e400}', 'invalid_id'),
    invalid('huge-age', '{"user_id":"7","child_age":1e400}', 'invalid_field'),
    invalid('negative-id', record({ user_id: -7 }), 'invalid_id'),
    invalid('zero-id', record({ user_id: 0 }), 'invalid_id'),
    invalid('float-id', record({ user_id: 7.5 }), 'invalid_id'),
    invalid('beyond-2^53', '{"user_id":9007199254740993}', 'invalid_id'),
    invalid('beyond-2^53-string', record({ user_id: '9007199254740993' }), 'invalid_id'),
    invalid('proto', '{"user_id":"7","__proto__":{"polluted":true}}', 'forbidden_key'),
    invalid(
      'constructor-prototype',
      '{"user_id":"7","constructor":{"prototype":{}}}',
      'forbidden_key',
    ),
    invalid('1mb-category', record({ user_id: '7', platform: 'x'.repeat(MB) }), 'invalid_field'),
    invalid(
      'nul-category',
      record({ user_id: '7', smartphone_brand: 'samsung\u0000x' }),
      'invalid_field',
    ),
    invalid('control-category', record({ user_id: '7', ip_country: 'r\u0007u' }), 'invalid_field'),
    invalid('payload-number', '{"schema":{},"payload":42}', 'not_object'),
    invalid('payload-null', '{"schema":{},"payload":null}', 'not_object'),
    invalid('payload-array-string', '{"schema":{},"payload":"[1]"}', 'not_object'),
    invalid(
      'payload-double-encoded',
      // The payload string holds a JSON string (the record encoded twice), not an object.
      JSON.stringify({ schema: {}, payload: JSON.stringify(record({ user_id: '7' })) }),
      'not_object',
    ),
    valid(900_001, `${record({ user_id: '900001' }).slice(0, -1)},"deep":${nested(100_000)}}`),
    valid(900_002, record({ user_id: '900002', constructor: 'x', prototype: { polluted: true } })),
    valid(900_003, `{"user_id":"900000","user_id":"900003","platform":"iOS"}`),
    valid(900_004, record({ user_id: 900_004, smartphone_brand: 'sam\ud800sung😀' })),
    valid(900_005, record({ id: '900005', user_id: null, schema: 'ignored' })),
  ];
}

describe('fault tolerance', () => {
  const suite = new FaultSuite(new Services(FAULTS_INFRA_DIR));
  const services = suite.services;
  before(() => suite.setUp());
  afterEach(() => suite.cleanUp());
  after(() => suite.tearDown('Fault-injection accounting'));

  it('DLQ topic deleted: stops committing and reports, continues once it is back', async () => {
    const fixture = await suite.fixture(3);
    const consumer = await suite.consumer(fixture);
    await consumer.waitReady();
    const admin = await fixture.kafka.admin();
    suite.onCleanUp(() => admin.disconnect());
    const producer = await suite.producer(fixture);

    // Valid traffic first, then the DLQ goes away, then traffic with invalid messages: a
    // deleted topic takes its records with it, so no dead letter may be written before.
    const healthy = planMessages({ count: 300, firstUserId: 1 });
    const during = planMessages({ count: 1_200, firstUserId: 301, invalidEvery: 100 });
    await new PacedProducer(producer, fixture.topic, healthy, 300).finished();
    await fixture.waitCommittedToEnd();
    await admin.deleteTopics([fixture.dlqTopic]);
    await waitFor(
      'the DLQ topic to be gone',
      async () => (await admin.missingTopics([fixture.dlqTopic])).length === 1,
    );

    const deleted = Date.now();
    const sending = new PacedProducer(producer, fixture.topic, during, 300).start();
    suite.onCleanUp(() => sending.stop());
    await waitFor(
      'the DLQ sink to be reported down',
      async () => (await consumer.readiness()) === 503,
      60_000,
    );
    await sending.finished();
    // The outage lasts a fixed while on purpose: it is the fault being injected. Throughout,
    // the service reports the DLQ down and never commits past a message it could not
    // dead-letter; partitions whose next message is valid carry on.
    const outageEnd = Date.now() + 3_000;
    while (Date.now() < outageEnd) {
      assert.equal(await consumer.readiness(), 503, 'not ready while the DLQ is missing');
      assert.equal(await metricSample(consumer, 'offers_sink_up', 'sink="dlq"'), 0);
      await sleep(250);
    }
    const commits = await commitsSince(fixture, deleted);
    assert.ok(commits.invalid.produced >= 10, 'invalid messages were sent during the outage');
    assert.equal(commits.invalid.committed, 0, 'no bad message was skipped');
    assert.equal(
      await consumer.metric('offers_dead_lettered_total'),
      0,
      'no dead letter is counted as written',
    );
    assert.match(consumer.output, /"sink":"dlq".*sink write failed; retrying/);

    await admin.ensureTopics([{ name: fixture.dlqTopic, partitions: 1 }]);
    const recovery = await drainSeconds(fixture, Date.now());
    await waitFor('ready again', async () => (await consumer.readiness()) === 200);
    await suite.finish(fixture, 'DLQ topic deleted', [...healthy, ...during], recovery);
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it('consumer SIGKILLed mid-batch and restarted, three times', async () => {
    const fixture = await suite.fixture(6);
    // Redis goes through a proxy that can stall its answers: a batch then sits stored in
    // ClickHouse but uncommitted for as long as the test needs to kill the consumer there.
    const redisProxy = await TcpProxy.start(hostPort(suite.infra.redisUrl));
    suite.onCleanUp(() => redisProxy.close());
    const env = { REDIS_URL: redisProxy.url(suite.infra.redisUrl) };
    // 40 s of traffic: enough to outlast three kills and their recoveries.
    const messages = planMessages({ count: 6_000, invalidEvery: 100 });
    const producer = await suite.pacedProducer(fixture, messages, 150);

    let consumer = await suite.consumer(fixture, env);
    await consumer.waitReady();
    producer.start();
    const recoveries: number[] = [];
    let inFlightAtKills = 0;
    for (let kill = 1; kill <= 3; kill += 1) {
      const committedBefore = await committedTotal(fixture);
      await waitFor(
        'progress since the last restart',
        async () => (await committedTotal(fixture)) >= committedBefore + 300,
        60_000,
      );
      redisProxy.hold();
      // Chunks that had their Redis answer before the hold commit within milliseconds; what
      // is stored but uncommitted after that waits for Redis and cannot commit.
      await sleep(300);
      await waitFor(
        'a batch stored in ClickHouse but not committed',
        async () => (await storedUncommitted(fixture)) > 0,
        30_000,
        20,
      );
      assert.equal(await consumer.stop('SIGKILL'), null, 'killed by the signal');
      redisProxy.release();
      const inFlight = await storedUncommitted(fixture);
      assert.ok(inFlight > 0, `kill ${kill} landed mid-batch: rows stored but uncommitted`);
      inFlightAtKills += inFlight;
      const restarted = Date.now();
      consumer = await suite.consumer(fixture, env);
      await consumer.waitReady();
      recoveries.push(await drainSeconds(fixture, restarted));
    }
    await producer.finished();
    const row = await suite.finish(
      fixture,
      'consumer SIGKILL x3',
      messages,
      Math.max(...recoveries),
      `recovery ${recoveries.map((r) => r.toFixed(1)).join('/')} s; ${inFlightAtKills} rows in flight at the kills`,
    );
    assert.ok(
      row.redelivered >= inFlightAtKills,
      'the batches in flight at the kills were delivered again',
    );
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it('rebalance storm: 1 -> 3 -> 2 -> 1 consumers while producing', async () => {
    const fixture = await suite.fixture(6);
    const messages = planMessages({ count: 6_000, invalidEvery: 100 });
    const producer = await suite.pacedProducer(fixture, messages, 300);
    const first = await suite.consumer(fixture);
    await first.waitReady();
    producer.start();
    await producer.waitAcked(1_000);
    const [second, third] = await Promise.all([suite.consumer(fixture), suite.consumer(fixture)]);
    await Promise.all([second.waitReady(), third.waitReady()]);
    await waitFor(
      'the new replicas to store offers',
      async () =>
        (await second.metric('offers_scored_total')) > 0 &&
        (await third.metric('offers_scored_total')) > 0,
      60_000,
    );
    await producer.waitAcked(3_000);
    assert.equal(await third.stop('SIGTERM'), 0, 'scale-down: the third replica leaves cleanly');
    await producer.waitAcked(4_000);
    assert.equal(await second.stop('SIGTERM'), 0, 'scale-down: the second replica leaves cleanly');
    const lastStep = Date.now();
    const recovery = await drainSeconds(fixture, lastStep);
    await producer.finished();
    await suite.finish(
      fixture,
      'rebalance storm 1-3-2-1',
      messages,
      recovery,
      'scale-downs by SIGTERM, exit 0',
    );
    assert.equal(await first.stop('SIGTERM'), 0);
  });

  it('Kafka broker killed and restarted mid-stream', async () => {
    const fixture = await suite.fixture(3);
    const consumer = await suite.consumer(fixture);
    await consumer.waitReady();
    const messages = planMessages({ count: 4_000, invalidEvery: 100 });
    const producer = (await suite.pacedProducer(fixture, messages, 200)).start();
    await producer.waitAcked(800);
    await services.kill('kafka');
    await sleep(OUTAGE_MS);
    await services.start('kafka');
    const back = Date.now();
    await producer.waitAcked(producer.acked + 200);
    const recovery = await drainSeconds(fixture, back);
    await producer.finished();
    await suite.finish(
      fixture,
      'Kafka broker SIGKILL',
      messages,
      recovery,
      `down ${OUTAGE_MS / 1000} s; producer retried ${producer.failedAttempts} batches`,
    );
    assert.equal(await hasExited(consumer), false, 'the consumer rode out the broker outage');
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  for (const sink of ['redis', 'clickhouse'] as const) {
    it(`${sink} killed for ${SINK_OUTAGE_MS / 1000} s and restarted`, async () => {
      const fixture = await suite.fixture(3);
      const consumer = await suite.consumer(fixture);
      await consumer.waitReady();
      const messages = planMessages({ count: 5_000, invalidEvery: 100 });
      const producer = (await suite.pacedProducer(fixture, messages, 200)).start();
      await producer.waitAcked(1_000);
      await services.kill(sink);
      suite.onCleanUp(() => services.start(sink));
      const killed = Date.now();
      await waitFor(
        '/readyz to report the sink down',
        async () => (await consumer.readiness()) === 503,
        30_000,
      );
      // The outage lasts a fixed while on purpose: it is the fault being injected.
      await sleep(Math.max(0, SINK_OUTAGE_MS - (Date.now() - killed)));
      assert.equal(await consumer.readiness(), 503);
      assert.equal(await metricSample(consumer, 'offers_sink_up', `sink="${sink}"`), 0);
      assert.equal(await consumer.metric('offers_fetch_paused'), 1);
      const commits = await commitsSince(fixture, killed);
      assert.ok(commits.valid.produced >= 1_000, 'the stream kept flowing during the outage');
      assert.equal(
        commits.valid.committed,
        0,
        `nothing written after ${sink} went down is committed`,
      );
      const lagDuringOutage = producer.acked - (await committedTotal(fixture));
      await services.start(sink);
      const back = Date.now();
      const recovery = await drainSeconds(fixture, back);
      await waitFor('ready again', async () => (await consumer.readiness()) === 200);
      await producer.finished();
      await suite.finish(
        fixture,
        `${sink} SIGKILL ${SINK_OUTAGE_MS / 1000} s`,
        messages,
        recovery,
        `lag ${lagDuringOutage} at the end of the outage`,
      );
      assert.equal(await consumer.stop('SIGTERM'), 0);
    });
  }

  it('Redis and ClickHouse both slow (200 ms per chunk): no loss, lag recovers', async () => {
    const fixture = await suite.fixture(3);
    const redisProxy = await TcpProxy.start(hostPort(suite.infra.redisUrl));
    const clickhouseProxy = await TcpProxy.start(hostPort(suite.infra.clickhouseUrl));
    suite.onCleanUp(() => redisProxy.close());
    suite.onCleanUp(() => clickhouseProxy.close());
    const consumer = await suite.consumer(fixture, {
      REDIS_URL: redisProxy.url(suite.infra.redisUrl),
      CLICKHOUSE_URL: clickhouseProxy.url(suite.infra.clickhouseUrl),
    });
    await consumer.waitReady();
    const messages = planMessages({ count: 6_000, invalidEvery: 100 });
    const producer = (await suite.pacedProducer(fixture, messages, 300)).start();
    await producer.waitAcked(1_000);
    redisProxy.setLatency(200);
    clickhouseProxy.setLatency(200);
    const slowFrom = Date.now();
    let maxLag = 0;
    while (Date.now() - slowFrom < SLOW_MS) {
      maxLag = Math.max(maxLag, producer.acked - (await committedTotal(fixture)));
      await sleep(250);
    }
    assert.equal(await hasExited(consumer), false);
    redisProxy.setLatency(0);
    clickhouseProxy.setLatency(0);
    const recovery = await drainSeconds(fixture, Date.now());
    await producer.finished();
    assert.ok(
      redisProxy.chunks > 0 && clickhouseProxy.chunks > 0,
      'both sinks were reached through the proxies',
    );
    await suite.finish(
      fixture,
      'Redis + ClickHouse +200 ms',
      messages,
      recovery,
      `slow for ${SLOW_MS / 1000} s; max lag ${maxLag}`,
    );
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it('SIGTERM during heavy load: exits 0 within the grace period, nothing lost', async () => {
    const fixture = await suite.fixture(6);
    const messages = planMessages({ count: 20_000, invalidEvery: 1_000 });
    const producer = (await suite.pacedProducer(fixture, messages, 0)).start();
    const heavy = { BATCH_MAX_MESSAGES: '2000' };
    const first = await suite.consumer(fixture, heavy);
    await first.waitReady();
    await waitFor(
      'the consumer to be busy',
      async () => (await first.metric('offers_scored_total')) >= 3_000,
      60_000,
      20,
    );
    const signalled = Date.now();
    const code = await first.stop('SIGTERM');
    const exitSeconds = (Date.now() - signalled) / 1000;
    assert.equal(code, 0, first.output.slice(-2000));
    assert.ok(
      exitSeconds * 1000 < Number(FAULT_CONSUMER_ENV.SHUTDOWN_GRACE_MS),
      `exited in ${exitSeconds} s`,
    );
    const restarted = Date.now();
    const second = await suite.consumer(fixture, heavy);
    await second.waitReady();
    await producer.finished();
    const recovery = await drainSeconds(fixture, restarted);
    const row = await suite.finish(
      fixture,
      'SIGTERM under load',
      messages,
      recovery,
      `exit 0 in ${exitSeconds.toFixed(1)} s`,
    );
    assert.equal(
      row.redelivered,
      0,
      'the batches in flight at SIGTERM were finished and committed',
    );
    assert.equal(row.dlqDuplicates, 0);
    assert.equal(await second.stop('SIGTERM'), 0);
  });

  it('hostile input: each message dead-lettered with its reason or scored; no crash, no stall, bounded memory', async () => {
    // The input topic takes up to 12 MB so that a 10 MB value reaches the consumer; the DLQ
    // topic takes what MESSAGE_MAX_BYTES lets through, as the README asks of a deployment.
    const fixture = await suite.fixture(1, { 'max.message.bytes': String(12 * MB) });
    const consumer = await suite.consumer(fixture, {
      MESSAGE_MAX_BYTES: String(2 * MB),
      KAFKA_MAX_BYTES_PER_PARTITION: String(MB),
    });
    await consumer.waitReady();
    const baselineRss = await consumer.metric('process_resident_memory_bytes');
    const hostile = hostileMessages();
    const messages = [
      ...planMessages({ count: 500, firstUserId: 1 }),
      ...hostile,
      ...planMessages({ count: 500, firstUserId: 501, seed: 8 }),
    ];
    const producer = await suite.producer(fixture);
    let peakRss = baselineRss;
    const sending = new PacedProducer(producer, fixture.topic, messages, 0).start();
    suite.onCleanUp(() => sending.stop());
    const started = Date.now();
    const sampling = (async () => {
      while (!(await hasExited(consumer))) {
        peakRss = Math.max(peakRss, await consumer.metric('process_resident_memory_bytes'));
        if ((await committedTotal(fixture)) >= messages.length) return;
        await sleep(100);
      }
    })();
    await sending.finished();
    await fixture.waitCommittedToEnd();
    await sampling;
    const seconds = (Date.now() - started) / 1000;
    assert.equal(await hasExited(consumer), false, 'the consumer never crashed');
    assert.doesNotMatch(consumer.output, /crashed|unrecoverable/);
    const row = await suite.finish(
      fixture,
      'hostile input',
      messages,
      seconds,
      `RSS ${mib(baselineRss)} -> peak ${mib(peakRss)} MiB`,
    );
    assert.equal(row.invalid, hostile.filter((m) => m.expect.kind === 'invalid').length);
    assert.ok(peakRss - baselineRss < 256 * MB, `memory stays bounded (peak ${mib(peakRss)} MiB)`);
    const letters = await readWholeTopic(fixture, fixture.dlqTopic);
    const large = letters.find(({ message }) => message.key?.toString() === 'invalid-10mb');
    assert.ok(large !== undefined, 'the 10 MB message is in the DLQ');
    assert.equal(large.message.value?.length, TOO_LARGE_KEPT_BYTES);
    assert.equal(
      lastHeader(large.message.headers, DLQ_HEADERS.valueTruncated)?.toString(),
      String(10 * MB_DECIMAL),
    );
    for (const { message } of letters) {
      const detail = lastHeader(message.headers, DLQ_HEADERS.exceptionMessage)?.toString() ?? '';
      assert.ok(detail.length <= 300, `short detail for ${message.key?.toString() ?? ''}`);
    }
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it('accounting: every scenario ran, and nothing was lost anywhere', () => {
    suite.assertComplete(SCENARIOS);
  });
});
