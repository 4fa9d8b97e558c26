import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { Registration } from '../../src/contract/registration.js';
import { InputEncoding, INPUT_COLUMN_NAMES } from '../../src/scoring/input-encoding.js';
import { InputCounts } from '../../src/scoring/model-observation.js';
import { PREDICTION_NAMES, type PredictionName } from '../../src/scoring/predictions.js';
import { loadScorer } from '../../src/scoring/scorer.js';
import { HistogramSeries } from '../../src/telemetry/batch-histogram.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import { countAbove, FUNCTIONS } from '../../src/telemetry/model-metrics.js';
import { MODEL_PATH } from '../support/golden.js';

const BASE: Registration = {
  userId: 1,
  ipCountry: 'ru',
  deviceCountry: 'ru',
  deviceLanguage: 'en',
  platform: 'Android',
  platformStore: 'Google Play',
  smartphoneBrand: 'samsung',
  childSmartphoneBrand: 'samsung',
  isOrganic: 1,
  childAge: 10,
};

const CATEGORIES: Record<string, string[]> = {
  ip_country: ['ru', 'Unknown'],
  device_country: ['ru'],
  device_language: ['en'],
  platform: ['Android'],
  platform_store: ['Google Play'],
  smartphone_brand: ['samsung'],
  child_smartphone_brand: ['samsung'],
};

const RANGES = JSON.stringify({ is_organic: { min: 0, max: 1 }, child_age: { min: 1, max: 17 } });

function encoding(ranges?: string): InputEncoding {
  const made = InputEncoding.fromMetadata(
    JSON.stringify({
      input: 'features',
      columns: INPUT_COLUMN_NAMES,
      categories: CATEGORIES,
      missing_string: '',
      missing_category: 'Unknown',
      unknown_code: -1,
      output: 'predictions',
      output_columns: PREDICTION_NAMES,
    }),
    ranges,
  );
  if (typeof made === 'string') assert.fail(made);
  return made;
}

/** Counts per field name, from the arrays in the model's column order. */
function byField(counts: Float64Array): Record<string, number> {
  return Object.fromEntries(INPUT_COLUMN_NAMES.map((name, column) => [name, counts[column] ?? -1]));
}

const BATCH: Registration[] = [
  BASE,
  // device_country is missing where training had no missing value: the same code as unseen,
  // yet counted as missing, not unseen.
  { ...BASE, ipCountry: null, deviceCountry: null, childAge: null },
  { ...BASE, ipCountry: 'zz', deviceCountry: 'de', smartphoneBrand: 'Samsung', childAge: 18 },
  { ...BASE, platform: '', childAge: 0, isOrganic: 2 },
  { ...BASE, childAge: 17, isOrganic: 0 },
];

describe('model observation: input counts while encoding', () => {
  it('counts missing, unseen and out-of-range values per field', () => {
    const counts = new InputCounts(INPUT_COLUMN_NAMES.length);
    const withCounts = encoding(RANGES).encode(BATCH, counts);
    assert.deepEqual(withCounts, encoding(RANGES).encode(BATCH), 'counting changes no code');
    assert.deepEqual(byField(counts.missing), {
      ...Object.fromEntries(INPUT_COLUMN_NAMES.map((name) => [name, 0])),
      ip_country: 1,
      device_country: 1,
      platform: 1,
      child_age: 1,
    });
    assert.deepEqual(byField(counts.unseen), {
      ...Object.fromEntries(INPUT_COLUMN_NAMES.map((name) => [name, 0])),
      ip_country: 1,
      device_country: 1,
      smartphone_brand: 1,
    });
    // 18 and 0 are outside 1..17, 17 is the maximum itself; is_organic 2 is outside 0..1.
    assert.deepEqual(byField(counts.outOfRange), {
      ...Object.fromEntries(INPUT_COLUMN_NAMES.map((name) => [name, 0])),
      child_age: 2,
      is_organic: 1,
    });
  });

  it('counts nothing out of range for a model without input_ranges', () => {
    const counts = new InputCounts(INPUT_COLUMN_NAMES.length);
    const plain = encoding();
    plain.encode(BATCH, counts);
    assert.deepEqual([...counts.outOfRange], new Array<number>(INPUT_COLUMN_NAMES.length).fill(0));
  });

  it('refuses training ranges that are not well formed, naming the key', () => {
    for (const bad of ['{', '{"child_age":{"min":1}}', '{"child_age":{"min":5,"max":1}}']) {
      const made = InputEncoding.fromMetadata(
        JSON.stringify({
          input: 'features',
          columns: INPUT_COLUMN_NAMES,
          categories: CATEGORIES,
          missing_string: '',
          missing_category: 'Unknown',
          unknown_code: -1,
          output: 'predictions',
          output_columns: PREDICTION_NAMES,
        }),
        bad,
      );
      assert.equal(typeof made, 'string', bad);
      assert.match(made as string, /input_ranges is not valid/);
    }
  });
});

