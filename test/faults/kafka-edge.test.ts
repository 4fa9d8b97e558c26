// What a real Kafka cluster delivers: records written by Kafka's own Java client (every
// codec, transactions, odd headers, keys and timestamps), a member evicted by a slow sink or
// a network cut, partitions added under load, and a three-broker cluster losing a leader or
// restarted node by node. Each scenario ends with the suite's exact accounting.
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, afterEach, before, describe, it } from 'node:test';

import { lastHeader, type MessageHeaders } from '../../src/kafka/kafka-adapter.js';
import { DLQ_HEADERS, TOO_LARGE_KEPT_BYTES } from '../../src/sinks/dead-letter.js';
import {
  isAck,
  produceWithJavaClient,
  type JavaCompression,
  type JavaProducerRecord,
  type JavaProducerStep,
  type JavaRecordHeader,
} from '../support/foreign-producer.js';
import { infraDir, Services } from '../support/infra.js';
import type { PipelineFixture } from '../support/pipeline-fixture.js';
import { waitFor } from '../support/service.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { drainSeconds, readWholeTopic } from './observation.js';
import { planMessages, type PlannedMessage } from './traffic.js';
import { FAULT_SESSION_TIMEOUT_MS, FaultSuite, hasExited, hostPort } from './suite.js';

/** Its own services: three KRaft brokers (replication factor 3, min.insync.replicas 2). */
const KAFKA_FAULTS_INFRA_DIR = process.env.KAFKA_FAULTS_INFRA_DIR ?? `${infraDir()}-faults-kafka`;
const BROKERS = 3;

/** Scenarios that add a line to the accounting table. */
const SCENARIOS = 9;
const MB = 1_048_576;
const LONG_MAX = 9_223_372_036_854_775_807n;
const CODECS: readonly JavaCompression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];

/** Planned messages as records of the Java client, with extra fields per key when given. */
function javaRecords(
  messages: readonly PlannedMessage[],
  extra: Readonly<Record<string, Partial<JavaProducerRecord>>> = {},
): JavaProducerRecord[] {
  return messages.map((message) => ({
    key: message.key,
    value: message.value,
    ...extra[message.key],
  }));
}

/** Planned messages whose invalid ones carry a suffix: the accounting finds dead letters by key. */
function suffixInvalid(messages: readonly PlannedMessage[], suffix: string): PlannedMessage[] {
  return messages.map((message) =>
    message.key.startsWith('invalid-') ? { ...message, key: `${message.key}-${suffix}` } : message,
  );
}

/** Sends with the Java client and checks that the broker acknowledged every record. */
async function produceJava(
  fixture: PipelineFixture,
  steps: readonly JavaProducerStep[],
  options: { compression?: JavaCompression; transactionalId?: string } = {},
): Promise<void> {
  const result = await produceWithJavaClient({
    bootstrap: fixture.env().KAFKA_BROKERS ?? '',
    topic: fixture.topic,
    compression: options.compression ?? 'none',
    lingerMs: 20,
    batchSize: 256 * 1024,
    // Large records and headers below: the client's own request limit must not refuse them.
    extraConfig: { 'max.request.size': 8 * MB },
    ...(options.transactionalId === undefined ? {} : { transactionalId: options.transactionalId }),
    steps,
  });
  const failed = result.records.filter((record) => !isAck(record));
  assert.deepEqual(failed, [], 'the broker acknowledged every record');
}

/** Values of a header as a list: a name sent once is a list of one. */
function headerValues(headers: MessageHeaders, name: string): (string | null)[] {
  if (!Object.hasOwn(headers, name)) return [];
  const value = headers[name];
  const values: readonly (Buffer | null | undefined)[] = Array.isArray(value)
    ? (value as readonly (Buffer | null)[])
    : [value as Buffer | null | undefined];
  return values.map((one) => (one === null || one === undefined ? null : one.toString()));
}

