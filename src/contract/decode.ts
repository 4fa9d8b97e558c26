import secureJson from 'secure-json-parse';

import { CATEGORICAL_FIELDS, type Registration } from './registration.js';

/**
 * Turns one Kafka message value into a `Registration`, or a rejection with a stable reason.
 *
 * Accepted shapes (ARCHITECTURE §1): a Kafka-Connect envelope whose `payload` is a JSON
 * string holding the registration (file source connector), an envelope whose `payload` is
 * the registration object (REST proxy), or the bare registration object.
 */

export const REJECT_REASONS = [
  'empty',
  'too_large',
  'not_json',
  'not_object',
  'forbidden_key',
  'missing_id',
  'invalid_id',
  'invalid_field',
  /** The Kafka client could not decode the record batch the message came in (codec, corrupt bytes). */
  'undecodable_batch',
] as const;

export type RejectReason = (typeof REJECT_REASONS)[number];

export type DecodeResult =
  | { readonly ok: true; readonly registration: Registration }
  | { readonly ok: false; readonly reason: RejectReason; readonly detail: string };

const MAX_CHILD_AGE = 120;
// Category values are short codes and names ("ru", "Google Play", "smart baby watch"). A
// longer one is a producer bug or an attack, and it would cost a model input string, span
// attributes and log space for nothing, so it is rejected rather than scored as unknown.
export const MAX_CATEGORY_LENGTH = 128;
// onnxruntime cuts strings at NUL, so "samsung\u0000x" would be scored as "samsung"; no
// control character belongs in a category, so all of C0 and DEL are rejected alike.
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTER = /[\u0000-\u001f\u007f]/;
// Rejection details go to logs, span status and a DLQ header: quoted input is cut short.
const PREVIEW_CHARACTERS = 64;
// Ids become ClickHouse UInt64 and Redis keys; above 2^53-1 a JS number would silently
// round to a neighbouring user's id.
const DECIMAL_ID = /^[1-9]\d{0,15}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

type JsonObject = Record<string, unknown>;
type Parsed = { ok: true; value: unknown } | Extract<DecodeResult, { ok: false }>;

function reject(reason: RejectReason, detail: string): Extract<DecodeResult, { ok: false }> {
  return { ok: false, reason, detail };
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(text: string, what: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    // V8 parses iteratively, but a parser that recursed would run out of stack on deep
    // nesting: that is still a rejection of this message, never a crash.
    const detail =
      error instanceof RangeError
        ? 'is nested too deeply to parse'
        : `is not valid JSON: ${truncate(errorMessageOf(error))}`;
    return reject('not_json', `${what} ${detail}`);
  }
  // A forbidden key is spelled in the text, or hidden behind a \u escape: text without
  // either cannot hold one, and most messages need no walk over their parsed tree.
  const mayHideKey =
    text.includes('__proto__') || text.includes('constructor') || text.includes('\\u');
  if (mayHideKey && (isObject(value) || Array.isArray(value))) {
    try {
      // Throws on own `__proto__` / `constructor.prototype` keys anywhere in the tree; such
      // keys are how merged objects get their prototype polluted downstream.
      secureJson.scan(value, { protoAction: 'error', constructorAction: 'error' });
    } catch {
      return reject('forbidden_key', `${what} contains a __proto__ or constructor key`);
    }
  }
  return { ok: true, value };
}

function idOf(raw: unknown): number | undefined {
  if (typeof raw === 'number') return Number.isSafeInteger(raw) && raw > 0 ? raw : undefined;
  if (typeof raw === 'string' && DECIMAL_ID.test(raw)) {
    const parsed = Number(raw);
    return Number.isSafeInteger(parsed) ? parsed : undefined;
  }
  return undefined;
}

function decodeId(
  record: JsonObject,
): { ok: true; id: number } | Extract<DecodeResult, { ok: false }> {
  const hasUserId = record.user_id !== undefined && record.user_id !== null;
  const hasId = record.id !== undefined && record.id !== null;
  if (!hasUserId && !hasId) return reject('missing_id', 'neither user_id nor id is present');
  const field = hasUserId ? 'user_id' : 'id';
  const raw = record[field];
  const id = idOf(raw);
  if (id === undefined) {
    return reject(
      'invalid_id',
      `${field} must be a positive integer up to 2^53-1, as a number or decimal string; got ${preview(raw)}`,
    );
  }
  if (hasUserId && hasId && idOf(record.id) !== id) {
    return reject('invalid_id', `user_id ${preview(raw)} and id ${preview(record.id)} disagree`);
  }
  return { ok: true, id };
}

function errorMessageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function truncate(text: string): string {
  return text.length <= PREVIEW_CHARACTERS * 2
    ? text
    : `${text.slice(0, PREVIEW_CHARACTERS * 2)}... (${text.length} characters)`;
}

/**
 * A short, safe rendering of an input value for a rejection detail. Never recurses into the
 * value: JSON.stringify or String() of an array nested 100,000 deep overflows the stack.
 */
export function preview(value: unknown): string {
  if (typeof value === 'string') {
    return value.length <= PREVIEW_CHARACTERS
      ? JSON.stringify(value)
      : `${JSON.stringify(value.slice(0, PREVIEW_CHARACTERS))}... (${value.length} characters)`;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return `an array of ${value.length} items`;
  if (typeof value === 'object') return 'an object';
  return typeof value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function decodeRecord(record: JsonObject): DecodeResult {
  const id = decodeId(record);
  if (!id.ok) return id;

  const categoricals: Record<string, string | null> = {};
  for (const [field, property] of Object.entries(CATEGORICAL_FIELDS)) {
    const value = record[field];
    if (value === undefined || value === null || value === '') {
      categoricals[property] = null;
    } else if (typeof value === 'string') {
      if (value.length > MAX_CATEGORY_LENGTH) {
        return reject(
          'invalid_field',
          `${field} is ${value.length} characters long; the limit is ${MAX_CATEGORY_LENGTH}`,
        );
      }
      const control = CONTROL_CHARACTER.exec(value);
      if (control !== null) {
        const code = control[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0');
        return reject(
          'invalid_field',
          `${field} contains the control character U+${code}: ${preview(value)}`,
        );
      }
      categoricals[property] = value;
    } else {
      return reject('invalid_field', `${field} must be a string or null; got ${describe(value)}`);
    }
  }

  const organic = record.is_organic;
  let isOrganic: number | null;
  if (organic === undefined || organic === null) isOrganic = null;
  else if (organic === 0 || organic === 1) isOrganic = organic;
  else if (typeof organic === 'boolean') isOrganic = organic ? 1 : 0;
  else {
    return reject(
      'invalid_field',
      `is_organic must be 0, 1, true, false or null; got ${preview(organic)}`,
    );
  }

  const age = record.child_age;
  let childAge: number | null;
  if (age === undefined || age === null) childAge = null;
  else if (typeof age === 'number' && Number.isFinite(age) && age >= 0 && age <= MAX_CHILD_AGE) {
    childAge = age;
  } else {
    return reject(
      'invalid_field',
      `child_age must be a number from 0 to ${MAX_CHILD_AGE} or null; got ${preview(age)}`,
    );
  }

  return {
    ok: true,
    registration: {
      userId: id.id,
      ipCountry: categoricals.ipCountry ?? null,
      deviceCountry: categoricals.deviceCountry ?? null,
      deviceLanguage: categoricals.deviceLanguage ?? null,
      platform: categoricals.platform ?? null,
      platformStore: categoricals.platformStore ?? null,
      smartphoneBrand: categoricals.smartphoneBrand ?? null,
      childSmartphoneBrand: categoricals.childSmartphoneBrand ?? null,
      isOrganic,
      childAge,
    },
  };
}

export function decodeRegistration(value: Uint8Array | null, maxBytes: number): DecodeResult {
  if (value === null || value.length === 0) return reject('empty', 'the message has no value');
  // Checked on the raw bytes, before any parsing work is spent on an oversized message.
  if (value.length > maxBytes) {
    return reject('too_large', `the value has ${value.length} bytes; the limit is ${maxBytes}`);
  }
  let text: string;
  try {
    text = utf8.decode(value);
  } catch {
    return reject('not_json', 'the value is not valid UTF-8');
  }
  const outer = parseJson(text, 'the value');
  if (!outer.ok) return outer;
  if (!isObject(outer.value)) {
    return reject('not_object', `the value must be a JSON object; got ${describe(outer.value)}`);
  }

  let record: JsonObject = outer.value;
  if ('payload' in record && !('user_id' in record) && !('id' in record)) {
    const payload = record.payload;
    if (typeof payload === 'string') {
      const inner = parseJson(payload, 'the envelope payload');
      if (!inner.ok) return inner;
      if (!isObject(inner.value)) {
        return reject(
          'not_object',
          `the envelope payload must hold a JSON object; got ${describe(inner.value)}`,
        );
      }
      record = inner.value;
    } else if (isObject(payload)) {
      record = payload;
    } else {
      return reject(
        'not_object',
        `the envelope payload must be an object or a string holding one; got ${describe(payload)}`,
      );
    }
  }
  return decodeRecord(record);
}
