import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';

import type { MessageProducer } from '../../src/kafka/kafka-adapter.js';
import type { InfraEnv } from '../support/infra.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, waitFor } from '../support/service.js';
import {
  account,
  committedTotal,
  metricSample,
  drainSeconds,
  FAULTS_INFRA_DIR,
  PacedProducer,
  planMessages,
  referenceScorer,
  renderTable,
  Services,
  writeAccounting,
  type AccountingRow,
  type PlannedMessage,
} from './harness.js';

// Consumers of the suite: a short session timeout so that a killed member's partitions move
// within seconds (production keeps 30 s), small chunks so that many commits happen.
const CONSUMER_ENV = {
  KAFKA_SESSION_TIMEOUT_MS: '6000',
  KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
  BATCH_MAX_MESSAGES: '100',
  SINK_RETRY_INITIAL_MS: '50',
  SINK_RETRY_MAX_MS: '1000',
  SHUTDOWN_GRACE_MS: '15000',
};

describe('fault tolerance', () => {
  const services = new Services(FAULTS_INFRA_DIR);
  const rows: AccountingRow[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  let infra: InfraEnv;

  before(async () => {
    infra = await services.up();
    await referenceScorer();
  });

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    if (rows.length > 0) {
      const file = await writeAccounting(FAULTS_INFRA_DIR, rows);
      console.log(`\nFault-injection accounting (${file}):\n${renderTable(rows)}\n`);
    }
    if (process.env.FAULTS_KEEP_INFRA !== '1') await services.down();
  });

  async function fixtureFor(partitions: number): Promise<PipelineFixture> {
    const fixture = new PipelineFixture(infra);
    await fixture.setUp(partitions);
    cleanups.push(() => fixture.tearDown());
    return fixture;
  }

  async function connectedProducer(fixture: PipelineFixture): Promise<MessageProducer> {
    const producer = fixture.kafka.producer();
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    return producer;
  }

  async function startConsumer(
    fixture: PipelineFixture,
    extra: Record<string, string> = {},
  ): Promise<ConsumerProcess> {
    const consumer = await ConsumerProcess.start(fixture.env({ ...CONSUMER_ENV, ...extra }));
    cleanups.push(() => consumer.stop('SIGKILL'));
    return consumer;
  }

  async function finish(
    fixture: PipelineFixture,
    name: string,
    messages: readonly PlannedMessage[],
    recoverySeconds: number,
    notes = '',
  ): Promise<AccountingRow> {
    await fixture.waitCommittedToEnd();
    const { row, problems } = await account(fixture, { name, messages, recoverySeconds, notes });
    rows.push(row);
    assert.deepEqual(problems, [], `${name}: the accounting is exact`);
    assert.equal(row.lost, 0);
    assert.equal(row.stored, row.valid);
    assert.equal(row.redis, row.valid);
    assert.equal(row.deadLettered, row.invalid);
    return row;
  }

  it('DLQ topic deleted: stops committing and reports, continues once it is back', async () => {
    const fixture = await fixtureFor(3);
    const consumer = await startConsumer(fixture);
    await consumer.waitReady();
    const admin = await fixture.kafka.admin();
    cleanups.push(() => admin.disconnect());
    const producer = await connectedProducer(fixture);

    // Valid traffic first, then the DLQ goes away, then traffic with invalid messages: a
    // deleted topic takes its records with it, so no dead letter may be written before.
    const healthy = planMessages({ count: 300, firstUserId: 1 });
    const during = planMessages({ count: 1_200, firstUserId: 301, invalidEvery: 100 });
    await new PacedProducer(producer, fixture.topic, healthy, 300).finished();
    await fixture.waitCommittedToEnd();
    await admin.deleteTopics([fixture.dlqTopic]);
    await waitFor(
      'the DLQ topic to be gone',
      async () => (await admin.missingTopics([fixture.dlqTopic])).length === 1,
    );

    const sending = new PacedProducer(producer, fixture.topic, during, 300).start();
    await waitFor(
      'the DLQ sink to be reported down',
      async () => (await consumer.readiness()) === 503,
      60_000,
    );
    assert.equal(await metricSample(consumer, 'offers_sink_up', 'sink="dlq"'), 0);
    await sending.finished();
    // The outage lasts a fixed while on purpose: it is the fault being injected.
    const committedDown = await committedTotal(fixture);
    await sleep(3_000);
    assert.equal(
      await committedTotal(fixture),
      committedDown,
      'nothing is committed while the DLQ is missing',
    );
    assert.ok(
      committedDown < healthy.length + during.length,
      'the bad message and what follows it are not committed',
    );
    assert.equal(
      await consumer.metric('offers_dead_lettered_total'),
      0,
      'no dead letter is counted as written',
    );
    assert.equal(await consumer.readiness(), 503);
    assert.match(consumer.output, /"sink":"dlq".*sink write failed; retrying/);

    await admin.ensureTopics([{ name: fixture.dlqTopic, partitions: 1 }]);
    const recovery = await drainSeconds(fixture, Date.now());
    await waitFor('ready again', async () => (await consumer.readiness()) === 200);
    await finish(fixture, 'DLQ topic deleted', [...healthy, ...during], recovery);
    assert.equal(await consumer.stop('SIGTERM'), 0);
  });
});
