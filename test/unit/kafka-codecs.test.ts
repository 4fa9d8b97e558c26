import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';

import kafkajs from 'kafkajs';
import { compressSync as snappyCompressSync } from 'snappy';

import { registerCodecs, UNDECODABLE_HEADER, undecodableReason } from '../../src/kafka/codecs.js';

// kafkajs's own record-batch encoder and decoder: the codecs must satisfy exactly them.
const require = createRequire(import.meta.url);
interface EncoderLike {
  readonly buffer: Buffer;
}
interface DecodedRecord {
  readonly offset: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Record<string, Buffer | null | (Buffer | null)[]>;
}
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as {
  RecordBatch: (options: Record<string, unknown>) => Promise<EncoderLike>;
};
const Record = require('kafkajs/src/protocol/recordBatch/record/v0') as (
  options: Record<string, unknown>,
) => EncoderLike;
const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (
  decoder: unknown,
) => Promise<{ records: DecodedRecord[] }>;
const Decoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => unknown;
const { Codecs } = require('kafkajs/src/protocol/message/compression') as {
  Codecs: Record<number, () => { decompress(buffer: Buffer): Promise<Buffer> }>;
};

registerCodecs();
const { CompressionTypes } = kafkajs;

const VALUES = ['{"user_id":"1"}', '{"user_id":"2"}', '{"user_id":"3"}'];

async function encodedBatch(compression: number): Promise<Buffer> {
  const records = VALUES.map((value, index) =>
    Record({ offsetDelta: index, key: Buffer.from(`k${index}`), value: Buffer.from(value) }),
  );
  const batch = await RecordBatch({
    compression,
    firstOffset: 1_000n,
    lastOffsetDelta: records.length - 1,
    records,
  });
  return batch.buffer;
}

async function decode(buffer: Buffer): Promise<DecodedRecord[]> {
  return (await decodeRecordBatch(new Decoder(buffer))).records;
}

// Offset of the int16 attributes in an encoded batch: base offset, length, leader epoch, magic, CRC.
const ATTRIBUTES_AT = 8 + 4 + 4 + 1 + 4;
// The compressed records section starts after the 61-byte batch header and the record count.
const RECORDS_AT = 8 + 4 + 4 + 1 + 4 + 2 + 4 + 8 + 8 + 8 + 2 + 4 + 4;

describe('record-batch codecs', () => {
  for (const [name, type] of [
    ['gzip', CompressionTypes.GZIP],
    ['snappy', CompressionTypes.Snappy],
    ['lz4', CompressionTypes.LZ4],
  ] as const) {
    it(`${name}: a batch compressed by kafkajs decodes to its records`, async () => {
      const records = await decode(await encodedBatch(type));
      assert.deepEqual(
        records.map((record) => [record.offset, record.value?.toString()]),
        VALUES.map((value, index) => [String(1_000 + index), value]),
      );
    });
  }

  it('snappy: reads the framed ("xerial") format of the Java client, block by block', async () => {
    const data = Buffer.from('registration '.repeat(5_000));
    const header = Buffer.alloc(16);
    Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]).copy(header);
    header.writeInt32BE(1, 8);
    header.writeInt32BE(1, 12);
    const blocks = [data.subarray(0, 30_000), data.subarray(30_000)].map((part) => {
      const compressed = snappyCompressSync(part);
      const length = Buffer.alloc(4);
      length.writeUInt32BE(compressed.length);
      return Buffer.concat([length, compressed]);
    });
    const codec = Codecs[CompressionTypes.Snappy]?.();
    assert.ok(codec);
    assert.deepEqual(await codec.decompress(Buffer.concat([header, ...blocks])), data);
  });

  it('a batch whose bytes the codec rejects becomes placeholders at its offsets', async () => {
    const batch = await encodedBatch(CompressionTypes.Snappy);
    const corrupt = Buffer.from(batch);
    corrupt.fill(0xff, RECORDS_AT, RECORDS_AT + 8);
    const records = await decode(corrupt);
    assert.deepEqual(
      records.map((record) => record.offset),
      ['1000', '1001', '1002'],
    );
    for (const [index, record] of records.entries()) {
      const marker = record.headers[UNDECODABLE_HEADER];
      assert.ok(Buffer.isBuffer(marker));
      assert.match(undecodableReason(marker) ?? '', /^snappy batch could not be decompressed: /);
      assert.equal(record.key, null);
      // The first placeholder keeps the compressed bytes for the dead letter.
      assert.deepEqual(record.value, index === 0 ? corrupt.subarray(RECORDS_AT) : null);
    }
  });

  it('a batch with a codec id no client knows becomes placeholders too', async () => {
    const batch = Buffer.from(await encodedBatch(CompressionTypes.GZIP));
    const attributes = batch.readInt16BE(ATTRIBUTES_AT);
    batch.writeInt16BE((attributes & ~0x07) | 0x05, ATTRIBUTES_AT);
    const records = await decode(batch);
    assert.equal(records.length, 3);
    assert.equal(records.at(-1)?.offset, '1002');
    assert.match(
      undecodableReason(records[0]?.headers[UNDECODABLE_HEADER] as Buffer) ?? '',
      /^codec 5 /,
    );
  });

  it('a producer cannot forge the placeholder marker', () => {
    assert.equal(undecodableReason(Buffer.from('deadbeef:snappy batch could not')), undefined);
    assert.equal(undecodableReason(null), undefined);
    assert.equal(undecodableReason(undefined), undefined);
  });
});