describe('Kafka as a real cluster delivers it', () => {
  const suite = new FaultSuite(
    new Services(KAFKA_FAULTS_INFRA_DIR, { INFRA_KAFKA_NODES: String(BROKERS) }),
  );
  before(() => suite.setUp());
  afterEach(() => suite.cleanUp());
  after(() => suite.tearDown('Kafka-edge accounting'));

  it('every codec of the Java client: none, gzip, snappy, lz4, zstd', async () => {
    const fixture = await suite.fixture(6);
    const consumer = await suite.consumer(fixture);
    await consumer.waitReady();
    const messages: PlannedMessage[] = [];
    for (const [index, compression] of CODECS.entries()) {
      const part = suffixInvalid(
        planMessages({
          count: 400,
          firstUserId: 1 + index * 1_000,
          invalidEvery: 50,
          seed: 10 + index,
        }),
        compression,
      );
      messages.push(...part);
      await produceJava(fixture, [{ send: javaRecords(part) }], { compression });
    }
    await suite.finish(fixture, 'Java client, 5 codecs', messages, 0, '400 users per codec');
    assert.equal(await hasExited(consumer), false);
    assert.doesNotMatch(consumer.output, /crashed|not implemented/i);
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it('transactions committed and aborted, the last one of every partition aborted', async () => {
    const fixture = await suite.fixture(3);
    const consumer = await suite.consumer(fixture);
    await consumer.waitReady();
    const first = planMessages({ count: 300, firstUserId: 1, invalidEvery: 50 });
    const second = suffixInvalid(
      planMessages({ count: 300, firstUserId: 1_001, invalidEvery: 50, seed: 9 }),
      'second',
    );
    // Aborted: none of these users may appear anywhere (the accounting flags strangers).
    const abortedA = planMessages({ count: 200, firstUserId: 50_001 });
    const abortedB = planMessages({ count: 150, firstUserId: 60_001 });
    await produceJava(
      fixture,
      [
        { begin: true },
        { send: javaRecords(first) },
        { commit: true },
        { begin: true },
        { send: javaRecords(abortedA) },
        { abort: true },
        { begin: true },
        { send: javaRecords(second) },
        { commit: true },
        { begin: true },
        { send: javaRecords(abortedB) },
        { abort: true },
      ],
      { compression: 'lz4', transactionalId: `tx-${fixture.id}` },
    );
    const records = first.length + second.length + abortedA.length + abortedB.length;
    // Each of the 4 transactions wrote to all 3 partitions (hundreds of keys each), so each
    // partition holds 4 markers. The coordinator writes them after answering the commit or
    // abort: wait for them.
    const markers = 4 * 3;
    let logEnd = 0;
    await waitFor('the transaction markers in the log', async () => {
      const ends = await fixture.endOffsets();
      logEnd = [...ends.values()].reduce((sum, end) => sum + Number(end), 0);
      return logEnd === records + markers;
    });
    // finish() waits until the committed offset equals the log end on every partition:
    // past the last abort marker, so the group's lag is exactly 0.
    await suite.finish(
      fixture,
      'Java transactions, last aborted',
      [...first, ...second],
      0,
      `log end ${logEnd} = ${records} records + ${markers} markers; lag 0`,
    );
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it('odd records: null and repeated headers, huge headers and keys, any timestamp', async () => {
    // The input topic takes 4 MB records and any timestamp; the DLQ keeps the broker's
    // default limit (1 MB), which every dead letter must fit.
    const fixture = await suite.fixture(
      3,
      { 'max.message.bytes': String(4 * MB), 'message.timestamp.after.max.ms': String(LONG_MAX) },
      {},
    );
    const consumer = await suite.consumer(fixture);
    await consumer.waitReady();
    const base = planMessages({ count: 300, firstUserId: 1, invalidEvery: 30 });
    // User 1,001 first with a year-9999 timestamp, then again with an ordinary one and
    // another registration: the later event must win although its timestamp is lower.
    const [poisoned] = planMessages({ count: 1, firstUserId: 1_001, seed: 21 });
    const [healed] = planMessages({ count: 1, firstUserId: 1_001, seed: 22 });
    const [epoch, longMax, manyHeaders, nullHeaders] = planMessages({
      count: 4,
      firstUserId: 2_001,
      seed: 23,
    });
    if (!poisoned || !healed || !epoch || !longMax || !manyHeaders || !nullHeaders) {
      throw new Error('planning failed');
    }
    const headerPile: JavaRecordHeader[] = Array.from({ length: 20_000 }, (_, index) => ({
      key: `h${index}`,
      value: 'v',
    }));
    const twoMegabytes = Buffer.alloc(2 * MB, 0x61);
    const odd: [PlannedMessage, Partial<JavaProducerRecord>][] = [
      [poisoned, { timestamp: Date.UTC(9999, 0, 1) }],
      [epoch, { timestamp: 0 }],
      [longMax, { timestamp: LONG_MAX }],
      [manyHeaders, { headers: headerPile }],
      [
        nullHeaders,
        {
          headers: [
            { key: 'none', value: null },
            { key: 'dup', value: 'a' },
            { key: 'dup', value: null },
          ],
        },
      ],
      [
        {
          key: 'invalid-headers',
          value: '{"user_id":',
          expect: { kind: 'invalid', reason: 'not_json' },
        },
        {
          headers: [
            { key: 'dup', value: 'first' },
            { key: 'none', value: null },
            { key: 'dup', value: null },
            { key: 'dup', value: 'third' },
          ],
        },
      ],
      [
        {
          key: 'invalid-big-header',
          value: '[1]',
          expect: { kind: 'invalid', reason: 'not_object' },
        },
        {
          headers: [
            { key: 'small', value: 's' },
            { key: 'huge', value: twoMegabytes },
          ],
        },
      ],
      [
        {
          key: 'invalid-big-value',
          value: Buffer.alloc(3 * MB, 0x20),
          expect: { kind: 'invalid', reason: 'too_large' },
        },
        {},
      ],
      [
        { key: 'invalid-tombstone', value: null, expect: { kind: 'invalid', reason: 'empty' } },
        { timestamp: LONG_MAX },
      ],
      [healed, {}],
    ];
    const hugeKey = `invalid-big-key-${'k'.repeat(MB)}`;
    const bigKey: PlannedMessage = {
      key: hugeKey,
      value: 'not json',
      expect: { kind: 'invalid', reason: 'not_json' },
    };
    await produceJava(fixture, [{ send: javaRecords(base) }], { compression: 'snappy' });
    await produceJava(
      fixture,
      odd.map(([message, extra]) => ({ send: javaRecords([message], { [message.key]: extra }) })),
      { compression: 'zstd' },
    );
    await produceJava(fixture, [{ send: javaRecords([bigKey]) }]);
    const messages = [...base, ...odd.map(([message]) => message), bigKey];
    // The harness keys dead letters by their key: the cut one is found by its head.
    const accountable = messages.map((message) =>
      message === bigKey ? { ...message, key: hugeKey.slice(0, 16_384) } : message,
    );
    await suite.finish(
      fixture,
      'odd records (Java client)',
      accountable,
      0,
      'year 9999 then ordinary: the later event won',
    );

    const letters = await readWholeTopic(fixture, fixture.dlqTopic);
    const letter = (key: string) => {
      const found = letters.find(({ message }) => message.key?.toString().startsWith(key));
      assert.ok(found, `dead letter ${key}`);
      return found.message.headers;
    };
    assert.deepEqual(headerValues(letter('invalid-headers'), 'dup'), ['first', null, 'third']);
    assert.deepEqual(headerValues(letter('invalid-headers'), 'none'), [null]);
    const bigHeader = letter('invalid-big-header');
    assert.deepEqual(headerValues(bigHeader, 'small'), ['s']);
    assert.deepEqual(headerValues(bigHeader, 'huge'), []);
    assert.match(
      lastHeader(bigHeader, DLQ_HEADERS.headersDropped)?.toString() ?? '',
      /^1 values, /,
    );
    assert.equal(
      lastHeader(letter('invalid-big-key'), DLQ_HEADERS.keyTruncated)?.toString(),
      String(Buffer.byteLength(hugeKey)),
    );
    const bigValue = letters.find(({ message }) => message.key?.toString() === 'invalid-big-value');
    assert.equal(bigValue?.message.value?.length, TOO_LARGE_KEPT_BYTES);
    // ClickHouse 18.16 prints DateTime 0 as 0000-00-00 00:00:00: compare the number.
    const [row] = await fixture.queryRows<{ seconds: string }>(
      `SELECT toUnixTimestamp(event_time) AS seconds FROM default.${fixture.table} FINAL WHERE user_id = 2001`,
    );
    assert.equal(Number(row?.seconds), 0, 'timestamp 0 is stored as the epoch');
    assert.equal(await hasExited(consumer), false);
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it("a batch corrupted on the brokers' disks: its records dead-lettered, the partition goes on", async () => {
    const fixture = await suite.fixture(1);
    // One zstd batch first (offsets 0..49), then ordinary records after it.
    const broken = planMessages({ count: 50, firstUserId: 1 });
    const result = await produceWithJavaClient({
      bootstrap: fixture.env().KAFKA_BROKERS ?? '',
      topic: fixture.topic,
      compression: 'zstd',
      lingerMs: 100,
      steps: [{ send: javaRecords(broken) }],
    });
    const offsets = result.records.map((record) => (isAck(record) ? record.offset : -1));
    assert.deepEqual(
      offsets,
      broken.map((_, index) => index),
      'one batch at offsets 0..49',
    );
    const after = planMessages({ count: 300, firstUserId: 1_001, invalidEvery: 50, seed: 41 });
    await produceJava(fixture, [{ send: javaRecords(after) }]);
    // Kafka serves a segment as it is on disk and kafkajs does not check CRCs: overwrite the
    // zstd frame's magic number in every replica's copy of the batch.
    const corrupted = await corruptFirstBatch(suite.infra.dir, `${fixture.topic}-0`, BROKERS);
    assert.equal(corrupted, BROKERS, 'every replica holds the batch');
    const consumer = await suite.consumer(fixture);
    await consumer.waitReady();
    const expected: PlannedMessage[] = [
      ...broken.map((message, index) => ({
        ...message,
        expect: { kind: 'invalid', reason: 'undecodable_batch' } as const,
        at: `0/${index}`,
      })),
      ...after,
    ];
    await suite.finish(
      fixture,
      'batch corrupted on disk',
      expected,
      0,
      '50 records of a zstd batch dead-lettered as undecodable_batch',
    );
    const letters = await readWholeTopic(fixture, fixture.dlqTopic);
    const first = letters.find(
      ({ message }) => lastHeader(message.headers, DLQ_HEADERS.offset)?.toString() === '0',
    );
    assert.ok((first?.message.value?.length ?? 0) > 0, 'the first keeps the compressed bytes');
    assert.match(
      lastHeader(first?.message.headers ?? {}, DLQ_HEADERS.exceptionMessage)?.toString() ?? '',
      /^zstd batch could not be decompressed/,
    );
    assert.equal(await hasExited(consumer), false);
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it('a sink slower than the session timeout: the member keeps its partitions', async () => {
    const fixture = await suite.fixture(3);
    // Redis answers through a proxy that holds them for longer than the session timeout
    // (and shorter than the Redis client's 10 s command timeout: the write is slow, not failed).
    const redisProxy = await TcpProxy.start(hostPort(suite.infra.redisUrl));
    suite.onCleanUp(() => redisProxy.close());
    const consumer = await suite.consumer(fixture, {
      REDIS_URL: redisProxy.url(suite.infra.redisUrl),
    });
    await consumer.waitReady();
    const messages = planMessages({ count: 3_000, invalidEvery: 100 });
    const producer = (await suite.pacedProducer(fixture, messages, 200)).start();
    await producer.waitAcked(600);
    const holdMs = FAULT_SESSION_TIMEOUT_MS + 3_000;
    redisProxy.hold();
    await sleep(holdMs);
    redisProxy.release();
    const recovery = await drainSeconds(fixture, Date.now());
    await producer.finished();
    await suite.finish(
      fixture,
      'sink slower than the session',
      messages,
      recovery,
      `Redis held ${holdMs / 1000} s, session ${FAULT_SESSION_TIMEOUT_MS / 1000} s; no rebalance`,
    );
    assert.equal(await consumer.metric('offers_kafka_membership_lost_total'), 0);
    assert.doesNotMatch(consumer.output, /rebalancing|re-joining/);
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it('the network to every broker frozen for 20 s: not ready, re-joins, nothing lost', async () => {
    const fixture = await suite.fixture(3);
    // The consumer reaches the brokers only through proxies on their PROXIED listeners: the
    // brokers advertise the proxies' ports, so every connection it makes goes through them.
    const proxies = await Promise.all(
      suite.infra.proxiedBrokers.map(({ advertised, target }) =>
        TcpProxy.start(hostPort(`tcp://${target}`), hostPort(`tcp://${advertised}`).port),
      ),
    );
    for (const proxy of proxies) suite.onCleanUp(() => proxy.close());
    assert.equal(proxies.length, BROKERS);
    const consumer = await suite.consumer(fixture, {
      KAFKA_BROKERS: suite.infra.proxiedBrokers.map(({ advertised }) => advertised).join(','),
    });
    await consumer.waitReady();
    const messages = planMessages({ count: 5_000, invalidEvery: 100 });
    const producer = (await suite.pacedProducer(fixture, messages, 200)).start();
    await producer.waitAcked(600);
    const cutMs = 20_000;
    for (const proxy of proxies) proxy.hold();
    const cut = Date.now();
    await waitFor(
      '/readyz to report the lost group',
      async () => (await consumer.readiness()) === 503,
      FAULT_SESSION_TIMEOUT_MS + 5_000,
    );
    const notReadyAfter = (Date.now() - cut) / 1000;
    assert.equal(await consumer.metric('offers_kafka_in_group'), 0);
    await sleep(Math.max(0, cutMs - (Date.now() - cut)));
    assert.equal(await consumer.readiness(), 503, 'still not ready at the end of the cut');
    for (const proxy of proxies) proxy.release();
    const back = Date.now();
    await waitFor('ready again', async () => (await consumer.readiness()) === 200, 60_000);
    const readyAgain = (Date.now() - back) / 1000;
    const recovery = await drainSeconds(fixture, back);
    await producer.finished();
    await suite.finish(
      fixture,
      'network to Kafka cut 20 s',
      messages,
      recovery,
      `503 after ${notReadyAfter.toFixed(1)} s of the cut; ready ${readyAgain.toFixed(1)} s after it`,
    );
    assert.equal(await hasExited(consumer), false, 'the consumer rode out the cut');
    assert.equal(await consumer.metric('offers_kafka_in_group'), 1);
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it('partitions added under load are consumed within the metadata age', async () => {
    const fixture = await suite.fixture(3);
    const metadataMaxAgeMs = 5_000;
    const consumer = await suite.consumer(fixture, {
      KAFKA_METADATA_MAX_AGE_MS: String(metadataMaxAgeMs),
    });
    await consumer.waitReady();
    const before = planMessages({ count: 300, invalidEvery: 50 });
    await produceJava(fixture, [{ send: javaRecords(before) }]);
    await fixture.waitCommittedToEnd();
    const admin = await fixture.kafka.admin();
    suite.onCleanUp(() => admin.disconnect());
    await admin.createPartitions(fixture.topic, 6);
    const added = Date.now();
    const after = suffixInvalid(
      planMessages({ count: 300, firstUserId: 10_001, invalidEvery: 50, seed: 31 }),
      'after',
    );
    await produceJava(fixture, [
      {
        send: javaRecords(after).map((record, index) => ({
          ...record,
          partition: 3 + (index % 3),
        })),
      },
    ]);
    // A client made now sees all six partitions (the fixture's own may cache three).
    const fresh = await fixture.kafka.admin();
    suite.onCleanUp(() => fresh.disconnect());
    await waitFor(
      'the new partitions to be committed to their end',
      async () => {
        const ends = await fresh.endOffsets(fixture.topic);
        const committed = await fresh.committedOffsets(fixture.groupId, fixture.topic);
        return (
          ends.size === 6 &&
          [3, 4, 5].every((partition) => {
            const end = ends.get(partition);
            return end !== undefined && end !== '0' && committed.get(partition) === end;
          })
        );
      },
      60_000,
      100,
    );
    const pickedUp = (Date.now() - added) / 1000;
    assert.ok(
      pickedUp < metadataMaxAgeMs / 1000 + 15,
      `consumed ${pickedUp.toFixed(1)} s after the partitions were added`,
    );
    await suite.finish(
      fixture,
      'partitions 3 -> 6 under load',
      [...before, ...after],
      pickedUp,
      `new partitions committed ${pickedUp.toFixed(1)} s after they were added (metadata age ${metadataMaxAgeMs / 1000} s)`,
    );
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it('the broker leading most consumed partitions killed, restarted 10 s later', async () => {
    const fixture = await suite.fixture(6);
    const consumer = await suite.consumer(fixture);
    await consumer.waitReady();
    const messages = planMessages({ count: 5_000, invalidEvery: 100 });
    const producer = (await suite.pacedProducer(fixture, messages, 200)).start();
    await producer.waitAcked(800);
    const admin = await fixture.kafka.admin();
    suite.onCleanUp(() => admin.disconnect());
    const led = new Map<number, number>();
    for (const leader of (await admin.partitionLeaders(fixture.topic)).values()) {
      led.set(leader, (led.get(leader) ?? 0) + 1);
    }
    const [leader, partitions] = [...led].sort((a, b) => b[1] - a[1])[0] ?? [0, 0];
    assert.ok(leader >= 1 && leader <= BROKERS, `broker ${leader} leads ${partitions} partitions`);
    await suite.services.kill(`kafka-${leader}`);
    suite.onCleanUp(() => suite.services.start(`kafka-${leader}`));
    await sleep(10_000);
    assert.equal(await hasExited(consumer), false);
    await suite.services.start(`kafka-${leader}`);
    const back = Date.now();
    const recovery = await drainSeconds(fixture, back);
    await producer.finished();
    await suite.finish(
      fixture,
      'partition leader SIGKILL (3 brokers)',
      messages,
      recovery,
      `broker ${leader} led ${partitions}/6 partitions; producer retried ${producer.failedAttempts} batches`,
    );
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it('rolling restart of all three brokers under load', async () => {
    const fixture = await suite.fixture(6);
    const consumer = await suite.consumer(fixture);
    await consumer.waitReady();
    const messages = planMessages({ count: 8_000, invalidEvery: 100 });
    const producer = (await suite.pacedProducer(fixture, messages, 200)).start();
    await producer.waitAcked(600);
    const started = Date.now();
    for (let node = 1; node <= BROKERS; node += 1) {
      await suite.services.stop(`kafka-${node}`);
      await suite.services.start(`kafka-${node}`);
      assert.equal(await hasExited(consumer), false, `the consumer rode out broker ${node}`);
    }
    const rolled = (Date.now() - started) / 1000;
    const recovery = await drainSeconds(fixture, Date.now());
    await producer.finished();
    await suite.finish(
      fixture,
      'rolling restart of 3 brokers',
      messages,
      recovery,
      `restart took ${rolled.toFixed(0)} s; producer retried ${producer.failedAttempts} batches`,
    );
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });

  it('accounting: every scenario ran, and nothing was lost anywhere', () => {
    suite.assertComplete(SCENARIOS);
  });
});

// Record batch (format v2): base offset int64, length int32, leader epoch int32, magic int8,
// CRC int32, attributes int16, ... 61 bytes of header, then the record count int32... The
// compressed records start at 61 (after the count at 57).
const ATTRIBUTES_AT = 21;
const RECORDS_AT = 61;
const ZSTD = 4;

/**
 * Overwrites the zstd frame magic of the first batch of a partition's first segment, in each
 * broker's copy; returns how many copies it changed.
 */
async function corruptFirstBatch(
  infraDir: string,
  partitionDir: string,
  brokers: number,
): Promise<number> {
  let changed = 0;
  for (let node = 1; node <= brokers; node += 1) {
    const file = join(infraDir, `kafka-${node}`, 'data', partitionDir, '00000000000000000000.log');
    const handle = await open(file, 'r+').catch(() => undefined);
    if (handle === undefined) continue;
    try {
      const header = Buffer.alloc(RECORDS_AT + 4);
      await handle.read(header, 0, header.length, 0);
      assert.equal(
        header.readInt16BE(ATTRIBUTES_AT) & 0x07,
        ZSTD,
        `${file} starts with a zstd batch`,
      );
      assert.equal(header.readUInt32LE(RECORDS_AT), 0xfd2fb528, 'the zstd frame magic');
      await handle.write(Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, RECORDS_AT);
      changed += 1;
    } finally {
      await handle.close();
    }
  }
  return changed;
}
