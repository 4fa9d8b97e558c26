/**
 * A copy of an ONNX model file with one `metadata_props` entry set: the same graph under another
 * `model_version`, which is what a retrained model looks like to delivery (another file, another
 * digest, another version). Top-level protobuf fields are copied byte for byte, except the
 * entry with that key, and the new entry is appended (field order does not matter to a parser).
 */

/** ModelProto.metadata_props: repeated StringStringEntryProto (key = 1, value = 2). */
const METADATA_PROPS = 14;
const LENGTH_DELIMITED = 2;

function readVarint(bytes: Uint8Array, at: number): [value: number, next: number] {
  let value = 0;
  for (let shift = 0, position = at; shift < 64; shift += 7, position += 1) {
    const byte = bytes[position];
    if (byte === undefined) throw new Error('truncated varint');
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, position + 1];
  }
  throw new Error('varint longer than 10 bytes');
}

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
      out.push(...varint(field * 8 + LENGTH_DELIMITED), ...varint(payload.length), ...payload);
    }
  }
  return Uint8Array.from(out);
}

/** The key of a StringStringEntryProto. */
function entryKey(entry: Uint8Array): string | undefined {
  let at = 0;
  while (at < entry.length) {
    const [tag, afterTag] = readVarint(entry, at);
    if (tag % 8 !== LENGTH_DELIMITED) return undefined;
    const [length, start] = readVarint(entry, afterTag);
    if (Math.floor(tag / 8) === 1)
      return Buffer.from(entry.subarray(start, start + length)).toString();
    at = start + length;
  }
  return undefined;
}

export function withMetadataEntry(model: Uint8Array, key: string, value: string): Buffer {
  const kept: Uint8Array[] = [];
  let at = 0;
  while (at < model.length) {
    const start = at;
    const [tag, afterTag] = readVarint(model, at);
    const field = Math.floor(tag / 8);
    switch (tag % 8) {
      case 0:
        at = readVarint(model, afterTag)[1];
        break;
      case 1:
        at = afterTag + 8;
        break;
      case 5:
        at = afterTag + 4;
        break;
      case LENGTH_DELIMITED: {
        const [length, payload] = readVarint(model, afterTag);
        at = payload + length;
        if (field === METADATA_PROPS && entryKey(model.subarray(payload, at)) === key) continue;
        break;
      }
      default:
        throw new Error(`unsupported protobuf wire type ${tag % 8} at byte ${start}`);
    }
    if (at > model.length) throw new Error('a field runs past the end of the model');
    kept.push(model.subarray(start, at));
  }
  return Buffer.concat([...kept, message([METADATA_PROPS, message([1, key], [2, value])])]);
}
