import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Registration } from '../../src/contract/registration.js';
import { InputEncoding, INPUT_COLUMN_NAMES } from '../../src/scoring/input-encoding.js';
import { PREDICTION_NAMES } from '../../src/scoring/predictions.js';

const FULL: Registration = {
  userId: 1,
  ipCountry: 'ru',
  deviceCountry: 'kz',
  deviceLanguage: 'en',
  platform: 'Android',
  platformStore: 'Google Play',
  smartphoneBrand: 'samsung',
  childSmartphoneBrand: 'elari',
  isOrganic: 1,
  childAge: 13,
};
const EMPTY: Registration = {
  userId: 2,
  ipCountry: null,
  deviceCountry: null,
  deviceLanguage: null,
  platform: null,
  platformStore: null,
  smartphoneBrand: null,
  childSmartphoneBrand: null,
  isOrganic: null,
  childAge: null,
};

/** A small vocabulary per field; "Unknown" (the fill value) only where listed. */
const CATEGORIES: Record<string, string[]> = {
  ip_country: ['de', 'ru', 'Unknown'],
  device_country: ['kz', 'ru'],
  device_language: ['Unknown', 'en'],
  platform: ['Android', 'iOS'],
  platform_store: ['App Store', 'Google Play'],
  smartphone_brand: ['iphone', 'samsung'],
  child_smartphone_brand: ['elari', 'samsung'],
};

function encoding(columns: readonly string[] = INPUT_COLUMN_NAMES): InputEncoding {
  const made = InputEncoding.fromMetadata(
    JSON.stringify({
      input: 'features',
      columns,
      categories: CATEGORIES,
      missing_string: '',
      missing_category: 'Unknown',
      unknown_code: -1,
      output: 'predictions',
      output_columns: PREDICTION_NAMES,
    }),
  );
  if (typeof made === 'string') assert.fail(made);
  return made;
}

/** The problem text an invalid encoding gives. */
function problem(text: string | undefined): string {
  const result = InputEncoding.fromMetadata(text);
  assert.equal(typeof result, 'string');
  return result as string;
}

const rows = (matrix: Float32Array, width: number): number[][] =>
  Array.from({ length: matrix.length / width }, (_, row) => [
    ...matrix.subarray(row * width, (row + 1) * width),
  ]);

describe('InputEncoding', () => {
  it('encodes each string as its position in the vocabulary, numbers as they are', () => {
    const matrix = encoding().encode([FULL, { ...FULL, ipCountry: 'de', childAge: 7.5 }]);
    assert.deepEqual(rows(matrix, 9), [
      [1, 0, 1, 0, 1, 1, 0, 1, 13],
      [0, 0, 1, 0, 1, 1, 0, 1, 7.5],
    ]);
  });

  it('encodes a missing string as the fill category, or unknown where training had none', () => {
    const [row] = rows(encoding().encode([EMPTY]), 9);
    assert.ok(row);
    // ip_country and device_language list "Unknown"; the other fields do not.
    assert.deepEqual(row.slice(0, 7), [2, -1, 0, -1, -1, -1, -1]);
    assert.ok(Number.isNaN(row[7]) && Number.isNaN(row[8]), 'missing numbers are NaN');
    const [literal] = rows(encoding().encode([{ ...FULL, ipCountry: 'Unknown' }]), 9);
    assert.equal(literal?.[0], 2, 'the literal "Unknown" is the fill category');
    const [empty] = rows(encoding().encode([{ ...FULL, ipCountry: '' }]), 9);
    assert.equal(empty?.[0], 2, '"" is missing');
  });

  it('encodes categories training never saw, in any letter case, as unknown', () => {
    const [row] = rows(
      encoding().encode([{ ...FULL, smartphoneBrand: 'Samsung', platform: 'x' }]),
      9,
    );
    assert.equal(row?.[3], -1);
    assert.equal(row[5], -1);
  });

  it('keeps zero distinct from missing', () => {
    const [row] = rows(encoding().encode([{ ...FULL, isOrganic: 0, childAge: 0 }]), 9);
    assert.deepEqual(row?.slice(7), [0, 0]);
  });

  it('follows the column order the model gives', () => {
    const reversed = [...INPUT_COLUMN_NAMES].reverse();
    const [row] = rows(encoding(reversed).encode([FULL]), 9);
    assert.deepEqual(row, [13, 1, 0, 1, 1, 0, 1, 0, 1]);
  });

  it('gives an empty matrix for an empty batch', () => {
    assert.equal(encoding().encode([]).length, 0);
  });

  it('rejects metadata that is not JSON or lacks fields, naming the key', () => {
    assert.match(problem(undefined), /no input_encoding/);
    assert.match(problem('{'), /input_encoding is not valid/);
    assert.match(problem('{"input":"x"}'), /columns/);
  });
});
