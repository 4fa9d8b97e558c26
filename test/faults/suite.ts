// One fault-injection suite: its own services, the fixtures, producers and consumers its
// scenarios start (stopped after each scenario), and the accounting table it prints.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import type { MessageProducer } from '../../src/kafka/kafka-adapter.js';
import type { InfraEnv, Services } from '../support/infra.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess } from '../support/service.js';
import {
  account,
  referenceScorer,
  renderTable,
  writeAccounting,
  type AccountingRow,
} from './accounting.js';
import { insertLog, recordInserts } from './observation.js';
import { PacedProducer, type PlannedMessage } from './traffic.js';

/**
 * What the suites' consumers run with: a short session timeout so that a killed member's
 * partitions move within seconds (production keeps 30 s), small chunks so that many
 * commits happen.
 */
export const FAULT_SESSION_TIMEOUT_MS = 6_000;
export const FAULT_CONSUMER_ENV: Readonly<Record<string, string>> = {
  KAFKA_SESSION_TIMEOUT_MS: String(FAULT_SESSION_TIMEOUT_MS),
  KAFKA_HEARTBEAT_INTERVAL_MS: '1000',
  BATCH_MAX_MESSAGES: '100',
  SINK_RETRY_INITIAL_MS: '50',
  SINK_RETRY_MAX_MS: '1000',
  SHUTDOWN_GRACE_MS: '15000',
};

/** True once the consumer process has exited (checked without waiting). */
export async function hasExited(consumer: ConsumerProcess): Promise<boolean> {
  return Promise.race([consumer.exited.then(() => true), sleep(10).then(() => false)]);
}

/** Host and port of a URL, for a proxy in front of it. */
export function hostPort(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port) };
}

export class FaultSuite {
  readonly services: Services;
  readonly rows: AccountingRow[] = [];
  readonly #consumerEnv: Readonly<Record<string, string>>;
  readonly #cleanups: (() => Promise<unknown>)[] = [];
  #infra: InfraEnv | undefined;
  #consumers = 0;

  /** `consumerEnv`: what every consumer of the suite runs with. */
  constructor(
    services: Services,
    consumerEnv: Readonly<Record<string, string>> = FAULT_CONSUMER_ENV,
  ) {
    this.services = services;
    this.#consumerEnv = consumerEnv;
  }

  get infra(): InfraEnv {
    if (this.#infra === undefined) throw new Error('the suite is not set up');
    return this.#infra;
  }

  /** Starts the services (before all scenarios). */
  async setUp(): Promise<void> {
    this.#infra = await this.services.up();
    await referenceScorer();
  }

  /** Runs `cleanup` after the current scenario, in reverse order of registration. */
  onCleanUp(cleanup: () => Promise<unknown>): void {
    this.#cleanups.push(cleanup);
  }

  /** After each scenario: stops what it started. */
  async cleanUp(): Promise<void> {
    for (const cleanup of this.#cleanups.splice(0).reverse()) {
      await cleanup().catch(() => undefined);
    }
  }

  /** After all scenarios: prints and writes the accounting, stops the services. */
  async tearDown(title: string): Promise<void> {
    if (this.rows.length > 0) {
      const file = await writeAccounting(this.services.dir, this.rows);
      console.log(`\n${title} (${file}):\n${renderTable(this.rows)}\n`);
    }
    if (process.env.FAULTS_KEEP_INFRA !== '1') await this.services.down();
  }

  /**
   * A scenario's topics, table (with its insert log) and key prefix. The DLQ topic gets the
   * input topic's configs unless given its own.
   */
  async fixture(
    partitions: number,
    topicConfig: Readonly<Record<string, string>> = {},
    dlqTopicConfig: Readonly<Record<string, string>> = topicConfig,
  ): Promise<PipelineFixture> {
    const fixture = new PipelineFixture(this.infra);
    if (Object.keys(topicConfig).length > 0 || Object.keys(dlqTopicConfig).length > 0) {
      // Created first with their configs; setUp leaves existing topics as they are.
      const admin = await fixture.kafka.admin();
      await admin.ensureTopics([
        { name: fixture.topic, partitions, config: topicConfig },
        { name: fixture.dlqTopic, partitions: 1, config: dlqTopicConfig },
      ]);
      await admin.disconnect();
    }
    await fixture.setUp(partitions);
    this.onCleanUp(() => fixture.tearDown());
    // A cluster's inserts land on whichever node the service reaches, where a view on one
    // node would miss them: its suite counts rows in the replicas' local tables instead.
    if (fixture.clickhouseCluster !== '') return fixture;
    await recordInserts(fixture);
    this.onCleanUp(() =>
      fixture.clickhouse.command({ query: `DROP TABLE IF EXISTS ${insertLog(fixture)}` }),
    );
    return fixture;
  }

  async producer(fixture: PipelineFixture): Promise<MessageProducer> {
    const producer = fixture.kafka.producer();
    await producer.connect();
    this.onCleanUp(() => producer.disconnect());
    return producer;
  }

  async pacedProducer(
    fixture: PipelineFixture,
    messages: readonly PlannedMessage[],
    rate: number,
  ): Promise<PacedProducer> {
    const producer = new PacedProducer(await this.producer(fixture), fixture.topic, messages, rate);
    this.onCleanUp(() => producer.stop());
    return producer;
  }

  /** The `consume` command on the fixture; its output is kept in `<dir>/logs`. */
  async consumer(
    fixture: PipelineFixture,
    extra: Record<string, string> = {},
  ): Promise<ConsumerProcess> {
    const consumer = await ConsumerProcess.start(fixture.env({ ...this.#consumerEnv, ...extra }));
    const log = join(this.services.dir, 'logs', `${fixture.id}-${(this.#consumers += 1)}.log`);
    this.onCleanUp(async () => {
      await consumer.stop('SIGKILL');
      await mkdir(dirname(log), { recursive: true });
      await writeFile(log, consumer.output);
    });
    return consumer;
  }

  /** Waits until everything is committed, then adds the scenario's exact accounting. */
  async finish(
    fixture: PipelineFixture,
    name: string,
    messages: readonly PlannedMessage[],
    recoverySeconds: number,
    notes = '',
  ): Promise<AccountingRow> {
    await fixture.waitCommittedToEnd();
    const { row, problems } = await account(fixture, { name, messages, recoverySeconds, notes });
    this.rows.push(row);
    assert.deepEqual(problems, [], `${name}: the accounting is exact`);
    assert.equal(row.lost, 0);
    assert.equal(row.stored, row.valid);
    assert.equal(row.redis, row.valid);
    assert.equal(row.deadLettered, row.invalid);
    return row;
  }

  /** The last check of a suite: every scenario ran, and nothing was lost anywhere. */
  assertComplete(scenarios: number): void {
    assert.equal(this.rows.length, scenarios, renderTable(this.rows));
    for (const row of this.rows) {
      assert.equal(row.lost, 0, row.scenario);
      assert.equal(row.stored, row.valid, row.scenario);
      assert.equal(row.redis, row.valid, row.scenario);
      assert.equal(row.deadLettered, row.invalid, row.scenario);
    }
  }
}
