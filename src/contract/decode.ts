import secureJson from 'secure-json-parse';

import type { Registration } from './registration.js';

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
] as const;

export type RejectReason = (typeof REJECT_REASONS)[number];

export type DecodeResult =
  | { readonly ok: true; readonly registration: Registration }
  | { readonly ok: false; readonly reason: RejectReason; readonly detail: string };

const CATEGORICAL_FIELDS = {
  ip_country: 'ipCountry',
  device_country: 'deviceCountry',
  device_language: 'deviceLanguage',
  platform: 'platform',
  platform_store: 'platformStore',
  smartphone_brand: 'smartphoneBrand',
  child_smartphone_brand: 'childSmartphoneBrand',
} as const;

const MAX_CHILD_AGE = 120;
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
    return reject('not_json', `${what} is not valid JSON: ${(error as Error).message}`);
  }
  if (isObject(value) || Array.isArray(value)) {
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

function decodeId(
  record: JsonObject,
): { ok: true; id: number } | Extract<DecodeResult, { ok: false }> {
  const hasUserId = record.user_id !== undefined && record.user_id !== null;
  const hasId = record.id !== undefined && record.id !== null;
  if (!hasUserId && !hasId) return reject('missing_id', 'neither user_id nor id is present');
  const field = hasUserId ? 'user_id' : 'id';
  const raw = record[field];
  let id: number | undefined;
  if (typeof raw === 'number' && Number.isSafeInteger(raw) && raw > 0) id = raw;
  if (typeof raw === 'string' && DECIMAL_ID.test(raw)) {
    const parsed = Number(raw);
    if (Number.isSafeInteger(parsed)) id = parsed;
  }
  if (id === undefined) {
    return reject(
      'invalid_id',
      `${field} must be a positive integer up to 2^53-1, as a number or decimal string; got ${JSON.stringify(raw)}`,
    );
  }
  if (hasUserId && hasId) {
    const other = record.id;
    if (String(other) !== String(raw)) {
      return reject(
        'invalid_id',
        `user_id ${JSON.stringify(raw)} and id ${JSON.stringify(other)} disagree`,
      );
    }
  }
  return { ok: true, id };
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
      `is_organic must be 0, 1, true, false or null; got ${JSON.stringify(organic)}`,
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
      `child_age must be a number from 0 to ${MAX_CHILD_AGE} or null; got ${JSON.stringify(age)}`,
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
