// The soak: the 3-broker Kafka, the Redis Cluster and the ClickHouse cluster, three consumers,
// the project's producer and Kafka's Java client at a steady rate, and a seeded schedule of
// faults; at the end the exact accounting, the faults with their times, each consumer's exits
// and its memory trend. Exits non-zero when anything is lost or stale, the lag is not 0, a
// consumer exited without a fault asking, or the heap grows beyond the bound.
//
// SOAK_DURATION (e.g. 5m, 60m; default 60m), SOAK_SEED (default 1), SOAK_RATE (messages/s of
// the project's producer, default 200), SOAK_HEAP_SLOPE_MB_PER_HOUR (default 30), SOAK_KEEP_INFRA=1
// leaves the services running.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { BalancingProxy, clusterNodes } from '../support/clickhouse-cluster.js';
import { compileJavaProducer } from '../support/foreign-producer.js';
import { infraDir, Services } from '../support/infra.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { REPO_ROOT } from '../../tools/dev/paths.js';
import { account, referenceScorer, renderTable } from '../faults/accounting.js';
import { FAULT_CONSUMER_ENV, hostPort } from '../faults/suite.js';
import { PacedProducer } from '../faults/traffic.js';
import { ConsumerGroup } from './consumers.js';
import { FaultRunner } from './faults.js';
import { JavaTraffic } from './java-traffic.js';
import { memoryTrends, renderMemory } from './memory.js';
import { drawSchedule, FAULT_KINDS } from './schedule.js';
import { planStream, updatedUsers } from './stream.js';

const CONSUMERS = 3;
const PARTITIONS = 6;
const SAMPLE_INTERVAL_MS = 10_000;
const PROGRESS_INTERVAL_MS = 30_000;
const QUIET_END_SECONDS = 30;
const JAVA_INTERVAL_MS = 20_000;
const JAVA_PER_RUN = 100;
/** Users between a user's first event and its newer one: a few seconds of the stream. */
const UPDATE_DISTANCE = 1_000;
const MIN_JUDGED_WINDOW_SECONDS = 600;

/** `90s`, `5m`, `1h` or plain seconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text.trim());
  if (match === null) throw new Error(`SOAK_DURATION must be like 5m, 90s or 1h, not '${text}'`);
  const unit = { s: 1, m: 60, h: 3_600 }[match[2] ?? 's'] ?? 1;
  return Number(match[1]) * unit;
}

function numberFrom(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed)) throw new Error(`${name} must be a number, not '${value}'`);
  return parsed;
}

/** Soak runs keep their state here: <INFRA_DIR>-soak. */
export const SOAK_INFRA_DIR = process.env.SOAK_INFRA_DIR ?? `${infraDir()}-soak`;

