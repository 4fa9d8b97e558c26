import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { seededRandom } from '../../src/cli/registration-generator.js';
import {
  decodeRegistration,
  MAX_CATEGORY_LENGTH,
  preview,
  REJECT_REASONS,
  type DecodeResult,
} from '../../src/contract/decode.js';
import type { Registration } from '../../src/contract/registration.js';
import {
  deadLetterMessage,
  DLQ_HEADERS,
  TOO_LARGE_KEPT_BYTES,
} from '../../src/sinks/dead-letter.js';
import { loadScorer, type Scorer } from '../../src/scoring/scorer.js';
import { sampleRegistration } from '../support/registration-sample.js';

// The hostile-input matrix: every message below either becomes a dead letter with a precise
// reason or is scored exactly like its clean counterpart; none throws.

const DEFAULT_LIMIT = 65_536;
const LARGE_LIMIT = 10_485_760; // MESSAGE_MAX_BYTES's maximum
const MB = 1_048_576;
const BASE = sampleRegistration('42', { child_smartphone_brand: 'xiaomi' });
// The longest rejection detail: it travels in a DLQ header, a log line and a span status.
const MAX_DETAIL = 300;

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');
const decodeText = (text: string, limit = DEFAULT_LIMIT): DecodeResult =>
  decodeRegistration(utf8(text), limit);
const decodeObject = (value: unknown, limit = DEFAULT_LIMIT): DecodeResult =>
  decodeText(JSON.stringify(value), limit);
