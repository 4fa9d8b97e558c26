import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { generateMessages } from '../../src/cli/registration-generator.js';
import { shadowTableName } from '../../src/config/config.js';
import { decodeRegistration } from '../../src/contract/decode.js';
import type { Registration } from '../../src/contract/registration.js';
import { INPUT_ENCODING_KEY } from '../../src/scoring/input-encoding.js';
import { readModelMetadata } from '../../src/scoring/onnx-metadata.js';
import { PREDICTION_NAMES } from '../../src/scoring/predictions.js';
import { loadScorer, MODEL_VERSION_KEY } from '../../src/scoring/scorer.js';
import { MIGRATIONS_TABLE, SCHEMA_VERSION } from '../../src/sinks/clickhouse-migrations-table.js';
import { columnSpecs, localTableName } from '../../src/sinks/clickhouse-schema.js';
import { startInfra, type InfraEnv } from '../support/infra.js';
import { withMetadataEntry } from '../support/model-file.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, fatalMessage, runCli } from '../support/service.js';

const MODEL_PATH = 'model/offer_model.onnx';
const DASHBOARD = 'charts/realtime-offers/monitoring/dashboard.json';
const VALID = 2_000;
const INVALID = 20;
const SEED = 11;

interface StoredRow {
  user_id: string;
  model_version: string;
  model_sha256: string;
  kafka_partition: number;
  kafka_offset: string;
  version: string;
  [prediction: string]: unknown;
}

/**
 * A candidate model that scores differently from the live one: the same graph with every
 * string vocabulary reversed (so each category feeds another code), under its own
 * model_version. Its predictions differ for most registrations, so a shadow table holding
 * the live model's predictions fails the comparison below.
 */
async function writeShadowModel(dir: string, version: string): Promise<string> {
  const original = await readFile(MODEL_PATH);
  const encoding = JSON.parse(readModelMetadata(original).get(INPUT_ENCODING_KEY) ?? '{}') as {
    categories: Record<string, string[]>;
  };
  for (const [column, values] of Object.entries(encoding.categories)) {
    encoding.categories[column] = [...values].reverse();
  }
  const path = join(dir, `shadow-${version}.onnx`);
  await writeFile(
    path,
    withMetadataEntry(
      withMetadataEntry(original, MODEL_VERSION_KEY, version),
      INPUT_ENCODING_KEY,
      JSON.stringify(encoding),
    ),
  );
  return path;
}

/** The registrations `send --seed` sends, by user id. */
function registrationsOf(count: number, seed: number): Registration[] {
  const registrations: Registration[] = [];
  for (const message of generateMessages({ count, firstUserId: 1, seed })) {
    const decoded = decodeRegistration(Buffer.from(message.value), 65_536);
    assert.ok(decoded.ok);
    registrations.push(decoded.registration);
  }
  return registrations.sort((a, b) => a.userId - b.userId);
}

async function tableExists(fixture: PipelineFixture, table: string): Promise<boolean> {
  const rows = await fixture.queryRows<{ name: string }>(
    `SELECT name FROM system.tables WHERE database = 'default' AND name = '${table}'`,
  );
  return rows.length > 0;
}

async function send(fixture: PipelineFixture, invalid: number): Promise<void> {
  const sent = await runCli(
    [
      'send',
      '--count',
      String(VALID),
      '--invalid',
      String(invalid),
      '--seed',
      String(SEED),
      '--no-progress',
    ],
    fixture.env(),
  );
  assert.equal(sent.code, 0, sent.stderr);
}

async function dropShadowTables(fixture: PipelineFixture): Promise<void> {
  const shadow = shadowTableName(fixture.table);
  const onCluster =
    fixture.clickhouseCluster === '' ? '' : ` ON CLUSTER '${fixture.clickhouseCluster}'`;
  const tables = fixture.clickhouseCluster === '' ? [shadow] : [shadow, localTableName(shadow)];
  for (const table of tables) {
    await fixture.clickhouse.command({
      query: `DROP TABLE IF EXISTS default.${table}${onCluster}`,
    });
  }
}

