import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import type { Registration } from '../../src/contract/registration.js';
import { isOfferError } from '../../src/errors.js';
import { readModelMetadata } from '../../src/scoring/onnx-metadata.js';
import { PREDICTION_NAMES, type Predictions } from '../../src/scoring/predictions.js';
import { loadScorer, MODEL_VERSION_KEY, type Scorer } from '../../src/scoring/scorer.js';
import { INPUT_ENCODING_KEY } from '../../src/scoring/input-encoding.js';
import { message, withMetadataEntry, type Field } from '../support/model-file.js';
import { MODEL_PATH, readGoldenFile, toRegistration, type GoldenFile } from '../support/golden.js';

/** An ONNX model whose graph is `y = Identity(x)`, for a float input x of shape [N]. */
function identityModel(metadata: Record<string, string>): Uint8Array {
  const floatVector = (name: string): Uint8Array =>
    message([1, name], [2, message([1, message([1, 1], [2, message([1, message([2, 'N'])])])])]);
  const graph = message(
    [1, message([1, 'x'], [2, 'y'], [4, 'Identity'])],
    [2, 'identity'],
    [11, floatVector('x')],
    [12, floatVector('y')],
  );
  return message(
    [1, 8],
    [8, message([1, ''], [2, 17])],
    [7, graph],
    ...Object.entries(metadata).map(([key, value]): Field => [14, message([1, key], [2, value])]),
  );
}

describe('onnx metadata reader', () => {
  it('finds model_version in the committed model', async () => {
    const golden = await readGoldenFile();
    const metadata = readModelMetadata(await readFile(MODEL_PATH));
    assert.equal(metadata.get(MODEL_VERSION_KEY), golden.model_version);
  });

  it('reads every entry of a hand-written model and ignores other fields', () => {
    const metadata = readModelMetadata(identityModel({ a: '1', model_version: 'x+ü' }));
    assert.deepEqual(
      [...metadata],
      [
        ['a', '1'],
        ['model_version', 'x+ü'],
      ],
    );
  });

  it('rejects bytes that are not a protobuf message', () => {
    assert.throws(() => readModelMetadata(Uint8Array.from([0x0a, 0x05, 0x01])), /past the end/);
    assert.throws(() => readModelMetadata(Uint8Array.from([0x0b])), /wire type 3/);
  });
});

describe('scorer on the committed model', () => {
  let scorer: Scorer;
  let golden: GoldenFile;
  let registrations: Registration[];
  let all: Predictions[];

  before(async () => {
    golden = await readGoldenFile();
    registrations = golden.fixtures.map((fixture) => toRegistration(fixture.input));
    scorer = await loadScorer(MODEL_PATH);
    all = await scorer.score(registrations);
  });

  after(async () => {
    await scorer.close();
  });

  it('reports the model version of the golden fixtures', () => {
    assert.equal(scorer.modelVersion, golden.model_version);
    assert.match(scorer.modelVersion, /^\d+\.\d+\.\d+\+[0-9a-f]{12}$/);
  });

  it('exposes the graph input', () => {
    assert.deepEqual(scorer.inputNames, ['features']);
  });

  it('has enough golden fixtures, nulls and unseen categories among them', () => {
    assert.ok(golden.fixtures.length >= 200, `${golden.fixtures.length} fixtures`);
    assert.ok(registrations.some((r) => r.childAge === null));
    assert.ok(registrations.some((r) => r.isOrganic === null));
    assert.ok(registrations.some((r) => r.ipCountry === null));
    assert.ok(registrations.some((r) => r.platform === 'Windows Phone'));
    for (const age of [0, 1, 17, 18, 99]) {
      assert.ok(
        registrations.some((r) => r.childAge === age),
        `age ${age}`,
      );
    }
  });

  it('reproduces the Python model on every golden fixture in one batch', () => {
    assert.equal(all.length, golden.fixtures.length);
    for (const [index, fixture] of golden.fixtures.entries()) {
      const actual = all[index];
      assert.ok(actual, `fixture ${index} has a prediction`);
      for (const name of PREDICTION_NAMES) {
        const got: number = actual[name];
        const want = fixture.expected[name];
        assert.ok(
          Math.abs(got - want) <= golden.tolerance,
          `fixture ${index} (user ${fixture.input.user_id}) ${name}: got ${got}, expected ${want}`,
        );
      }
    }
  });

  it('gives a row the same predictions alone as inside a large batch', async () => {
    const indices = registrations.map((_, index) => index).filter((index) => index % 17 === 0);
    for (const index of [...indices, registrations.length - 1]) {
      const registration = registrations[index];
      assert.ok(registration);
      const single = await scorer.score([registration]);
      assert.deepEqual(single, [all[index]], `fixture ${index}`);
    }
  });

  it('returns an empty array for an empty batch', async () => {
    assert.deepEqual(await scorer.score([]), []);
  });

  it('returns probabilities in [0, 1] and finite regressions', () => {
    for (const [index, prediction] of all.entries()) {
      for (const name of PREDICTION_NAMES) {
        assert.ok(Number.isFinite(prediction[name]), `fixture ${index} ${name} is finite`);
        if (name.startsWith('predicted_function_')) {
          assert.ok(prediction[name] >= 0 && prediction[name] <= 1, `fixture ${index} ${name}`);
        }
      }
    }
  });
});