const nestedArrays = (depth: number, inner = ''): string =>
  `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

function rejected(result: DecodeResult, reason: string, detail?: RegExp): void {
  assert.equal(result.ok, false, `expected a ${reason} rejection`);
  assert.equal(result.reason, reason, result.detail);
  assert.ok(
    result.detail.length <= MAX_DETAIL,
    `detail is ${result.detail.length} characters: ${result.detail.slice(0, 80)}`,
  );
  if (detail !== undefined) assert.match(result.detail, detail);
}

function accepted(result: DecodeResult): Registration {
  assert.equal(result.ok, true, result.ok ? '' : `${result.reason}: ${result.detail}`);
  return result.registration;
}

describe('hostile input: bytes and JSON syntax', () => {
  it('rejects invalid UTF-8 as not_json', () => {
    const cases = [
      Buffer.from([0x7b, 0xff, 0x7d]), // a byte that never occurs in UTF-8
      Buffer.from([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x7d]), // overlong encoding of "/"
      Buffer.from([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]), // an encoded surrogate
      Buffer.concat([utf8('{"user_id":"1","platform":"'), Buffer.from([0xe2, 0x82])]), // cut mid-character
    ];
    for (const value of cases) {
      rejected(decodeRegistration(value, DEFAULT_LIMIT), 'not_json', /not valid UTF-8/);
    }
  });

  it('rejects every truncation of a valid message as not_json', () => {
    const whole = JSON.stringify({ schema: { type: 'string' }, payload: JSON.stringify(BASE) });
    for (let length = 1; length < whole.length; length += 1) {
      rejected(decodeText(whole.slice(0, length)), 'not_json');
    }
    accepted(decodeText(whole));
  });

  it('rejects raw NUL bytes and control characters outside JSON escapes as not_json', () => {
    rejected(decodeText('{"user_id":"1",\u0000"platform":"iOS"}'), 'not_json');
    rejected(decodeText('{"user_id":"1","platform":"iO\u0000S"}'), 'not_json');
    rejected(decodeText('{"user_id":"1","platform":"iO\nS"}'), 'not_json');
    rejected(decodeText('\u0000'), 'not_json');
  });

  it('rejects a 10 MB value as too_large before parsing it', () => {
    const value = Buffer.alloc(10 * MB, 0x20);
    value.write('{"user_id":"1"', 0);
    const started = performance.now();
    rejected(decodeRegistration(value, DEFAULT_LIMIT), 'too_large', /10485760 bytes/);
    assert.ok(performance.now() - started < 50, 'no parsing work is spent on it');
  });

  it('scores a 10 MB value under a limit that allows it when the extra bulk is an ignored field', () => {
    const value = JSON.stringify({ ...BASE, padding: 'x'.repeat(10 * MB - 300) });
    assert.ok(value.length <= LARGE_LIMIT && value.length > 10 * MB - 400);
    assert.deepEqual(accepted(decodeText(value, LARGE_LIMIT)), accepted(decodeObject(BASE)));
  });

  it('keeps only the head of a too_large value in its dead letter, and says how large it was', () => {
    const value = Buffer.alloc(10 * MB, 0x61);
    const decoded = decodeRegistration(value, DEFAULT_LIMIT);
    assert.equal(decoded.ok, false);
    const letter = deadLetterMessage(
      { key: Buffer.from('k'), value, offset: '7', timestampMs: 0, headers: {} },
      { topic: 'in', partition: 0, groupId: 'g' },
      decoded,
    );
    assert.equal((letter.value as Buffer).length, TOO_LARGE_KEPT_BYTES);
    const headers = letter.headers ?? {};
    assert.equal(headers[DLQ_HEADERS.valueTruncated], String(10 * MB));
    assert.equal(headers[DLQ_HEADERS.reason], 'too_large');

    const small = decodeText('[1]');
    const kept = deadLetterMessage(
      { key: null, value: utf8('[1]'), offset: '8', timestampMs: 0, headers: {} },
      { topic: 'in', partition: 0, groupId: 'g' },
      small.ok ? { reason: 'empty', detail: '' } : small,
    );
    assert.equal(kept.value?.toString(), '[1]', 'other dead letters keep the whole value');
    assert.equal(kept.headers?.[DLQ_HEADERS.valueTruncated], undefined);
  });
});

describe('hostile input: deep nesting', () => {
  const DEPTH = 100_000;

  it('rejects 100,000 nested arrays as a value: not_object', () => {
    rejected(decodeText(nestedArrays(DEPTH), MB), 'not_object', /got array/);
  });

  it('rejects 100,000 nested arrays as the envelope payload string: not_object', () => {
    const envelope = JSON.stringify({ schema: {}, payload: nestedArrays(DEPTH) });
    rejected(decodeText(envelope, MB), 'not_object', /payload must hold a JSON object; got array/);
  });

  it('rejects 100,000 nested arrays as an id or a field with a short detail', () => {
    const asId = `{"user_id":${nestedArrays(DEPTH, '1')}}`;
    rejected(decodeText(asId, MB), 'invalid_id', /got an array of 1 items/);
    const asIdToo = `{"user_id":"1","id":${nestedArrays(DEPTH, '1')}}`;
    rejected(decodeText(asIdToo, MB), 'invalid_id', /disagree/);
    for (const field of ['child_age', 'is_organic', 'platform']) {
      const text = `{"user_id":"1","${field}":${nestedArrays(DEPTH, '1')}}`;
      rejected(decodeText(text, MB), 'invalid_field', new RegExp(field));
    }
  });

  it('ignores 100,000 nested arrays or objects in a field nobody reads', () => {
    const base = JSON.stringify(BASE).slice(0, -1);
    const arrays = `${base},"extra":${nestedArrays(DEPTH)}}`;
    assert.deepEqual(accepted(decodeText(arrays, MB)), accepted(decodeObject(BASE)));
    const objects = `${base},"extra":${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}}`;
    assert.deepEqual(accepted(decodeText(objects, 2 * MB)), accepted(decodeObject(BASE)));
  });

  it('finds a __proto__ key 100,000 levels deep', () => {
    const base = JSON.stringify(BASE).slice(0, -1);
    const deep = `${base},"extra":${'{"a":'.repeat(DEPTH)}{"__proto__":{"x":1}}${'}'.repeat(DEPTH)}}`;
    rejected(decodeText(deep, 2 * MB), 'forbidden_key');
  });
});

describe('hostile input: ids', () => {
  it('rejects negative, zero, fractional and malformed ids: invalid_id', () => {
    for (const id of [-1, 0, 1.5, -0.5, '-7', '0', '1.5', '007', ' 7', '7 ', '1e3', '+7', '0x10']) {
      rejected(decodeObject({ ...BASE, user_id: id }), 'invalid_id');
      rejected(decodeObject({ ...BASE, user_id: undefined, id }), 'invalid_id');
    }
    for (const id of [true, false, {}, [], [7], { id: 7 }]) {
      rejected(decodeObject({ ...BASE, user_id: id }), 'invalid_id');
    }
  });

  it('takes numbers JSON writes as whole numbers (1.0, 1e3) as those ids', () => {
    assert.equal(accepted(decodeText('{"user_id":1.0}')).userId, 1);
    assert.equal(accepted(decodeText('{"user_id":1e3}')).userId, 1000);
  });

  it('rejects ids beyond 2^53-1, as numbers or strings, instead of rounding them', () => {
    assert.equal(accepted(decodeText('{"user_id":9007199254740991}')).userId, 2 ** 53 - 1);
    assert.equal(accepted(decodeText('{"user_id":"9007199254740991"}')).userId, 2 ** 53 - 1);
    for (const text of [
      '{"user_id":9007199254740992}',
      '{"user_id":9007199254740993}',
      '{"user_id":"9007199254740993"}',
      '{"user_id":"12345678901234567"}',
      '{"user_id":123456789012345678901234567890}',
      `{"user_id":"${'9'.repeat(1000)}"}`,
    ]) {
      rejected(decodeText(text), 'invalid_id');
    }
  });

  it('rejects numbers too large for a double with their real value in the detail', () => {
    rejected(decodeText('{"user_id":1e400}'), 'invalid_id', /got Infinity/);
    rejected(decodeText('{"user_id":-1e400}'), 'invalid_id', /got -Infinity/);
    rejected(decodeText('{"user_id":"1","child_age":1e400}'), 'invalid_field', /got Infinity/);
    rejected(decodeText('{"user_id":"1","child_age":-1e-5}'), 'invalid_field', /child_age/);
    rejected(decodeText('{"user_id":"1","is_organic":1e400}'), 'invalid_field', /got Infinity/);
  });

  it('takes the last of duplicate keys, as JSON.parse, Jackson and Python do', () => {
    assert.equal(accepted(decodeText('{"user_id":"1","user_id":"2"}')).userId, 2);
    assert.equal(
      accepted(decodeText('{"user_id":"1","platform":"iOS","platform":"Android"}')).platform,
      'Android',
    );
    rejected(decodeText('{"user_id":"1","user_id":"x"}'), 'invalid_id');
    rejected(decodeText('{"user_id":"1","id":"2"}'), 'invalid_id', /disagree/);
    assert.equal(accepted(decodeText('{"user_id":"5","id":5}')).userId, 5);
  });
});

describe('hostile input: keys that reach prototypes', () => {
  it('rejects __proto__ anywhere: forbidden_key', () => {
    const texts = [
      '{"user_id":"1","__proto__":{"polluted":true}}',
      '{"schema":{},"payload":{"user_id":"1","__proto__":{"polluted":true}}}',
      JSON.stringify({ schema: {}, payload: '{"user_id":"1","__proto__":{"polluted":true}}' }),
      '{"user_id":"1","extra":[{"__proto__":null}]}',
    ];
    for (const text of texts) rejected(decodeText(text), 'forbidden_key');
    assert.equal(({} as Record<string, unknown>).polluted, undefined, 'nothing was polluted');
  });

  it('rejects constructor.prototype: forbidden_key', () => {
    rejected(
      decodeText('{"user_id":"1","constructor":{"prototype":{"polluted":true}}}'),
      'forbidden_key',
    );
  });

  it('ignores harmless constructor and prototype keys like any other unknown field', () => {
    for (const extra of [
      { constructor: 'x' },
      { prototype: { polluted: true } },
      { constructor: { name: 'x' } },
      { toString: 'x', hasOwnProperty: 1, valueOf: null },
    ]) {
      assert.deepEqual(accepted(decodeObject({ ...BASE, ...extra })), accepted(decodeObject(BASE)));
    }
  });
});

describe('hostile input: category strings', () => {
  it(`rejects categories longer than ${MAX_CATEGORY_LENGTH} characters: invalid_field`, () => {
    rejected(
      decodeObject({ ...BASE, platform: 'x'.repeat(MB) }, 2 * MB),
      'invalid_field',
      /platform is 1048576 characters long; the limit is 128/,
    );
    rejected(
      decodeObject({ ...BASE, ip_country: 'x'.repeat(MAX_CATEGORY_LENGTH + 1) }),
      'invalid_field',
    );
    assert.equal(
      accepted(decodeObject({ ...BASE, ip_country: 'x'.repeat(MAX_CATEGORY_LENGTH) })).ipCountry,
      'x'.repeat(MAX_CATEGORY_LENGTH),
    );
  });

  it('rejects a 1 MB category under the default limit as too_large', () => {
    rejected(decodeObject({ ...BASE, platform: 'x'.repeat(MB) }), 'too_large');
  });

  it('rejects control characters and NUL in categories: invalid_field naming the character', () => {
    rejected(
      decodeObject({ ...BASE, smartphone_brand: 'samsung\u0000evil' }),
      'invalid_field',
      /U\+0000/,
    );
    rejected(decodeObject({ ...BASE, platform: 'iOS\n' }), 'invalid_field', /U\+000A/);
    rejected(decodeObject({ ...BASE, ip_country: '\u0007' }), 'invalid_field', /U\+0007/);
    rejected(decodeObject({ ...BASE, device_language: 'ru\u007f' }), 'invalid_field', /U\+007F/);
  });

  it('rejects wrong field types: invalid_field', () => {
    for (const [field, value] of [
      ['platform', 1],
      ['platform', true],
      ['platform', {}],
      ['platform', ['iOS']],
      ['is_organic', 2],
      ['is_organic', '1'],
      ['child_age', '13'],
      ['child_age', 121],
      ['child_age', -1],
    ] as const) {
      rejected(decodeObject({ ...BASE, [field]: value }), 'invalid_field', new RegExp(field));
    }
  });
});

describe('hostile input: envelopes', () => {
  it('rejects payloads that are neither an object nor a string holding one: not_object', () => {
    for (const payload of [
      42,
      null,
      true,
      [],
      [BASE],
      'null',
      '42',
      '"{}"',
      '[{}]',
      JSON.stringify(JSON.stringify(BASE)),
    ]) {
      rejected(decodeObject({ schema: { type: 'string' }, payload }), 'not_object');
    }
  });

  it('rejects a payload string that is not JSON: not_json', () => {
    rejected(decodeObject({ schema: {}, payload: '{"user_id":' }), 'not_json', /envelope payload/);
    rejected(decodeObject({ schema: {}, payload: '' }), 'not_json');
  });

  it('ignores the schema, whatever its type', () => {
    for (const schema of [null, 1, 'x', [], { type: 'int' }]) {
      assert.deepEqual(
        accepted(decodeObject({ schema, payload: JSON.stringify(BASE) })),
        accepted(decodeObject(BASE)),
      );
    }
  });

  it('reads a record that has both payload and an id as the bare record', () => {
    assert.equal(accepted(decodeObject({ user_id: '9', payload: { user_id: '10' } })).userId, 9);
  });

  it('rejects values that are JSON but not objects: not_object', () => {
    for (const text of ['null', 'true', '42', '"x"', '[]', '[{"user_id":"1"}]']) {
      rejected(decodeText(text), 'not_object');
    }
  });
});

describe('hostile input: rejection details', () => {
  it('quotes at most a short preview of the input', () => {
    assert.equal(preview('abc'), '"abc"');
    assert.match(preview('x'.repeat(MB)), /^"x{64}"\.\.\. \(1048576 characters\)$/);
    assert.equal(preview(Number.POSITIVE_INFINITY), 'Infinity');
    assert.equal(preview([1, 2]), 'an array of 2 items');
    assert.equal(preview({ a: 1 }), 'an object');
    assert.equal(preview(null), 'null');
  });
});

describe('hostile input: random corruption never throws', () => {
  it('decodes 20,000 seeded mutations of valid messages to a result with a known reason', () => {
    const random = seededRandom(2024);
    const seeds = [
      JSON.stringify(BASE),
      JSON.stringify({ schema: { type: 'string' }, payload: JSON.stringify(BASE) }),
      JSON.stringify({ schema: { type: 'string' }, payload: BASE }),
    ];
    const tokens = [
      '"__proto__"',
      '[',
      '{',
      '}',
      ']',
      '"',
      '\\',
      '\u0000',
      '1e400',
      ',',
      ':',
      'null',
      '-0',
    ];
    let rejections = 0;
    for (let round = 0; round < 20_000; round += 1) {
      const bytes = Buffer.from(seeds[round % seeds.length] ?? '');
      const mutated: number[] = [...bytes];
      const edits = 1 + Math.floor(random() * 4);
      for (let edit = 0; edit < edits; edit += 1) {
        const at = Math.floor(random() * (mutated.length + 1));
        const kind = random();
        if (kind < 0.3) mutated[at] = Math.floor(random() * 256);
        else if (kind < 0.5) mutated.splice(at, 1 + Math.floor(random() * 8));
        else {
          const token = tokens[Math.floor(random() * tokens.length)] ?? '';
          mutated.splice(at, 0, ...Buffer.from(token));
        }
      }
      const result = decodeRegistration(Buffer.from(mutated), DEFAULT_LIMIT);
      if (!result.ok) {
        rejections += 1;
        assert.ok(REJECT_REASONS.includes(result.reason));
        assert.ok(result.detail.length <= MAX_DETAIL);
      }
    }
    assert.ok(rejections > 10_000, `most mutations are rejected (${rejections})`);
  });
});

describe('hostile input that is accepted is scored like its clean counterpart', () => {
  let scorer: Scorer;

  before(async () => {
    scorer = await loadScorer('model/offer_model.onnx');
  });

  after(async () => {
    await scorer.close();
  });

  it('scores unknown, exotic and lone-surrogate categories as the model scores unknowns', async () => {
    const clean = accepted(decodeObject({ ...BASE, smartphone_brand: 'never-seen-brand' }));
    const variants = [
      accepted(decodeObject({ ...BASE, smartphone_brand: 'sam\ud800sung' })),
      accepted(decodeObject({ ...BASE, smartphone_brand: 'samsung😀' })),
      accepted(decodeObject({ ...BASE, smartphone_brand: 'x'.repeat(MAX_CATEGORY_LENGTH) })),
      accepted(decodeObject({ ...BASE, smartphone_brand: 'samsung\u0085' })),
    ];
    const [expected, ...scored] = await scorer.score([clean, ...variants]);
    for (const prediction of scored) assert.deepEqual(prediction, expected);
  });

  it('scores a record with ignored junk exactly like the record without it', async () => {
    const clean = accepted(decodeObject(BASE));
    const junk = accepted(
      decodeText(
        `${JSON.stringify({ ...BASE, constructor: 'x', prototype: {} }).slice(0, -1)},"deep":${nestedArrays(100_000)}}`,
        MB,
      ),
    );
    const [expected, actual] = await scorer.score([clean, junk]);
    assert.deepEqual(actual, expected);
  });
});