describe('shadow scoring: a second model on the same batches, stored in its own table only', () => {
  let infra: InfraEnv;
  let dir: string;
  let shadowPath: string;
  const shadowVersion = `shadow-${Date.now()}`;

  before(async () => {
    infra = await startInfra();
    dir = await mkdtemp(join(tmpdir(), 'shadow-model-'));
    shadowPath = await writeShadowModel(dir, shadowVersion);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it(`writes one shadow row per accepted message with the shadow's predictions, and Redis only the live offers`, async (t) => {
    const fixture = new PipelineFixture(infra);
    await fixture.setUp(6, { createTable: false });
    let consumer: ConsumerProcess | undefined = undefined;
    t.after(async () => {
      await consumer?.stop('SIGKILL');
      await dropShadowTables(fixture);
      await fixture.tearDown();
    });
    const env = fixture.env({ MODEL_SHADOW_PATH: shadowPath });
    const shadowTable = shadowTableName(fixture.table);

    // `migrate` with MODEL_SHADOW_PATH set makes both tables, each recorded under its name.
    const migrated = await runCli(['migrate'], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.ok(await tableExists(fixture, fixture.table));
    assert.ok(await tableExists(fixture, shadowTable));
    const records = await fixture.queryRows<{ table_name: string; version: number }>(
      `SELECT table_name, version FROM default.${MIGRATIONS_TABLE} WHERE table_name IN ('${fixture.table}', '${shadowTable}') ORDER BY table_name`,
    );
    assert.deepEqual(
      records.map((record) => [record.table_name, record.version]),
      [
        [fixture.table, SCHEMA_VERSION],
        [shadowTable, SCHEMA_VERSION],
      ],
    );

    consumer = await ConsumerProcess.start(env);
    await consumer.waitReady();
    await send(fixture, INVALID);
    await fixture.waitCommittedToEnd();

    const shadowSha256 = createHash('sha256')
      .update(await readFile(shadowPath))
      .digest('hex');
    const live = await loadScorer(MODEL_PATH, { workers: 0 });
    const shadow = await loadScorer(shadowPath, { workers: 0 });
    try {
      const inputs = registrationsOf(VALID, SEED);
      const users = inputs.map((registration) => registration.userId);
      const wantShadow = await shadow.score(inputs);
      const wantLive = await live.score(inputs);

      // Exactly one row per accepted message (no FINAL: nothing was redelivered), with the
      // same keys as the live table's rows.
      const shadowRows = await fixture.queryRows<StoredRow>(
        `SELECT * FROM default.${shadowTable} ORDER BY user_id`,
      );
      assert.equal(shadowRows.length, VALID);
      const keysOf = (rows: readonly StoredRow[]) =>
        rows.map(
          (row) => `${row.user_id}/${row.version}/${row.kafka_partition}/${row.kafka_offset}`,
        );
      const liveRows = await fixture.queryRows<StoredRow>(
        `SELECT * FROM default.${fixture.table} ORDER BY user_id`,
      );
      assert.deepEqual(keysOf(shadowRows), keysOf(liveRows));

      let differing = 0;
      for (const [index, row] of shadowRows.entries()) {
        assert.equal(Number(row.user_id), users[index]);
        assert.equal(row.model_version, shadowVersion);
        assert.equal(row.model_sha256, shadowSha256);
        const want = wantShadow[index];
        const liveWant = wantLive[index];
        assert.ok(want !== undefined && liveWant !== undefined);
        for (const name of PREDICTION_NAMES) {
          assert.ok(
            Math.abs(Number(row[name]) - want[name]) < 1e-4,
            `${name} of user ${row.user_id} in the shadow table: ${String(row[name])}, the shadow model gives ${want[name]}`,
          );
        }
        if (PREDICTION_NAMES.some((name) => Math.abs(want[name] - liveWant[name]) > 1e-3)) {
          differing += 1;
        }
      }
      // The comparison above tells the two models apart only if they disagree.
      assert.ok(differing > VALID / 2, `${differing} of ${VALID} rows differ between the models`);

      // The live table and Redis hold the live model's offers, as without a shadow.
      for (const row of liveRows) assert.equal(row.model_version, live.modelVersion);
      const liveColumns = await fixture.queryRows<{ name: string }>(
        `DESCRIBE TABLE default.${fixture.table}`,
      );
      // Both column sets have the same names; the types depend on the server.
      assert.deepEqual(
        liveColumns.map((column) => column.name),
        columnSpecs(true).map((column) => column.name),
      );
      const keys = await fixture.redisKeys();
      assert.equal(keys.length, VALID);
      const values = await fixture.redisValues(keys);
      const versions = new Set(
        values.map(
          (value) => (JSON.parse(value ?? '{}') as { model_version?: string }).model_version,
        ),
      );
      assert.deepEqual([...versions], [live.modelVersion]);
    } finally {
      await Promise.all([live.close(), shadow.close()]);
    }

    assert.equal(await consumer.metric('offers_shadow_model_rows_total'), VALID);
    assert.equal(await consumer.metric('offers_model_rows_total'), VALID);
    assert.equal(await consumer.metric('offers_shadow_model_predicted_cost_usd_count'), VALID);
    // Every shadow series the dashboard queries is one the consumer exposes, with the rows.
    const metricsText = await (await fetch(`http://127.0.0.1:${consumer.httpPort}/metrics`)).text();
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as {
      panels: { targets?: { expr: string }[] }[];
    };
    const queried = new Set(
      dashboard.panels
        .flatMap((panel) => panel.targets ?? [])
        .flatMap(({ expr }) => expr.match(/offers_shadow_model_[a-z_]+/g) ?? []),
    );
    assert.ok(queried.size >= 5, `the dashboard queries ${[...queried].join(', ')}`);
    for (const name of queried) {
      const counted = name.endsWith('_count') ? `${name}(\\{[^}]*\\})? ${VALID}` : name;
      assert.match(metricsText, new RegExp(`^${counted}`, 'm'), name);
    }
    assert.equal(await consumer.stop('SIGTERM'), 0, consumer.output.slice(-2000));
    assert.match(
      consumer.output,
      new RegExp(`"modelVersion":"${shadowVersion}".*shadow model loaded`),
    );
  });

  it('without MODEL_SHADOW_PATH writes no shadow table, and migrate makes none', async (t) => {
    const fixture = new PipelineFixture(infra);
    await fixture.setUp(3, { createTable: false });
    let consumer: ConsumerProcess | undefined = undefined;
    t.after(async () => {
      await consumer?.stop('SIGKILL');
      await dropShadowTables(fixture);
      await fixture.tearDown();
    });
    const migrated = await runCli(['migrate'], fixture.env());
    assert.equal(migrated.code, 0, migrated.stderr);
    consumer = await ConsumerProcess.start(fixture.env({ CLICKHOUSE_CREATE_TABLE: 'true' }));
    await consumer.waitReady();
    await send(fixture, 0);
    await fixture.waitCommittedToEnd();
    assert.equal(await fixture.distinctUsers(), VALID);
    assert.equal(await tableExists(fixture, shadowTableName(fixture.table)), false);
    assert.equal(await consumer.metric('offers_shadow_model_rows_total'), 0);
    assert.equal(await consumer.metric('offers_model_rows_total'), VALID);
  });

  it('stops start-up naming MODEL_SHADOW_PATH or MODEL_SHADOW_SHA256 when the shadow model cannot be used', async (t) => {
    const fixture = new PipelineFixture(infra);
    await fixture.setUp(1);
    t.after(async () => {
      await dropShadowTables(fixture);
      await fixture.tearDown();
    });
    const missing = await runCli(
      ['consume'],
      fixture.env({ MODEL_SHADOW_PATH: join(dir, 'missing.onnx') }),
    );
    assert.equal(missing.code, 1);
    assert.match(
      fatalMessage(missing.stderr),
      /MODEL_SHADOW_PATH \(.*missing\.onnx\) is not a model the service can score with: cannot read model/,
    );
    const otherDigest = await runCli(
      ['consume'],
      fixture.env({ MODEL_SHADOW_PATH: shadowPath, MODEL_SHADOW_SHA256: 'ab'.repeat(32) }),
    );
    assert.equal(otherDigest.code, 1);
    assert.match(fatalMessage(otherDigest.stderr), /but MODEL_SHADOW_SHA256 expects a{1}b/);
    // With the model in place, a shadow table that does not exist stops start-up like the
    // offers table would.
    const noTable = await runCli(
      ['consume'],
      fixture.env({ MODEL_SHADOW_PATH: shadowPath, STARTUP_TIMEOUT_MS: '3000' }),
    );
    assert.equal(noTable.code, 1);
    assert.match(
      fatalMessage(noTable.stderr),
      new RegExp(`${shadowTableName(fixture.table)} does not exist`),
    );
  });
});
