import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';

import { decompress as zstdDecompress } from 'fzstd';
// kafkajs is CommonJS; Node's named-export detection misses these two.
import kafkajs from 'kafkajs';
import { compressFrame as lz4CompressFrame, decompressFrame as lz4DecompressFrame } from 'lz4-napi';
import { compress as snappyCompress, uncompress as snappyUncompress } from 'snappy';

/**
 * Record-batch codecs for kafkajs, which decodes only gzip by itself. Java, Go and librdkafka
 * producers are commonly set to snappy, lz4 or zstd; without these a single such batch made
 * the fetch fail and the consumer exit, on every restart.
 *
 * A batch that still cannot be decoded (a codec id this build does not know, or bytes the
 * codec rejects) must not fail the whole fetch either: that would stall every partition led by
 * the same broker. Its records are replaced by placeholders with the batch's record count and
 * offsets, each marked with the header below, so that the pipeline dead-letters them (the first
 * one carrying the compressed bytes) and commits past them like any other bad input.
 */

interface KafkaJsEncoder {
  readonly buffer: Buffer;
}

interface KafkaJsCodec {
  compress(encoder: KafkaJsEncoder): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

/** Header of a placeholder record; its value starts with this process's nonce. */
export const UNDECODABLE_HEADER = 'realtime-offers.undecodable';

// A producer may send any header, this one included: only a value that starts with a nonce
// drawn at start marks a placeholder made here.
const NONCE = randomBytes(12).toString('hex');

/** The reason a placeholder was made, or undefined when the header is not one of ours. */
export function undecodableReason(headerValue: Buffer | null | undefined): string | undefined {
  if (!headerValue) return undefined;
  const text = headerValue.toString();
  return text.startsWith(`${NONCE}:`) ? text.slice(NONCE.length + 1) : undefined;
}

const { CompressionCodecs, CompressionTypes } = kafkajs;

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

/**
 * Kafka's Java client frames snappy data the way snappy-java's SnappyOutputStream does (the
 * "xerial" format): an 8-byte magic, two int32 versions, then blocks of int32 length + raw
 * snappy block. librdkafka and kafkajs-style producers send one raw block.
 */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);
const XERIAL_HEADER_BYTES = 16;

async function snappyDecompress(buffer: Buffer): Promise<Buffer> {
  if (buffer.length < XERIAL_HEADER_BYTES || !buffer.subarray(0, 8).equals(XERIAL_MAGIC)) {
    return toBuffer(await snappyUncompress(buffer));
  }
  const blocks: Buffer[] = [];
  let offset = XERIAL_HEADER_BYTES;
  while (offset < buffer.length) {
    if (offset + 4 > buffer.length) throw new Error('truncated xerial snappy block length');
    const length = buffer.readUInt32BE(offset);
    offset += 4;
    if (offset + length > buffer.length) throw new Error('truncated xerial snappy block');
    blocks.push(toBuffer(await snappyUncompress(buffer.subarray(offset, offset + length))));
    offset += length;
  }
  return Buffer.concat(blocks);
}