describe('scorer on worker threads', () => {
  it('gives exactly the in-process predictions, for concurrent batches on two threads', async () => {
    const golden = await readGoldenFile();
    const registrations = golden.fixtures.map((fixture) => toRegistration(fixture.input));
    const inProcess = await loadScorer(MODEL_PATH, { workers: 0 });
    const threaded = await loadScorer(MODEL_PATH, { workers: 2 });
    try {
      assert.equal(threaded.modelVersion, inProcess.modelVersion);
      assert.deepEqual(threaded.inputNames, inProcess.inputNames);
      const expected = await inProcess.score(registrations);
      const [first, second, whole] = await Promise.all([
        threaded.score(registrations.slice(0, 100)),
        threaded.score(registrations.slice(100)),
        threaded.score(registrations),
      ]);
      assert.deepEqual([...first, ...second], expected);
      assert.deepEqual(whole, expected);
    } finally {
      await inProcess.close();
      await threaded.close();
    }
    await assert.rejects(threaded.score(registrations), /closed/);
  });

  it('fails to load, naming the problem, when the threads cannot open the model', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'scorer-thread-test-'));
    try {
      // The metadata is valid (the calling thread reads it), the graph is not (the thread finds it).
      const encoding = readModelMetadata(await readFile(MODEL_PATH)).get(INPUT_ENCODING_KEY);
      assert.ok(encoding !== undefined);
      const path = join(directory, 'identity.onnx');
      await writeFile(path, identityModel({ model_version: '0.0.1', input_encoding: encoding }));
      await assert.rejects(loadScorer(path, { workers: 2 }), (error: unknown) => {
        assert.ok(isOfferError(error, 'MODEL_INVALID'), String(error));
        assert.match(error.message, /missing input features/);
        return true;
      });
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('loadScorer failures', () => {
  let directory: string;

  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'scorer-test-'));
  });

  after(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('refuses a model that carries no input encoding', async () => {
    const path = join(directory, 'unencoded.onnx');
    await writeFile(path, identityModel({ model_version: '0.0.1' }));
    await assert.rejects(loadScorer(path), (error: unknown) => {
      assert.ok(isOfferError(error, 'MODEL_INVALID'), String(error));
      assert.match(error.message, /no input_encoding in its metadata_props/);
      return true;
    });
  });

  it('names the missing input and output of a model with another signature', async () => {
    const encoding = readModelMetadata(await readFile(MODEL_PATH)).get(INPUT_ENCODING_KEY);
    assert.ok(encoding !== undefined);
    const path = join(directory, 'identity.onnx');
    await writeFile(path, identityModel({ model_version: '0.0.1', input_encoding: encoding }));
    await assert.rejects(loadScorer(path), (error: unknown) => {
      assert.ok(isOfferError(error, 'MODEL_INVALID'), String(error));
      assert.match(error.message, /missing input features; unexpected input\(s\) x/);
      assert.match(error.message, /missing output predictions; unexpected output\(s\) y/);
      return true;
    });
  });

  it('names what an input encoding lacks', async () => {
    const encoding = JSON.parse(
      readModelMetadata(await readFile(MODEL_PATH)).get(INPUT_ENCODING_KEY) ?? '{}',
    ) as { columns: string[]; output_columns: string[]; categories: Record<string, unknown> };
    encoding.columns = encoding.columns.filter((name) => name !== 'child_age').concat('shoe_size');
    encoding.output_columns = encoding.output_columns.slice(1);
    delete encoding.categories.platform;
    const path = join(directory, 'lacking.onnx');
    await writeFile(
      path,
      identityModel({ model_version: '0.0.1', input_encoding: JSON.stringify(encoding) }),
    );
    await assert.rejects(loadScorer(path), (error: unknown) => {
      assert.ok(isOfferError(error, 'MODEL_INVALID'), String(error));
      assert.match(error.message, /input column\(s\) child_age missing/);
      assert.match(error.message, /unexpected input column\(s\) shoe_size/);
      assert.match(error.message, /no categories for platform/);
      assert.match(error.message, /output\(s\) predicted_cost missing/);
      return true;
    });
  });

  it('knows the SHA-256 of its file, and refuses another file than MODEL_SHA256 names', async () => {
    const digest = createHash('sha256')
      .update(await readFile(MODEL_PATH))
      .digest('hex');
    const checked = await loadScorer(MODEL_PATH, { workers: 0, expectedSha256: digest });
    try {
      assert.equal(checked.modelDigest, digest);
    } finally {
      await checked.close();
    }
    const other = 'f'.repeat(64);
    await assert.rejects(loadScorer(MODEL_PATH, { expectedSha256: other }), (error: unknown) => {
      assert.ok(isOfferError(error, 'MODEL_INVALID'));
      assert.ok(error.message.includes(`has SHA-256 ${digest}, but MODEL_SHA256 expects ${other}`));
      return true;
    });
  });

  it('a copy with another model_version (test/support/model-file.ts) scores the same, under that version', async () => {
    const golden = await readGoldenFile();
    const registrations = golden.fixtures.map((fixture) => toRegistration(fixture.input));
    const path = join(directory, 'relabelled.onnx');
    const original = await readFile(MODEL_PATH);
    await writeFile(path, withMetadataEntry(original, MODEL_VERSION_KEY, '9.9.9+relabelled'));
    const [relabelled, reference] = await Promise.all([
      loadScorer(path, { workers: 0 }),
      loadScorer(MODEL_PATH, { workers: 0 }),
    ]);
    try {
      assert.equal(relabelled.modelVersion, '9.9.9+relabelled');
      assert.notEqual(relabelled.modelDigest, reference.modelDigest);
      assert.deepEqual(
        readModelMetadata(await readFile(path)).get(INPUT_ENCODING_KEY),
        readModelMetadata(original).get(INPUT_ENCODING_KEY),
      );
      assert.deepEqual(await relabelled.score(registrations), await reference.score(registrations));
    } finally {
      await Promise.all([relabelled.close(), reference.close()]);
    }
  });

  it('refuses a model without a model version', async () => {
    const path = join(directory, 'unversioned.onnx');
    await writeFile(path, identityModel({}));
    await assert.rejects(loadScorer(path), /has no model_version/);
  });

  it('reports a missing file as an invalid model', async () => {
    await assert.rejects(loadScorer(join(directory, 'absent.onnx')), (error: unknown) => {
      assert.ok(isOfferError(error, 'MODEL_INVALID'));
      assert.match(error.message, /cannot read model/);
      return true;
    });
  });

  it('rejects scoring after close', async () => {
    const scorer = await loadScorer(MODEL_PATH, { intraOpThreads: 1 });
    await scorer.close();
    await scorer.close();
    await assert.rejects(scorer.score([]), /closed/);
  });
});