async function main(): Promise<number> {
  const durationSeconds = parseDuration(process.env.SOAK_DURATION ?? '60m');
  const seed = numberFrom('SOAK_SEED', 1);
  const rate = numberFrom('SOAK_RATE', 200);
  const heapSlopeBound = numberFrom('SOAK_HEAP_SLOPE_MB_PER_HOUR', 30);
  const schedule = drawSchedule({
    seed,
    durationSeconds,
    consumers: CONSUMERS,
    quietEndSeconds: QUIET_END_SECONDS,
  });
  const stamp = new Date().toISOString().replaceAll(':', '').replace(/\..*/, '');
  const reportDir = join(REPO_ROOT, 'reports', `soak-${stamp}`);
  const wall = Date.now();
  console.log(
    `[soak] ${durationSeconds} s, seed ${seed}, ${rate} msgs/s, ${schedule.length} faults; report in ${reportDir}`,
  );

  const services = new Services(SOAK_INFRA_DIR, {
    INFRA_KAFKA_NODES: '3',
    INFRA_REDIS_MODE: 'cluster',
    INFRA_CLICKHOUSE_MODE: 'cluster',
  });
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const infra = await services.up();
    await Promise.all([referenceScorer(), compileJavaProducer()]);
    const fixture = new PipelineFixture(infra);
    await fixture.setUp(PARTITIONS);
    const admin = await fixture.kafka.admin();
    cleanups.push(() => admin.disconnect());
    const kafkaProxies = await Promise.all(
      infra.proxiedBrokers.map(({ advertised, target }) =>
        TcpProxy.start(hostPort(`tcp://${target}`), hostPort(`tcp://${advertised}`).port),
      ),
    );
    for (const proxy of kafkaProxies) cleanups.push(() => proxy.close());
    const balancer = await BalancingProxy.start(clusterNodes(infra).map((node) => node.url));
    cleanups.push(() => balancer.close());
    const clickhouseProxy = await TcpProxy.start(hostPort(balancer.url));
    cleanups.push(() => clickhouseProxy.close());
    const consumerEnv = fixture.env({
      ...FAULT_CONSUMER_ENV,
      KAFKA_BROKERS: infra.proxiedBrokers.map(({ advertised }) => advertised).join(','),
      CLICKHOUSE_URL: clickhouseProxy.url(balancer.url),
      // An acknowledged offer is on a primary and its replica: a failover keeps it.
      REDIS_WAIT_REPLICAS: '1',
      KAFKA_METADATA_MAX_AGE_MS: '5000',
      LOG_LEVEL: 'warn',
    });

    const startedAt = Date.now();
    const consumers = await ConsumerGroup.start(
      CONSUMERS,
      consumerEnv,
      join(reportDir, 'logs'),
      startedAt,
    );
    cleanups.push(() => consumers.close());

    // Every fourth user sent again ~UPDATE_DISTANCE users later, with another registration.
    const paced = planStream(
      Math.round(rate * (durationSeconds - QUIET_END_SECONDS) * 0.8),
      UPDATE_DISTANCE,
    );
    const producerClient = fixture.kafka.producer();
    await producerClient.connect();
    cleanups.push(() => producerClient.disconnect());
    const producer = new PacedProducer(producerClient, fixture.topic, paced, rate).start();
    cleanups.push(() => producer.stop());
    const java = new JavaTraffic(infra.kafkaBrokers.join(','), fixture.topic, JAVA_PER_RUN);
    cleanups.push(() => {
      java.stop();
      return Promise.resolve();
    });
    const javaRunning = java.run(JAVA_INTERVAL_MS);
    const sampler = setInterval(() => void consumers.sample(), SAMPLE_INTERVAL_MS);
    cleanups.push(() => {
      clearInterval(sampler);
      return Promise.resolve();
    });
    const progress = setInterval(() => {
      void admin
        .committedOffsets(fixture.groupId, fixture.topic)
        .then((committed) => {
          const done = [...committed.values()].reduce(
            (sum, offset) => sum + Math.max(0, Number(offset)),
            0,
          );
          const seconds = ((Date.now() - startedAt) / 1000).toFixed(0);
          console.log(
            `[soak] ${seconds} s: ${producer.acked}/${paced.length} sent, ${java.messages.length} Java, ${done} committed, ${consumers.exits.length} exits`,
          );
        })
        .catch(() => undefined);
    }, PROGRESS_INTERVAL_MS);
    cleanups.push(() => {
      clearInterval(progress);
      return Promise.resolve();
    });

    const faults = new FaultRunner(
      { infra, services, consumers, kafkaProxies, clickhouseProxy, admin, topic: fixture.topic },
      startedAt,
    );
    const faultsRunning = faults.run(schedule);
    // The load ends on time whatever rate the machine allowed: what was sent is accounted.
    const loadEnd = startedAt + (durationSeconds - QUIET_END_SECONDS) * 1000;
    await Promise.race([
      producer.finished(durationSeconds * 1000 + 600_000),
      sleep(Math.max(0, loadEnd - Date.now())),
    ]);
    const sent = paced.slice(0, await producer.cut());
    java.stop();
    await javaRunning;
    await faultsRunning;
    const loadSeconds = (Date.now() - startedAt) / 1000;
    console.log(`[soak] load done after ${loadSeconds.toFixed(0)} s; draining`);

    // A fresh client: the fixture's may not know the partitions added meanwhile.
    const fresh = await fixture.kafka.admin();
    cleanups.push(() => fresh.disconnect());
    const drainStart = Date.now();
    let lag = Number.POSITIVE_INFINITY;
    let ends = new Map<number, string>();
    while (Date.now() - drainStart < 600_000) {
      ends = await fresh.endOffsets(fixture.topic).catch(() => ends);
      const committed = await fresh
        .committedOffsets(fixture.groupId, fixture.topic)
        .catch(() => new Map<number, string>());
      lag = [...ends].reduce(
        (sum, [partition, end]) =>
          sum + Math.max(0, Number(end) - Number(committed.get(partition) ?? 0)),
        0,
      );
      if (ends.size > 0 && lag === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const drainSeconds = (Date.now() - drainStart) / 1000;
    clearInterval(sampler);
    clearInterval(progress);
    const runSeconds = (Date.now() - startedAt) / 1000;

    const messages = [...sent, ...java.messages];
    const { row, problems } = await account(fixture, {
      name: `soak ${durationSeconds / 60} min, seed ${seed}`,
      messages,
      recoverySeconds: drainSeconds,
      notes: `${faults.records.length} faults; ${java.messages.length} Java records committed, ${java.abortedRecords} aborted`,
    });
    const twice = updatedUsers(sent);
    const staleUsers = new Set(
      problems.flatMap((problem) => {
        const match = /^(?:Redis|ClickHouse) user (\d+):/.exec(problem);
        return match !== null && twice.has(Number(match[1])) ? [Number(match[1])] : [];
      }),
    );
    const exits = consumers.exits;
    const unexpectedExits = exits.filter((exit) => exit.cause === undefined);
    const failedTerms = exits.filter(
      (exit) => exit.cause?.startsWith('consumer-term') === true && exit.code !== 0,
    );
    const failedFaults = faults.records.filter((record) => record.error !== undefined);
    const trends = memoryTrends(consumers.samples, runSeconds);
    // Over less than 10 minutes the sawtooth between collections outweighs any leak: shorter
    // runs report the slopes without judging them.
    const judged = runSeconds / 2 >= MIN_JUDGED_WINDOW_SECONDS;
    const heapSlope = Math.max(...trends.map((trend) => trend.heapFloorSlopeMbPerHour));
    const kinds = new Set(faults.records.map((record) => record.fault.kind));

    const verdicts: [string, boolean][] = [
      [`lost ${row.lost}`, row.lost === 0],
      [`stale ${staleUsers.size}`, staleUsers.size === 0],
      [`accounting problems ${problems.length}`, problems.length === 0],
      [`DLQ ${row.deadLettered}/${row.invalid}`, row.deadLettered === row.invalid],
      [`lag ${lag} on ${ends.size} partitions`, lag === 0],
      [`unexpected exits ${unexpectedExits.length}`, unexpectedExits.length === 0],
      [`SIGTERM exits not 0: ${failedTerms.length}`, failedTerms.length === 0],
      [`faults that failed to inject or heal: ${failedFaults.length}`, failedFaults.length === 0],
      judged
        ? [
            `heap floor slope ${heapSlope.toFixed(1)} MB/h at most (bound ${heapSlopeBound} MB/h)`,
            heapSlope <= heapSlopeBound,
          ]
        : [
            `heap floor slope ${heapSlope.toFixed(1)} MB/h not judged: second half under ${MIN_JUDGED_WINDOW_SECONDS / 60} min`,
            true,
          ],
    ];
    const passed = verdicts.every(([, ok]) => ok);
    const report = [
      `# Soak: ${(durationSeconds / 60).toFixed(0)} min, seed ${seed} — ${passed ? 'PASSED' : 'FAILED'}`,
      '',
      `${rate} msgs/s asked of the project's producer, ${(sent.length / (durationSeconds - QUIET_END_SECONDS)).toFixed(0)} msgs/s sent (${sent.length} messages, ${producer.failedAttempts} failed sends retried), ` +
        `${java.runs} Java client runs (${java.failedRuns} retried; gzip/snappy/lz4/zstd/none, every other one transactional with an aborted transaction); ` +
        `${CONSUMERS} consumers; ${ends.size} partitions at the end. Load ${loadSeconds.toFixed(0)} s, drain ${drainSeconds.toFixed(1)} s, wall ${((Date.now() - wall) / 1000).toFixed(0)} s.`,
      '',
      '## Verdicts',
      '',
      ...verdicts.map(([text, ok]) => `- ${ok ? 'ok' : 'FAIL'}: ${text}`),
      '',
      '## Accounting',
      '',
      renderTable([row]),
      '',
      ...(problems.length > 0
        ? ['Problems:', '', ...problems.slice(0, 50).map((p) => `- ${p}`), '']
        : []),
      `## Faults (${faults.records.length}; kinds ${kinds.size} of ${FAULT_KINDS.length})`,
      '',
      '| start s | healed s | fault | notes |',
      '| --- | --- | --- | --- |',
      ...faults.records.map(
        (record) =>
          `| ${record.startedSeconds.toFixed(0)} | ${record.healedSeconds.toFixed(0)} | ${record.description} | ${record.error === undefined ? record.notes : `FAILED: ${record.error}`} |`,
      ),
      '',
      '## Consumer exits',
      '',
      '| consumer | run | at s | code | cause |',
      '| --- | --- | --- | --- | --- |',
      ...exits.map(
        (exit) =>
          `| ${exit.consumer} | ${exit.run} | ${exit.atSeconds.toFixed(0)} | ${String(exit.code)} | ${exit.cause ?? 'UNEXPECTED'} |`,
      ),
      '',
      `## Memory (sampled every ${SAMPLE_INTERVAL_MS / 1000} s; slopes over the second half)`,
      '',
      renderMemory(trends),
      '',
    ].join('\n');
    await mkdir(reportDir, { recursive: true });
    await writeFile(join(reportDir, 'report.md'), report);
    await writeFile(
      join(reportDir, 'report.json'),
      `${JSON.stringify({ seed, durationSeconds, rate, passed, verdicts, row, problems, faults: faults.records, exits, trends, samples: consumers.samples }, null, 2)}\n`,
    );
    console.log(`\n${report}`);
    cleanups.push(() => fixture.tearDown());
    return passed ? 0 : 1;
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
    if (process.env.SOAK_KEEP_INFRA !== '1') await services.down().catch(() => undefined);
  }
}

const exitCode = await main().catch((error: unknown) => {
  console.error(
    `[soak] ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  );
  return 1;
});
// Clients a failed run could not close (a broker gone for good) must not keep it alive.
process.exit(exitCode);