describe('model observation: prediction tallies', () => {
  it('puts each value of a column in its bucket (upper bound inclusive), NaN left out', () => {
    const series = new HistogramSeries(Float64Array.from([0.5, 1]));
    // Two columns, rows interleaved; the series takes column 1 only.
    const values = Float32Array.from([9, 0.25, 9, 0.5, 9, 0.75, 9, 1, 9, 3, 9, Number.NaN]);
    series.addColumn(values, 1, 2, 6);
    assert.deepEqual([...series.counts], [2, 2, 1]);
    assert.equal(series.count, 5);
    assert.equal(series.sum, 0.25 + 0.5 + 0.75 + 1 + 3);
  });

  it('counts the values above the offer threshold, not at it', () => {
    const values = Float32Array.from([0.5, 0, 0.51, 0, 0.49, 0, 1, 0]);
    assert.equal(countAbove(values, 0, 2, 4, 0.5), 2);
    assert.equal(countAbove(values, 1, 2, 4, 0.5), 0);
  });
});

describe('model metrics', () => {
  it('has every series at 0 from the start', async () => {
    const text = await createMetrics().registry.metrics();
    assert.match(text, /^offers_model_rows_total 0$/m);
    for (const field of INPUT_COLUMN_NAMES) {
      assert.match(
        text,
        new RegExp(`^offers_model_input_missing_total\\{field="${field}"\\} 0$`, 'm'),
      );
    }
    assert.match(text, /^offers_model_input_unseen_total\{field="ip_country"\} 0$/m);
    assert.match(text, /^offers_model_input_out_of_range_total\{field="child_age"\} 0$/m);
    for (const name of FUNCTIONS) {
      assert.match(
        text,
        new RegExp(`^offers_model_offers_with_function_total\\{function="${name}"\\} 0$`, 'm'),
      );
      assert.match(
        text,
        new RegExp(`^offers_model_function_probability_count\\{function="${name}"\\} 0$`, 'm'),
      );
    }
    assert.match(text, /^offers_model_predicted_cost_usd_bucket\{le="\+Inf"\} 0$/m);
    assert.match(text, /^# TYPE offers_model_predicted_subscription histogram$/m);
  });

  it('shows one batch of the real model: rows, inputs, prediction histograms, offer mix', async () => {
    const metrics = createMetrics();
    const scorer = await loadScorer(MODEL_PATH, {
      observer: (layout) => metrics.model.observer(layout),
    });
    try {
      const predictions = await scorer.score(BATCH);
      const text = await metrics.registry.metrics();
      assert.match(text, /^offers_model_rows_total 5$/m);
      assert.match(text, /^offers_model_input_missing_total\{field="child_age"\} 1$/m);
      assert.match(text, /^offers_model_input_unseen_total\{field="ip_country"\} 1$/m);
      assert.match(text, /^offers_model_input_unseen_total\{field="smartphone_brand"\} 1$/m);
      // The committed model carries input_ranges: child_age 1..17, is_organic 0..1.
      assert.match(text, /^offers_model_input_out_of_range_total\{field="child_age"\} 2$/m);
      assert.match(text, /^offers_model_input_out_of_range_total\{field="is_organic"\} 1$/m);
      assert.match(text, /^offers_model_predicted_cost_usd_count 5$/m);
      const costSum = predictions.reduce((sum, row) => sum + row.predicted_cost, 0);
      const [, shown] = /^offers_model_predicted_cost_usd_sum (\S+)$/m.exec(text) ?? [];
      assert.ok(Math.abs(Number(shown) - costSum) < 1e-4, `${shown} against ${costSum}`);
      for (const name of FUNCTIONS) {
        const key = `predicted_function_${name}` as PredictionName;
        const offered = predictions.filter((row) => row[key] > 0.5).length;
        assert.match(
          text,
          new RegExp(
            `^offers_model_offers_with_function_total\\{function="${name}"\\} ${offered}$`,
            'm',
          ),
        );
        assert.match(
          text,
          new RegExp(
            `^offers_model_function_probability_bucket\\{function="${name}",le="1"\\} 5$`,
            'm',
          ),
        );
      }
    } finally {
      await scorer.close();
    }
  });
});
