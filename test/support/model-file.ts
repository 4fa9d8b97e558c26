import {
  METADATA_PROPS_FIELD,
  ProtobufReader,
  readEntry,
  WIRE_LENGTH_DELIMITED,
} from '../../src/scoring/onnx-metadata.js';

/**
 * A copy of an ONNX model file with one `metadata_props` entry set: the same graph under another
 * `model_version`, which is what a retrained model looks like to delivery (another file, another
 * digest, another version). Top-level protobuf fields are copied byte for byte, except the
 * entry with that key, and the new entry is appended (field order does not matter to a parser). The fields are walked with the service's own
 * reader (src/scoring/onnx-metadata.ts).
 */

function varint(value: number): number[] {
  const bytes: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return bytes;
}

/** A protobuf field: a varint, or a string or bytes (length-delimited). */
export type Field = readonly [field: number, value: number | string | Uint8Array];

/** A hand-encoded protobuf message: enough to write small ONNX models and metadata entries. */
export function message(...fields: Field[]): Uint8Array {
  const out: number[] = [];
  for (const [field, value] of fields) {
    if (typeof value === 'number') {
      out.push(...varint(field * 8), ...varint(value));
    } else {
      const payload = typeof value === 'string' ? new TextEncoder().encode(value) : value;
      out.push(...varint(field * 8 + WIRE_LENGTH_DELIMITED), ...varint(payload.length), ...payload);
    }
  }
  return Uint8Array.from(out);
}

export function withMetadataEntry(model: Uint8Array, key: string, value: string): Buffer {
  const kept: Uint8Array[] = [];
  const reader = new ProtobufReader(model, 0, model.length);
  while (!reader.done) {
    const start = reader.offset;
    const { field, wireType } = reader.tag();
    if (field === METADATA_PROPS_FIELD && wireType === WIRE_LENGTH_DELIMITED) {
      const [from, to] = reader.lengthDelimited();
      if (readEntry(model, from, to)[0] === key) continue;
    } else {
      reader.skip(wireType);
    }
    kept.push(model.subarray(start, reader.offset));
  }
  return Buffer.concat([...kept, message([METADATA_PROPS_FIELD, message([1, key], [2, value])])]);
}
