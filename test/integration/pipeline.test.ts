import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import { generateMessages, INVALID_SAMPLES } from '../../src/cli/registration-generator.js';
import { decodeRegistration } from '../../src/contract/decode.js';
import { lastHeader } from '../../src/kafka/kafka-adapter.js';
import { DLQ_HEADERS } from '../../src/sinks/dead-letter.js';
import { InputCounts } from '../../src/scoring/model-observation.js';
import { describeModel } from '../../src/scoring/model-session.js';
import { loadScorer } from '../../src/scoring/scorer.js';
import { PREDICTION_NAMES } from '../../src/scoring/predictions.js';
import { startInfra, type InfraEnv } from '../support/infra.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, runCli } from '../support/service.js';

const VALID = 5_000;
const INVALID = 50;
const SEED = 7;

interface OfferRow {
  user_id: string;
  offer: string;
  model_version: string;
  model_sha256: string;
  kafka_partition: number;
  kafka_offset: string;
  version: string;
  [prediction: string]: unknown;
}

/** A series' value in the consumer's /metrics text, by its exact name and labels. */
function seriesValue(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

/**
 * The model metrics after the run: what the encoder and the model give for the same
 * registrations here, counted from the registrations themselves.
 */
async function checkModelMetrics(consumer: ConsumerProcess): Promise<void> {
  const registrations = [...generateMessages({ count: VALID, firstUserId: 1, seed: SEED })].map(
    (message) => {
      const decoded = decodeRegistration(Buffer.from(message.value), 65_536);
      assert.ok(decoded.ok);
      return decoded.registration;
    },
  );
  const path = 'model/offer_model.onnx';
  const { encoding } = describeModel(await readFile(path), path);
  const counts = new InputCounts(encoding.width);
  encoding.encode(registrations, counts);
  const scorer = await loadScorer(path);
  const predictions = await scorer.score(registrations).finally(() => scorer.close());
  const text = await (await fetch(`http://127.0.0.1:${consumer.httpPort}/metrics`)).text();

  assert.equal(seriesValue(text, 'offers_model_rows_total'), VALID);
  let unseen = 0;
  for (const [column, field] of encoding.layout.columns.entries()) {
    const missing = seriesValue(text, `offers_model_input_missing_total{field="${field}"}`);
    assert.equal(missing, counts.missing[column], `missing ${field}`);
    if (field === 'is_organic' || field === 'child_age') continue;
    const shown = seriesValue(text, `offers_model_input_unseen_total{field="${field}"}`);
    assert.equal(shown, counts.unseen[column], `unseen ${field}`);
    unseen += shown ?? 0;
  }
  // The generator sends some brands and languages the model never saw, and nulls.
  assert.ok(unseen > 0, 'some unseen categories');
  assert.ok((seriesValue(text, 'offers_model_input_missing_total{field="child_age"}') ?? 0) > 0);
  for (const name of PREDICTION_NAMES.filter((n) => n.startsWith('predicted_function_'))) {
    const fn = name.slice('predicted_function_'.length);
    const offered = predictions.filter((row) => row[name] > 0.5).length;
    const series = `offers_model_offers_with_function_total{function="${fn}"}`;
    assert.equal(seriesValue(text, series), offered, series);
    const count = `offers_model_function_probability_count{function="${fn}"}`;
    assert.equal(seriesValue(text, count), VALID, count);
  }
  assert.equal(seriesValue(text, 'offers_model_predicted_cost_usd_count'), VALID);
  assert.equal(seriesValue(text, 'offers_model_predicted_subscription_count'), VALID);
}

describe('pipeline: Kafka -> model -> ClickHouse + Redis, invalid -> DLQ', () => {
  let infra: InfraEnv;
  let fixture: PipelineFixture;
  let consumer: ConsumerProcess | undefined;

  before(async () => {
    infra = await startInfra();
    fixture = new PipelineFixture(infra);
    await fixture.setUp(12);
  });

  after(async () => {
    await consumer?.stop('SIGKILL');
    await fixture.tearDown();
  });

  it(`stores ${VALID} offers once each, dead-letters ${INVALID}, commits to the end, stops cleanly`, async () => {
    consumer = await ConsumerProcess.start(fixture.env());
    await consumer.waitReady();

    const sent = await runCli(
      [
        'send',
        '--count',
        String(VALID),
        '--invalid',
        String(INVALID),
        '--seed',
        String(SEED),
        '--no-progress',
      ],
      fixture.env(),
    );
    assert.equal(sent.code, 0, sent.stderr);
    assert.match(
      sent.stdout,
      new RegExp(`sent ${VALID + INVALID} messages \\(${INVALID} invalid\\)`),
    );

    const ends = await fixture.waitCommittedToEnd();
    const total = [...ends.values()].reduce((sum, end) => sum + Number(end), 0);
    assert.equal(total, VALID + INVALID, 'every message is in the topic');
    assert.ok(
      [...ends.values()].filter((end) => Number(end) > 0).length > 1,
      'messages spread over several partitions',
    );

    // ClickHouse: exactly one row per user after collapsing.
    const [counts] = await fixture.queryRows<{
      rows: string;
      users: string;
      min_id: string;
      max_id: string;
    }>(
      `SELECT count() AS rows, uniqExact(user_id) AS users, min(user_id) AS min_id, max(user_id) AS max_id FROM default.${fixture.table} FINAL`,
    );
    assert.deepEqual(
      {
        rows: Number(counts?.rows),
        users: Number(counts?.users),
        min: Number(counts?.min_id),
        max: Number(counts?.max_id),
      },
      { rows: VALID, users: VALID, min: 1, max: VALID },
    );

    // Redis: one key per user.
    const keys = await fixture.redisKeys();
    assert.equal(keys.length, VALID);

    // Spot-check stored values against the scorer run here on the same registrations.
    const scorer = await loadScorer('model/offer_model.onnx');
    try {
      const sample = [...generateMessages({ count: VALID, firstUserId: 1, seed: SEED })].filter(
        (_, index) => index % 97 === 0,
      );
      const registrations = sample.map((message) => {
        const decoded = decodeRegistration(Buffer.from(message.value), 65_536);
        assert.ok(decoded.ok, `generated message for user ${message.userId} decodes`);
        return decoded.registration;
      });
      const expected = await scorer.score(registrations);
      const rows = await fixture.queryRows<OfferRow>(
        `SELECT * FROM default.${fixture.table} FINAL WHERE user_id IN (${sample.map((m) => m.userId).join(',')}) ORDER BY user_id`,
      );
      assert.equal(rows.length, sample.length);
      // The digest of the file, worked out here rather than asked of the scorer.
      const fileSha256 = createHash('sha256')
        .update(await readFile('model/offer_model.onnx'))
        .digest('hex');
      for (const [index, row] of rows.entries()) {
        const want = expected[index];
        assert.ok(want);
        assert.equal(Number(row.user_id), sample[index]?.userId);
        assert.equal(row.model_version, scorer.modelVersion);
        const stored = JSON.parse(
          (await fixture.redis.get(`${fixture.keyPrefix}${row.user_id}`)) ?? 'null',
        ) as Record<string, unknown>;
        assert.equal(stored.user_id, Number(row.user_id));
        assert.equal(stored.offer, row.offer);
        assert.equal(stored.version, row.version);
        assert.equal(row.model_sha256, fileSha256);
        assert.equal(stored.model_sha256, fileSha256);
        for (const name of PREDICTION_NAMES) {
          // ClickHouse stores Float32; the scorer's outputs are float32 too, so they agree closely.
          assert.ok(
            Math.abs(Number(row[name]) - want[name]) < 1e-4,
            `${name} of user ${row.user_id} in ClickHouse`,
          );
          assert.ok(
            Math.abs(Number(stored[name]) - want[name]) < 1e-6,
            `${name} of user ${row.user_id} in Redis`,
          );
        }
      }
    } finally {
      await scorer.close();
    }

    // DLQ: every invalid message, with its reason and origin in the headers.
    const deadLetters = await fixture.readDeadLetters(INVALID);
    assert.equal(deadLetters.length, INVALID);
    const expectedReasons = Array.from(
      { length: INVALID },
      (_, i) => INVALID_SAMPLES[i % INVALID_SAMPLES.length]?.reason,
    ).sort();
    const reasons = deadLetters
      .map((message) => lastHeader(message.headers, DLQ_HEADERS.reason)?.toString())
      .sort();
    assert.deepEqual(reasons, expectedReasons);
    for (const message of deadLetters) {
      assert.equal(lastHeader(message.headers, DLQ_HEADERS.topic)?.toString(), fixture.topic);
      assert.equal(
        lastHeader(message.headers, DLQ_HEADERS.consumerGroup)?.toString(),
        fixture.groupId,
      );
      assert.match(lastHeader(message.headers, DLQ_HEADERS.partition)?.toString() ?? '', /^\d+$/);
      assert.match(lastHeader(message.headers, DLQ_HEADERS.offset)?.toString() ?? '', /^\d+$/);
      assert.ok((lastHeader(message.headers, DLQ_HEADERS.exceptionMessage)?.length ?? 0) > 0);
      const original = INVALID_SAMPLES.find(
        (s) =>
          s.reason === lastHeader(message.headers, DLQ_HEADERS.reason)?.toString() &&
          s.value === message.value?.toString(),
      );
      assert.ok(original, 'the DLQ record carries the original bytes');
    }

    assert.equal(await consumer.metric('offers_scored_total'), VALID);
    assert.equal(await consumer.metric('offers_dead_lettered_total'), INVALID);
    await checkModelMetrics(consumer);

    assert.equal(await consumer.stop('SIGTERM'), 0, consumer.output.slice(-2000));
    // Every line of a whole run is one JSON object: a runtime warning printed by Node.js (a
    // negative timer delay, say, which Node.js 24 and later report) would break log shipping.
    const notJson = consumer.output.split('\n').filter((line) => {
      if (line.trim() === '') return false;
      try {
        return typeof JSON.parse(line) !== 'object';
      } catch {
        return true;
      }
    });
    assert.deepEqual(notJson, []);
  });
});
