// Kafka's Java producer (test/support/foreign-producer.ts) against the local broker: what it
// writes for each compression codec, for transactions, unusual headers and timestamps. The
// broker's log segments are read back directly (record batch format v2), so the assertions see
// the batches exactly as the broker stores and serves them, without a consumer in between.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { createKafkaClients, type TopicAdmin } from '../../src/kafka/kafka-adapter.js';
import { createLogger } from '../../src/telemetry/logger.js';
import {
  isAck,
  JavaProducerError,
  produceWithJavaClient,
  type JavaCompression,
  type JavaProducerRecord,
  type JavaRecordAck,
  type JavaRecordResult,
} from '../support/foreign-producer.js';
import { startInfra, type InfraEnv } from '../support/infra.js';
import { waitFor } from '../support/service.js';

const CODECS: readonly JavaCompression[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
/** Codec ids in the low three bits of a record batch's attributes. */
const CODEC_IDS: Readonly<Record<JavaCompression, number>> = {
  none: 0,
  gzip: 1,
  snappy: 2,
  lz4: 3,
  zstd: 4,
};
const RECORDS_PER_CODEC = 300;
/** 31 Dec 9999 23:59:59.999 UTC. */
const YEAR_9999_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
const LONG_MAX = '9223372036854775807';

// ---------------------------------------------------------------------------------------------
// Reading the broker's log segments (record batch format v2, magic 2).

interface DiskHeader {
  readonly key: string;
  readonly value: Buffer | null;
}

interface DiskRecord {
  readonly offset: bigint;
  readonly timestamp: bigint;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: readonly DiskHeader[];
}

interface DiskBatch {
  readonly baseOffset: bigint;
  readonly lastOffset: bigint;
  readonly codec: number;
  readonly transactional: boolean;
  readonly control: boolean;
  readonly baseTimestamp: bigint;
  readonly maxTimestamp: bigint;
  readonly count: number;
  /** The batch's records, decoded when the batch is not compressed. */
  readonly records?: readonly DiskRecord[];
  /** Control batches: 0 abort, 1 commit (the control record's key). */
  readonly controlType?: number;
}

class VarReader {
  #pos = 0;
  constructor(private readonly buf: Buffer) {}

  get done(): boolean {
    return this.#pos >= this.buf.length;
  }

  int8(): number {
    const value = this.buf.readInt8(this.#pos);
    this.#pos += 1;
    return value;
  }

  int16(): number {
    const value = this.buf.readInt16BE(this.#pos);
    this.#pos += 2;
    return value;
  }

  /** Zig-zag LEB128, as Kafka writes record fields. */
  varlong(): bigint {
    let raw = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const byte = this.buf.readUInt8(this.#pos);
      this.#pos += 1;
      raw |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) break;
    }
    return (raw >> 1n) ^ -(raw & 1n);
  }

  varint(): number {
    return Number(this.varlong());
  }

  /** Varint length then bytes; length -1 is null. */
  bytes(): Buffer | null {
    const length = this.varint();
    if (length < 0) return null;
    const value = this.buf.subarray(this.#pos, this.#pos + length);
    this.#pos += length;
    return value;
  }
}

function decodeRecords(
  data: Buffer,
  baseOffset: bigint,
  baseTimestamp: bigint,
  count: number,
): DiskRecord[] {
  const reader = new VarReader(data);
  const records: DiskRecord[] = [];
  for (let i = 0; i < count; i += 1) {
    reader.varint(); // length
    reader.int8(); // attributes (unused)
    const timestampDelta = reader.varlong();
    const offsetDelta = reader.varint();
    const key = reader.bytes();
    const value = reader.bytes();
    const headers: DiskHeader[] = [];
    for (let n = reader.varint(); n > 0; n -= 1) {
      headers.push({
        key: (reader.bytes() ?? Buffer.alloc(0)).toString('utf8'),
        value: reader.bytes(),
      });
    }
    records.push({
      offset: baseOffset + BigInt(offsetDelta),
      timestamp: baseTimestamp + timestampDelta,
      key,
      value,
      headers,
    });
  }
  assert.ok(reader.done, 'record batch fully decoded');
  return records;
}

function decodeSegment(segment: Buffer): DiskBatch[] {
  const batches: DiskBatch[] = [];
  // Batch header: baseOffset i64, batchLength i32, partitionLeaderEpoch i32, magic i8, crc u32,
  // attributes i16, lastOffsetDelta i32, baseTimestamp i64, maxTimestamp i64, producerId i64,
  // producerEpoch i16, baseSequence i32, recordCount i32 (61 bytes), then the records.
  for (let pos = 0; pos + 12 <= segment.length;) {
    const baseOffset = segment.readBigInt64BE(pos);
    const length = segment.readInt32BE(pos + 8);
    if (length <= 0 || pos + 12 + length > segment.length) break;
    assert.equal(segment.readInt8(pos + 16), 2, 'record batch magic');
    const attributes = segment.readInt16BE(pos + 21);
    const codec = attributes & 0x07;
    const control = (attributes & 0x20) !== 0;
    const baseTimestamp = segment.readBigInt64BE(pos + 27);
    const count = segment.readInt32BE(pos + 57);
    const data = segment.subarray(pos + 61, pos + 12 + length);
    const records = codec === 0 ? decodeRecords(data, baseOffset, baseTimestamp, count) : undefined;
    const controlKey = control ? records?.[0]?.key : undefined;
    batches.push({
      baseOffset,
      lastOffset: baseOffset + BigInt(segment.readInt32BE(pos + 23)),
      codec,
      transactional: (attributes & 0x10) !== 0,
      control,
      baseTimestamp,
      maxTimestamp: segment.readBigInt64BE(pos + 35),
      count,
      ...(records === undefined ? {} : { records }),
      // Control record key: version i16, type i16.
      ...(controlKey == null ? {} : { controlType: controlKey.readInt16BE(2) }),
    });
    pos += 12 + length;
  }
  return batches;
}

/** The data dir of the local broker, from the server.properties scripts/infra wrote. */
async function kafkaLogDir(infra: InfraEnv): Promise<string> {
  const properties = await readFile(join(infra.dir, 'kafka', 'server.properties'), 'utf8');
  const line = properties
    .split('\n')
    .filter((text) => text.startsWith('log.dirs='))
    .at(-1);
  const dir = line?.slice('log.dirs='.length).split(',')[0]?.trim();
  if (dir === undefined || dir === '') throw new Error('no log.dirs in server.properties');
  return dir;
}

async function diskBatches(logDir: string, topic: string, partition: number): Promise<DiskBatch[]> {
  const dir = join(logDir, `${topic}-${partition}`);
  const segments = (await readdir(dir)).filter((name) => name.endsWith('.log')).sort();
  const batches: DiskBatch[] = [];
  for (const segment of segments)
    batches.push(...decodeSegment(await readFile(join(dir, segment))));
  return batches;
}

// ---------------------------------------------------------------------------------------------

function acks(records: readonly JavaRecordResult[]): JavaRecordAck[] {
  return records.map((record, index) => {
    assert.ok(isAck(record), `record ${index} failed: ${'error' in record ? record.error : ''}`);
    return record;
  });
}

function registration(i: number): string {
  return JSON.stringify({
    user_id: 1_000_000 + i,
    registered_at: new Date(Date.UTC(2025, 0, 1) + i * 1_000).toISOString(),
    country: ['DE', 'FR', 'PL', 'ES'][i % 4],
    device: i % 3 === 0 ? 'ios' : 'android',
    marketing_opt_in: i % 2 === 0,
  });
}

describe("Kafka's Java producer as a foreign client of the local broker", () => {
  let infra: InfraEnv;
  let admin: TopicAdmin;
  let logDir: string;
  const topics: string[] = [];

  before(async () => {
    infra = await startInfra();
    admin = await createKafkaClients(
      { brokers: infra.kafkaBrokers, clientId: `test-foreign-${randomUUID().slice(0, 8)}` },
      createLogger('error'),
    ).admin();
    logDir = await kafkaLogDir(infra);
  });

  after(async () => {
    if (topics.length > 0) await admin.deleteTopics(topics).catch(() => undefined);
    await admin.disconnect();
  });

  async function newTopic(partitions: number, config?: Record<string, string>): Promise<string> {
    const name = `foreign-${randomUUID()}`;
    topics.push(name);
    await admin.ensureTopics([{ name, partitions, ...(config === undefined ? {} : { config }) }]);
    return name;
  }

  for (const compression of CODECS) {
    it(`writes ${RECORDS_PER_CODEC} records compressed with ${compression} in shared batches`, async () => {
      const topic = await newTopic(2);
      const records: JavaProducerRecord[] = Array.from({ length: RECORDS_PER_CODEC }, (_, i) => ({
        partition: i % 2,
        key: String(1_000_000 + i),
        value: registration(i),
        headers: [{ key: 'source', value: 'java' }],
      }));
      const result = await produceWithJavaClient({
        bootstrap: infra.kafkaBrokers,
        topic,
        compression,
        lingerMs: 20,
        steps: [{ send: records }],
      });

      const written = acks(result.records);
      const perPartition = RECORDS_PER_CODEC / 2;
      for (const partition of [0, 1]) {
        const offsets = written
          .filter((record) => record.partition === partition)
          .map((record) => record.offset);
        assert.deepEqual(
          offsets,
          Array.from({ length: perPartition }, (_, i) => i),
          `partition ${partition}: contiguous offsets from 0, in send order`,
        );
      }
      assert.deepEqual(
        await admin.endOffsets(topic),
        new Map([
          [0, String(perPartition)],
          [1, String(perPartition)],
        ]),
      );

      for (const partition of [0, 1]) {
        const batches = await diskBatches(logDir, topic, partition);
        assert.deepEqual(
          [...new Set(batches.map((batch) => batch.codec))],
          [CODEC_IDS[compression]],
          `partition ${partition}: every batch stored with ${compression}`,
        );
        assert.equal(
          batches.reduce((sum, batch) => sum + batch.count, 0),
          perPartition,
        );
        assert.ok(
          batches.length < perPartition,
          `partition ${partition}: records share batches (${batches.length} batches)`,
        );
      }
    });
  }

  it('counts the commit and abort markers of transactions in the end offset', async () => {
    const topic = await newTopic(1);
    const data = (from: number, count: number): JavaProducerRecord[] =>
      Array.from({ length: count }, (_, i) => ({
        partition: 0,
        key: String(from + i),
        value: registration(from + i),
      }));
    const result = await produceWithJavaClient({
      bootstrap: infra.kafkaBrokers,
      topic,
      compression: 'zstd',
      transactionalId: `foreign-${randomUUID()}`,
      steps: [
        { begin: true },
        { send: data(0, 5) },
        { commit: true },
        { begin: true },
        { send: data(5, 3) },
        { abort: true },
      ],
    });

    assert.deepEqual(
      result.transactions.map(({ outcome, records }) => ({ outcome, records })),
      [
        { outcome: 'committed', records: 5 },
        { outcome: 'aborted', records: 3 },
      ],
    );
    const written = acks(result.records);
    // Each marker takes one offset: committed data 0-4, commit marker 5, aborted data 6-8.
    assert.deepEqual(
      written.map((record) => [record.transaction, record.offset]),
      [
        [0, 0],
        [0, 1],
        [0, 2],
        [0, 3],
        [0, 4],
        [1, 6],
        [1, 7],
        [1, 8],
      ],
    );
    // The abort marker at 9 puts the log end two past the 8 records and one past the last one.
    // The coordinator writes the markers after answering EndTxn, hence the wait.
    await waitFor('the abort marker to be written', async () => {
      return (await admin.endOffsets(topic)).get(0) === '10';
    });

    const batches = await diskBatches(logDir, topic, 0);
    assert.ok(
      batches.every((batch) => batch.transactional),
      'data and markers are transactional batches',
    );
    assert.deepEqual(
      batches
        .filter((batch) => batch.control)
        .map((batch) => ({
          offset: batch.lastOffset,
          count: batch.count,
          type: batch.controlType,
        })),
      [
        { offset: 5n, count: 1, type: 1 },
        { offset: 9n, count: 1, type: 0 },
      ],
      'a commit marker at 5 and an abort marker at 9',
    );
    const dataBatches = batches.filter((batch) => !batch.control);
    assert.deepEqual(
      [...new Set(dataBatches.map((batch) => batch.codec))],
      [CODEC_IDS.zstd],
      'data batches zstd-compressed, markers never compressed',
    );
    assert.deepEqual(
      dataBatches.flatMap((batch) =>
        Array.from({ length: batch.count }, (_, i) => batch.baseOffset + BigInt(i)),
      ),
      [0n, 1n, 2n, 3n, 4n, 6n, 7n, 8n],
    );
  });

  it('writes null header values, repeated header names and a 100 KB header as given', async () => {
    const topic = await newTopic(1);
    const big = Buffer.alloc(100 * 1024, 0xab);
    const result = await produceWithJavaClient({
      bootstrap: infra.kafkaBrokers,
      topic,
      steps: [
        {
          send: [
            {
              partition: 0,
              key: 'headers',
              value: 'v',
              headers: [
                { key: 'trace', value: null },
                { key: 'empty', value: '' },
                { key: 'dup', value: 'first' },
                { key: 'dup', value: null },
                { key: 'dup', value: Buffer.from([0, 1, 2]) },
              ],
            },
            { partition: 0, key: null, value: null, headers: [{ key: 'big', value: big }] },
          ],
        },
      ],
    });

    assert.deepEqual(
      acks(result.records).map((record) => record.offset),
      [0, 1],
    );
    assert.equal((await admin.endOffsets(topic)).get(0), '2');
    const records = (await diskBatches(logDir, topic, 0)).flatMap((batch) => batch.records ?? []);
    assert.equal(records.length, 2, 'uncompressed records decoded from the log');
    const [withHeaders, bigHeader] = records;
    assert.ok(withHeaders !== undefined && bigHeader !== undefined);
    assert.deepEqual(withHeaders.headers, [
      { key: 'trace', value: null },
      { key: 'empty', value: Buffer.alloc(0) },
      { key: 'dup', value: Buffer.from('first') },
      { key: 'dup', value: null },
      { key: 'dup', value: Buffer.from([0, 1, 2]) },
    ]);
    assert.equal(bigHeader.key, null);
    assert.equal(bigHeader.value, null);
    assert.equal(bigHeader.headers.length, 1);
    assert.ok(bigHeader.headers[0]?.value?.equals(big), '100 KB header value intact');
  });

  it('writes timestamps 0 and year 9999 where the topic allows them; refuses negative ones', async () => {
    const record = (timestamp: number): JavaProducerRecord => ({
      partition: 0,
      key: String(timestamp),
      value: 'v',
      timestamp,
    });

    // Kafka 4 brokers refuse timestamps more than an hour ahead by default
    // (message.timestamp.after.max.ms = 3600000); 0 is old but allowed.
    const strict = await newTopic(1);
    const refused = await produceWithJavaClient({
      bootstrap: infra.kafkaBrokers,
      topic: strict,
      steps: [{ send: [record(0)] }, { send: [record(YEAR_9999_MS)] }, { send: [record(-1)] }],
    });
    const [zero, future, negative] = refused.records;
    assert.ok(zero !== undefined && isAck(zero) && zero.offset === 0, JSON.stringify(zero));
    assert.match(
      future !== undefined && !isAck(future) ? future.error : '',
      /InvalidTimestampException/,
    );
    // The client itself refuses a negative timestamp; nothing reaches the broker.
    assert.match(
      negative !== undefined && !isAck(negative) ? negative.error : '',
      /IllegalArgumentException: Invalid timestamp: -1/,
    );
    assert.equal((await admin.endOffsets(strict)).get(0), '1');

    const lenient = await newTopic(1, { 'message.timestamp.after.max.ms': LONG_MAX });
    const result = await produceWithJavaClient({
      bootstrap: infra.kafkaBrokers,
      topic: lenient,
      steps: [{ send: [record(0), record(YEAR_9999_MS)] }],
    });
    assert.deepEqual(
      acks(result.records).map(({ offset, timestamp }) => [offset, timestamp]),
      [
        [0, 0],
        [1, YEAR_9999_MS],
      ],
    );
    const batches = await diskBatches(logDir, lenient, 0);
    assert.deepEqual(
      batches.flatMap((batch) => batch.records ?? []).map((stored) => stored.timestamp),
      [0n, BigInt(YEAR_9999_MS)],
    );
    assert.equal(batches.at(-1)?.maxTimestamp, BigInt(YEAR_9999_MS));
    assert.equal((await admin.endOffsets(lenient)).get(0), '2');
  });

  it('rejects when a step fails, with the results of the steps before it', async () => {
    const topic = await newTopic(1);
    const failed = await produceWithJavaClient({
      bootstrap: infra.kafkaBrokers,
      topic,
      transactionalId: `foreign-${randomUUID()}`,
      steps: [
        { begin: true },
        { send: [{ partition: 0, value: 'in' }] },
        { commit: true },
        { send: [{ partition: 0, value: 'outside any transaction' }] },
      ],
    }).then(
      () => assert.fail('the plan should fail'),
      (error: unknown) => error,
    );
    assert.ok(failed instanceof JavaProducerError, String(failed));
    assert.match(failed.message, /step 3: a transactional producer sends between begin and/);
    assert.equal(failed.exitCode, 1);
    assert.deepEqual(
      failed.result?.records.map((record) => (isAck(record) ? record.offset : record.error)),
      [0],
    );
    assert.deepEqual(
      failed.result.transactions.map((transaction) => transaction.outcome),
      ['committed'],
    );
  });
});