function toBuffer(data: Uint8Array | string): Buffer {
  if (typeof data === 'string') return Buffer.from(data);
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

const CODECS: Readonly<Record<number, { name: string; codec: KafkaJsCodec }>> = {
  [CompressionTypes.GZIP]: {
    name: 'gzip',
    codec: {
      compress: (encoder) => gzipAsync(encoder.buffer),
      decompress: (buffer) => gunzipAsync(buffer),
    },
  },
  [CompressionTypes.Snappy]: {
    name: 'snappy',
    codec: {
      compress: (encoder) => snappyCompress(encoder.buffer),
      decompress: snappyDecompress,
    },
  },
  [CompressionTypes.LZ4]: {
    name: 'lz4',
    codec: {
      // Kafka (record format v2) uses the standard LZ4 frame format.
      compress: (encoder) => lz4CompressFrame(encoder.buffer),
      decompress: (buffer) => lz4DecompressFrame(buffer),
    },
  },
  [CompressionTypes.ZSTD]: {
    name: 'zstd',
    codec: {
      // Node 20 has no zstd in zlib, and the native zstd bindings download their binaries at
      // install time; fzstd decodes frames without a content size, which is how Kafka's Java
      // client writes them. The service never produces zstd.
      compress: () => Promise.reject(new Error('zstd compression is not available for producing')),
      decompress: (buffer) => Promise.resolve(toBuffer(zstdDecompress(buffer))),
    },
  },
};

// The record-batch attribute bits hold codec ids 0-7; 5-7 are not assigned yet.
const UNKNOWN_CODEC_IDS = [5, 6, 7];

/**
 * Bytes before a compressed records section in the record batch kafkajs decodes: the section
 * is a view into the batch, preceded by (from its start) ... LastOffsetDelta int32,
 * FirstTimestamp int64, MaxTimestamp int64, ProducerId int64, ProducerEpoch int16,
 * FirstSequence int32, RecordCount int32.
 */
const RECORD_COUNT_BACK = 4;
const LAST_OFFSET_DELTA_BACK = 4 + 4 + 2 + 8 + 8 + 8 + 4;

/** Record count and last offset delta of the batch whose compressed records `section` is. */
export function batchShape(section: Buffer): { count: number; lastOffsetDelta: number } {
  if (section.byteOffset < LAST_OFFSET_DELTA_BACK) throw new Error('no record batch header');
  const header = Buffer.from(
    section.buffer,
    section.byteOffset - LAST_OFFSET_DELTA_BACK,
    LAST_OFFSET_DELTA_BACK,
  );
  const count = header.readInt32BE(LAST_OFFSET_DELTA_BACK - RECORD_COUNT_BACK);
  const lastOffsetDelta = header.readInt32BE(0);
  if (count < 1 || lastOffsetDelta < count - 1) {
    throw new Error(
      `implausible record batch header (count ${count}, last delta ${lastOffsetDelta})`,
    );
  }
  return { count, lastOffsetDelta };
}

function varint(value: number): Buffer {
  // Zig-zag, then 7 bits per byte: Kafka's record encoding.
  let zigzag = value >= 0 ? value * 2 : -value * 2 - 1;
  const bytes: number[] = [];
  while (zigzag >= 0x80) {
    bytes.push((zigzag % 0x80) | 0x80);
    zigzag = Math.floor(zigzag / 0x80);
  }
  bytes.push(zigzag);
  return Buffer.from(bytes);
}

function varintBytes(value: Buffer | null): Buffer {
  return value === null ? varint(-1) : Buffer.concat([varint(value.length), value]);
}

/** One record (format v2) with no key, `value`, one header. */
function placeholderRecord(offsetDelta: number, value: Buffer | null, reason: string): Buffer {
  const headerKey = Buffer.from(UNDECODABLE_HEADER);
  const body = Buffer.concat([
    Buffer.from([0]), // attributes
    varint(0), // timestamp delta
    varint(offsetDelta),
    varintBytes(null), // key
    varintBytes(value),
    varint(1), // header count
    varint(headerKey.length),
    headerKey,
    varintBytes(Buffer.from(`${NONCE}:${reason}`)),
  ]);
  return Buffer.concat([varint(body.length), body]);
}

/**
 * What a batch that could not be decompressed decodes to: `count` placeholder records whose
 * last one has the batch's last offset, so committing it moves past the whole batch.
 */
export function placeholderRecords(section: Buffer, reason: string): Buffer {
  const { count, lastOffsetDelta } = batchShape(section);
  const records: Buffer[] = [];
  for (let index = 0; index < count; index += 1) {
    const delta = index === count - 1 ? lastOffsetDelta : index;
    records.push(placeholderRecord(delta, index === 0 ? section : null, reason));
  }
  return Buffer.concat(records);
}

function tolerant(name: string, codec: KafkaJsCodec): KafkaJsCodec {
  return {
    compress: (encoder) => codec.compress(encoder),
    async decompress(buffer) {
      try {
        return await codec.decompress(buffer);
      } catch (error) {
        const detail = error instanceof Error ? error.message : String(error);
        return placeholderRecords(buffer, `${name} batch could not be decompressed: ${detail}`);
      }
    },
  };
}

let registered = false;

/** Makes kafkajs decode every codec (and survive batches it cannot). Idempotent. */
export function registerCodecs(): void {
  if (registered) return;
  registered = true;
  const codecs = CompressionCodecs as unknown as Record<number, () => KafkaJsCodec>;
  for (const [id, { name, codec }] of Object.entries(CODECS)) {
    const wrapped = tolerant(name, codec);
    codecs[Number(id)] = () => wrapped;
  }
  for (const id of UNKNOWN_CODEC_IDS) {
    const unknown = tolerant(`codec ${id}`, {
      compress: () => Promise.reject(new Error(`codec ${id} is not known`)),
      decompress: () => Promise.reject(new Error('unknown compression codec')),
    });
    codecs[id] = () => unknown;
  }
}
