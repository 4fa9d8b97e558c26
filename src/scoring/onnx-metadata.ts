/**
 * Reads `metadata_props` from a serialized ONNX model.
 *
 * onnxruntime-node 1.30 exposes input and output metadata but not the model's custom
 * metadata, and the model version must come from the artifact itself (a sidecar file can be
 * swapped independently of the model). `metadata_props` is a top-level field of ModelProto,
 * so a scan of the top-level protobuf fields finds it without decoding the graph.
 */

/** ModelProto.metadata_props (repeated StringStringEntryProto). */
export const METADATA_PROPS_FIELD = 14;
const ENTRY_KEY_FIELD = 1;
const ENTRY_VALUE_FIELD = 2;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
export const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Walks the fields of one protobuf message in bytes[start, end). */
export class ProtobufReader {
  private position: number;

  constructor(
    private readonly bytes: Uint8Array,
    start: number,
    private readonly end: number,
  ) {
    this.position = start;
  }

  /** Where the next field starts. */
  get offset(): number {
    return this.position;
  }

  get done(): boolean {
    return this.position >= this.end;
  }

  /** Varints above 2^53 lose precision; only lengths and tags are used, which never get there. */
  varint(): number {
    let value = 0;
    for (let shift = 0; shift < 64; shift += 7) {
      if (this.position >= this.end) throw new Error('truncated varint');
      const byte = this.bytes[this.position] ?? 0;
      this.position += 1;
      value += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return value;
    }
    throw new Error('varint longer than 10 bytes');
  }

  tag(): { field: number; wireType: number } {
    const tag = this.varint();
    return { field: Math.floor(tag / 8), wireType: tag % 8 };
  }

  /** The [start, end) range of a length-delimited field's payload; moves past it. */
  lengthDelimited(): [number, number] {
    const length = this.varint();
    const start = this.position;
    const end = start + length;
    if (end > this.end) throw new Error('field runs past the end of its message');
    this.position = end;
    return [start, end];
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint();
        return;
      case WIRE_FIXED64:
        this.advance(8);
        return;
      case WIRE_LENGTH_DELIMITED:
        this.lengthDelimited();
        return;
      case WIRE_FIXED32:
        this.advance(4);
        return;
      default:
        throw new Error(`unsupported protobuf wire type ${wireType}`);
    }
  }

  private advance(count: number): void {
    if (this.position + count > this.end) throw new Error('truncated fixed-width field');
    this.position += count;
  }
}

/** The key and value of one StringStringEntryProto in bytes[start, end). */
export function readEntry(bytes: Uint8Array, start: number, end: number): [string, string] {
  const reader = new ProtobufReader(bytes, start, end);
  let key = '';
  let value = '';
  while (!reader.done) {
    const { field, wireType } = reader.tag();
    if (
      (field === ENTRY_KEY_FIELD || field === ENTRY_VALUE_FIELD) &&
      wireType === WIRE_LENGTH_DELIMITED
    ) {
      const [from, to] = reader.lengthDelimited();
      const text = utf8.decode(bytes.subarray(from, to));
      if (field === ENTRY_KEY_FIELD) key = text;
      else value = text;
    } else {
      reader.skip(wireType);
    }
  }
  return [key, value];
}

/**
 * The model's `metadata_props` as a map. Throws when the bytes are not a well-formed
 * protobuf message. Should a key repeat, the last entry wins.
 */
export function readModelMetadata(model: Uint8Array): Map<string, string> {
  const metadata = new Map<string, string>();
  const reader = new ProtobufReader(model, 0, model.length);
  while (!reader.done) {
    const { field, wireType } = reader.tag();
    if (field === METADATA_PROPS_FIELD && wireType === WIRE_LENGTH_DELIMITED) {
      const [start, end] = reader.lengthDelimited();
      const [key, value] = readEntry(model, start, end);
      metadata.set(key, value);
    } else {
      reader.skip(wireType);
    }
  }
  return metadata;
}
