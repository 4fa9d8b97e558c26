import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { decodeRegistration, type DecodeResult } from '../../src/contract/decode.js';
import { sampleRegistration } from '../support/registration-sample.js';

const LIMIT = 65_536;
const REGISTRATION = sampleRegistration('1');
const EXPECTED = {
  userId: 1,
  ipCountry: 'ru',
  deviceCountry: 'ru',
  deviceLanguage: 'ru',
  platform: 'Android',
  platformStore: 'Google Play',
  smartphoneBrand: 'samsung',
  childSmartphoneBrand: 'samsung',
  isOrganic: 0,
  childAge: 13,
};

const bytes = (value: unknown): Buffer =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value));
const decode = (value: unknown): DecodeResult => decodeRegistration(bytes(value), LIMIT);

function rejected(result: DecodeResult, reason: string, detailPart?: string): void {
  assert.equal(result.ok, false, 'expected a rejection');
  assert.equal(result.reason, reason, result.detail);
  if (detailPart !== undefined) assert.match(result.detail, new RegExp(detailPart));
}

describe('decodeRegistration: accepted shapes', () => {
  it('reads an envelope whose payload is a JSON string (file source connector)', () => {
    const envelope = {
      schema: { type: 'string', optional: false },
      payload: JSON.stringify(REGISTRATION),
    };
    assert.deepEqual(decode(envelope), { ok: true, registration: EXPECTED });
  });

  it('reads an envelope whose payload is the object (REST proxy)', () => {
    const envelope = { schema: { type: 'string', optional: false }, payload: REGISTRATION };
    assert.deepEqual(decode(envelope), { ok: true, registration: EXPECTED });
  });

  it('reads a bare registration object', () => {
    assert.deepEqual(decode(REGISTRATION), { ok: true, registration: EXPECTED });
  });

  it('takes the older `id` field and integer ids', () => {
    const { user_id: _dropped, ...rest } = REGISTRATION;
    const result = decode({ ...rest, id: 42 });
    assert.ok(result.ok);
    assert.equal(result.registration.userId, 42);
  });

  it('accepts user_id and id together when they agree', () => {
    const result = decode({ ...REGISTRATION, user_id: 7, id: '7' });
    assert.ok(result.ok);
    assert.equal(result.registration.userId, 7);
  });

  it('accepts the largest safe integer id, as a string and as a number', () => {
    for (const id of [String(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER]) {
      const result = decode({ ...REGISTRATION, user_id: id });
      assert.ok(result.ok);
      assert.equal(result.registration.userId, Number.MAX_SAFE_INTEGER);
    }
  });

  it('turns missing, null and empty categoricals into null for the model', () => {
    const result = decode({
      user_id: 5,
      ip_country: null,
      device_country: '',
      platform: 'iOS',
      child_age: null,
    });
    assert.deepEqual(result, {
      ok: true,
      registration: {
        userId: 5,
        ipCountry: null,
        deviceCountry: null,
        deviceLanguage: null,
        platform: 'iOS',
        platformStore: null,
        smartphoneBrand: null,
        childSmartphoneBrand: null,
        isOrganic: null,
        childAge: null,
      },
    });
  });

  it('keeps unknown category values: the model ignores them', () => {
    const result = decode({ ...REGISTRATION, smartphone_brand: 'brand-from-2031' });
    assert.ok(result.ok);
    assert.equal(result.registration.smartphoneBrand, 'brand-from-2031');
  });

  it('accepts booleans for is_organic and edge ages', () => {
    const organic = decode({ ...REGISTRATION, is_organic: true, child_age: 0 });
    assert.ok(organic.ok);
    assert.equal(organic.registration.isOrganic, 1);
    assert.equal(organic.registration.childAge, 0);
    const old = decode({ ...REGISTRATION, is_organic: false, child_age: 120 });
    assert.ok(old.ok);
    assert.equal(old.registration.isOrganic, 0);
    assert.equal(old.registration.childAge, 120);
  });

  it('ignores fields it does not know', () => {
    const result = decode({ ...REGISTRATION, campaign: { name: 'x' } });
    assert.ok(result.ok);
  });
});

describe('decodeRegistration: rejections', () => {
  it('rejects a null or empty value', () => {
    rejected(decodeRegistration(null, LIMIT), 'empty');
    rejected(decodeRegistration(Buffer.alloc(0), LIMIT), 'empty');
  });

  it('rejects a value over the byte limit before parsing it', () => {
    const big = Buffer.from(`{"user_id":1,"pad":"${'x'.repeat(300)}"}`);
    rejected(decodeRegistration(big, 256), 'too_large', `${big.length} bytes; the limit is 256`);
    // Not JSON at all, yet the size rule answers first: no parsing was attempted.
    rejected(decodeRegistration(Buffer.alloc(300, 0x7b), 256), 'too_large');
  });

  it('rejects text that is not JSON, and bytes that are not UTF-8', () => {
    rejected(decode('{"user_id": 1'), 'not_json', 'not valid JSON');
    rejected(decodeRegistration(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), LIMIT), 'not_json', 'UTF-8');
    rejected(decode({ schema: {}, payload: '{broken' }), 'not_json', 'envelope payload');
  });

  it('rejects JSON that is not an object', () => {
    rejected(decode('[1,2]'), 'not_object', 'array');
    rejected(decode('"text"'), 'not_object', 'string');
    rejected(decode('null'), 'not_object', 'null');
    rejected(decode({ schema: {}, payload: 12 }), 'not_object', 'number');
    rejected(decode({ schema: {}, payload: '[]' }), 'not_object', 'array');
  });

  it('rejects __proto__ and constructor keys spelled with \\u escapes', () => {
    rejected(decode(String.raw`{"user_id":1,"\u005f_proto__":{"admin":true}}`), 'forbidden_key');
    rejected(
      decode(String.raw`{"user_id":1,"constr\u0075ctor":{"prototype":{"x":1}}}`),
      'forbidden_key',
    );
    const escaped = decode(String.raw`{"user_id":1,"platform":"\u0069OS"}`);
    assert.ok(escaped.ok, 'an escape elsewhere is no reason to reject');
    assert.equal(escaped.registration.platform, 'iOS');
  });

  it('rejects __proto__ and constructor keys, also inside a string payload', () => {
    rejected(decode('{"user_id":1,"__proto__":{"admin":true}}'), 'forbidden_key');
    rejected(decode('{"user_id":1,"constructor":{"prototype":{"x":1}}}'), 'forbidden_key');
    rejected(
      decode({ schema: {}, payload: '{"user_id":1,"a":{"__proto__":{"x":1}}}' }),
      'forbidden_key',
    );
  });

  it('rejects a registration without an id', () => {
    const { user_id: _dropped, ...rest } = REGISTRATION;
    rejected(decode(rest), 'missing_id');
    rejected(decode({ ...rest, user_id: null }), 'missing_id');
  });

  it('rejects ids that are not positive safe integers', () => {
    for (const bad of [
      0,
      -3,
      1.5,
      '0',
      '-1',
      '01',
      '1e3',
      ' 1',
      'abc',
      '9007199254740992',
      2 ** 53,
      true,
      {},
    ]) {
      rejected(decode({ ...REGISTRATION, user_id: bad }), 'invalid_id');
    }
  });

  it('rejects user_id and id that disagree', () => {
    rejected(decode({ ...REGISTRATION, user_id: 1, id: 2 }), 'invalid_id', 'disagree');
  });

  it('rejects wrong types, naming the field', () => {
    rejected(
      decode({ ...REGISTRATION, platform: 3 }),
      'invalid_field',
      'platform must be a string',
    );
    rejected(decode({ ...REGISTRATION, ip_country: ['ru'] }), 'invalid_field', 'ip_country');
    rejected(decode({ ...REGISTRATION, is_organic: 2 }), 'invalid_field', 'is_organic');
    rejected(decode({ ...REGISTRATION, is_organic: '1' }), 'invalid_field', 'is_organic');
    rejected(decode({ ...REGISTRATION, child_age: '13' }), 'invalid_field', 'child_age');
    rejected(decode({ ...REGISTRATION, child_age: -1 }), 'invalid_field', 'child_age');
    rejected(decode({ ...REGISTRATION, child_age: 121 }), 'invalid_field', 'child_age');
  });
});
