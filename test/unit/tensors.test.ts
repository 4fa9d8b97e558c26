import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Registration } from '../../src/contract/registration.js';
import {
  buildInputColumns,
  MISSING_STRING,
  MODEL_INPUT_NAMES,
  type InputColumn,
} from '../../src/scoring/tensors.js';

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

function strings(column: InputColumn): string[] {
  assert.equal(column.type, 'string');
  return column.data;
}
function numbers(column: InputColumn): number[] {
  assert.equal(column.type, 'float32');
  assert.ok(column.data instanceof Float32Array);
  return [...column.data];
}

describe('buildInputColumns', () => {
  it('builds one [N, 1] column per graph input, named after the raw fields', () => {
    const columns = buildInputColumns([FULL, EMPTY, FULL]);
    assert.deepEqual(Object.keys(columns).sort(), [...MODEL_INPUT_NAMES].sort());
    assert.deepEqual(MODEL_INPUT_NAMES, [
      'ip_country',
      'device_country',
      'device_language',
      'platform',
      'platform_store',
      'smartphone_brand',
      'child_smartphone_brand',
      'is_organic',
      'child_age',
    ]);
    for (const name of MODEL_INPUT_NAMES) {
      assert.deepEqual(columns[name].dims, [3, 1], name);
      assert.equal(columns[name].data.length, 3, name);
    }
  });

  it('keeps row order and passes values through untouched', () => {
    const second = { ...FULL, ipCountry: 'Samsung Land', platform: 'iOS', childAge: 7.5 };
    const columns = buildInputColumns([FULL, second]);
    assert.deepEqual(strings(columns.ip_country), ['ru', 'Samsung Land']);
    assert.deepEqual(strings(columns.device_country), ['kz', 'kz']);
    assert.deepEqual(strings(columns.device_language), ['en', 'en']);
    assert.deepEqual(strings(columns.platform), ['Android', 'iOS']);
    assert.deepEqual(strings(columns.platform_store), ['Google Play', 'Google Play']);
    assert.deepEqual(strings(columns.smartphone_brand), ['samsung', 'samsung']);
    assert.deepEqual(strings(columns.child_smartphone_brand), ['elari', 'elari']);
    assert.deepEqual(numbers(columns.is_organic), [1, 1]);
    assert.deepEqual(numbers(columns.child_age), [13, 7.5]);
  });

  it('encodes missing strings as "" and missing numbers as NaN, which the graph imputes', () => {
    const columns = buildInputColumns([EMPTY]);
    for (const name of MODEL_INPUT_NAMES) {
      const column = columns[name];
      if (column.type === 'string') assert.deepEqual(column.data, [MISSING_STRING], name);
      else assert.ok(Number.isNaN(column.data[0]), name);
    }
    assert.equal(MISSING_STRING, '');
  });

  it('keeps zero distinct from missing', () => {
    const columns = buildInputColumns([{ ...FULL, isOrganic: 0, childAge: 0 }]);
    assert.deepEqual(numbers(columns.is_organic), [0]);
    assert.deepEqual(numbers(columns.child_age), [0]);
  });

  it('builds empty columns for an empty batch', () => {
    const columns = buildInputColumns([]);
    for (const name of MODEL_INPUT_NAMES) {
      assert.deepEqual(columns[name].dims, [0, 1], name);
      assert.equal(columns[name].data.length, 0, name);
    }
  });
});
