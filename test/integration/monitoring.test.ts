import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

import kafkajs from 'kafkajs';

import {
  encodeRegistration,
  randomRegistration,
  seededRandom,
} from '../../src/cli/registration-generator.js';
import { decodeRegistration } from '../../src/contract/decode.js';
import type { Registration } from '../../src/contract/registration.js';
import { loadScorer } from '../../src/scoring/scorer.js';

import {
  infraDir,
  startInfra,
  startService,
  stopService,
  type InfraEnv,
} from '../support/infra.js';
import { MODEL_PATH } from '../support/golden.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import {
  PrometheusProcess,
  prometheusTool,
  scaleRuleDurations,
  type ActiveAlert,
} from '../support/prometheus.js';
import { CliProcess, ConsumerProcess, freePort, waitFor } from '../support/service.js';

/**
 * The chart's alert rules and Grafana dashboard against a real Prometheus scraping two real
 * consumers (Kafka, ClickHouse, Redis and the model as in every integration test) under a
 * steady load: every dashboard query returns data, and every alert fires during its fault
 * and resolves after it. The rules run with every duration divided by SPEED_UP (each `for:`
 * and each range selector: 10m becomes 20 s), so that the faults last seconds, not minutes.
 */

const MONITORING = fileURLToPath(
  new URL('../../charts/realtime-offers/monitoring/', import.meta.url),
);
const SPEED_UP = 30;
/**
 * OffersModelPredictionShift compares the last hour with the same hour a day before: on its
 * own clock, 360 times faster, the hour is 10 s and the day 4 minutes, which the suite lasts.
 */
const SHIFT_SPEED_UP = 360;
const SHIFT_WINDOW = `${3600 / SHIFT_SPEED_UP}s`;
const SHIFT_OFFSET = `${86_400 / SHIFT_SPEED_UP}s`;
const NAMESPACE = 'offers-monitoring-test';
const JOB = 'realtime-offers';
/** What Grafana puts for $__rate_interval, for 1 s scrapes and a short time range. */
const RATE_INTERVAL = '10s';
const PARTITIONS = 4;
const LOAD_RATE = 200;

interface Dashboard {
  panels: { type: string; title: string; targets?: { expr: string }[] }[];
}

describe('monitoring on a real Prometheus: dashboard queries and alerts', () => {
  let infra: InfraEnv;
  let fixture: PipelineFixture;
  let prometheus: PrometheusProcess;
  let load: CliProcess;
  let replicaA: ConsumerProcess;
  let replicaB: ConsumerProcess;
  let portB: number;
  const stateDir = join(infraDir(), `prometheus-${process.pid}`);

  const firing = async (name: string): Promise<ActiveAlert[]> =>
    (await prometheus.alerts()).filter(
      (alert) => alert.labels.alertname === name && alert.state === 'firing',
    );
  const waitFiring = async (name: string, timeoutMs = 90_000): Promise<ActiveAlert[]> => {
    let alerts: ActiveAlert[] = [];
    await waitFor(
      `${name} to fire`,
      async () => (alerts = await firing(name)).length > 0,
      timeoutMs,
      500,
    );
    return alerts;
  };
  const waitResolved = (name: string, timeoutMs = 90_000): Promise<void> =>
    waitFor(
      `${name} to resolve`,
      async () => !(await prometheus.alerts()).some((alert) => alert.labels.alertname === name),
      timeoutMs,
      500,
    );
  const value = async (expr: string): Promise<number | undefined> => {
    const [sample] = await prometheus.query(expr);
    return sample === undefined ? undefined : Number(sample.value[1]);
  };

  before(async () => {
    prometheusTool('promtool');
    infra = await startInfra();
    fixture = new PipelineFixture(infra);
    await fixture.setUp(PARTITIONS);
    const portA = await freePort();
    portB = await freePort();
    // B outlives a freeze of a minute without the group noticing: a hung replica that keeps
    // its partitions, the fault OffersNoProgress is for.
    replicaA = await ConsumerProcess.start(fixture.env(), { httpPort: portA });
    replicaB = await ConsumerProcess.start(fixture.env({ KAFKA_SESSION_TIMEOUT_MS: '90000' }), {
      httpPort: portB,
    });
    const rules = scaleRuleDurations(
      await readFile(join(MONITORING, 'rules.yaml'), 'utf8'),
      SPEED_UP,
      { OffersModelPredictionShift: SHIFT_SPEED_UP },
    );
    prometheus = await PrometheusProcess.start({
      dir: stateDir,
      targets: [`127.0.0.1:${portA}`, `127.0.0.1:${portB}`],
      job: JOB,
      labels: { namespace: NAMESPACE },
      rules,
      intervalSeconds: 1,
    });
    await Promise.all([replicaA.waitReady(), replicaB.waitReady()]);
    load = new CliProcess(
      ['send', '--count', '1000000', '--rate', String(LOAD_RATE), '--no-progress'],
      fixture.env(),
    );
    // Both replicas scraped, and commits seen on every partition within the last 10 s.
    await waitFor(
      'both replicas committing on every partition, as Prometheus sees it',
      async () =>
        (await value(`count(up{job="${JOB}"} == 1)`)) === 2 &&
        (await value(
          'count(max by (partition) (changes(offers_partition_committed_offset[10s])) > 0)',
        )) === PARTITIONS &&
        (await value('sum(rate(offers_end_to_end_latency_seconds_count[10s]))')) !== undefined,
      // Two consumers, a producer and Prometheus on two cores: under other load a minute was
      // seen not to be enough for the first commits on every partition.
      120_000,
      500,
    );
  });

  // Every step runs even when one before it fails (a process the before hook never started
  // throws): a consumer, Prometheus or a client left open keeps the test file's process alive.
  after(async () => {
    const steps: (() => unknown)[] = [
      () => {
        replicaB.signal('SIGCONT');
      },
      () => load.stop(),
      () => startService('redis'),
      () => Promise.all([replicaA.stop(), replicaB.stop()]),
      () => prometheus.stop(),
      () => fixture.tearDown(),
      () => rm(stateDir, { recursive: true, force: true }),
    ];
    const errors: unknown[] = [];
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'monitoring test clean-up failed');
  });

  it('the service exposes metrics promtool accepts', async () => {
    const text = await (await fetch(`http://127.0.0.1:${replicaA.httpPort}/metrics`)).text();
    assert.match(text, /^offers_consumer_lag\{/m, 'after load, with the offset gauges');
    assert.match(text, /^offers_end_to_end_latency_seconds_bucket\{/m);
    const promtool = spawn(prometheusTool('promtool'), ['check', 'metrics'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    promtool.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    promtool.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    promtool.stdin.end(text);
    const [code] = (await once(promtool, 'exit')) as [number | null];
    assert.equal(output, '', 'promtool check metrics has remarks');
    assert.equal(code, 0);
  });

  it('answers every dashboard query, with the template variables filled in, with data', async () => {
    const dashboard = JSON.parse(
      await readFile(join(MONITORING, 'dashboard.json'), 'utf8'),
    ) as Dashboard;
    assert.ok(
      (await prometheus.labelValues('namespace', 'offers_build_info')).includes(NAMESPACE),
      'the namespace variable lists the namespace',
    );
    assert.deepEqual(
      await prometheus.labelValues('job', `offers_build_info{namespace="${NAMESPACE}"}`),
      [JOB],
      'the job variable lists the job',
    );
    const empty: string[] = [];
    let queries = 0;
    for (const panel of dashboard.panels) {
      for (const { expr } of panel.targets ?? []) {
        // A comparison with a day before has nothing to compare with in a test's Prometheus.
        if (expr.includes('offset 1d')) continue;
        // The consumers here run without a shadow model: shadow-scoring.test.ts checks the
        // shadow panels' series on a consumer that runs one.
        if (expr.includes('offers_shadow_model_')) continue;
        const query = expr
          .replaceAll('$namespace', NAMESPACE)
          .replaceAll('$job', JOB)
          .replaceAll('$__rate_interval', RATE_INTERVAL);
        const samples = await prometheus.query(query);
        queries += 1;
        if (!samples.some((sample) => Number.isFinite(Number(sample.value[1])))) {
          empty.push(`${panel.title}: ${query} -> ${JSON.stringify(samples)}`);
        }
      }
    }
    assert.ok(queries >= 20, `only ${queries} queries`);
    assert.deepEqual(empty, [], 'queries without a finite value');
  });

  it('fires no alert while everything works', async () => {
    // The rules are evaluated every second, apart from the queries the set-up made: a start-up
    // transient from the evaluation before them (a partition whose first commit is its only
    // sample, so no change yet) may still be listed as pending. Steady state is what counts:
    // an alert still pending or firing after 30 s of evaluations is a real one.
    let active = await prometheus.alerts();
    await waitFor(
      'no alert pending or firing',
      async () => (active = await prometheus.alerts()).length === 0,
      30_000,
      500,
    ).catch(() => undefined);
    assert.deepEqual(active, []);
  });

  it("OffersModelPredictionShift stays quiet on the steady traffic, and fires while a stream of alike users moves one function's probability", async () => {
    // Right after the steady start: the day before (4 minutes on this clock) must hold the
    // steady load only, not the faults of the tests below.
    // The user the model scores furthest from the traffic's mean on one function, found by
    // scoring generated users with the real model.
    const random = seededRandom(23);
    const candidates: { message: Record<string, unknown>; registration: Registration }[] = [];
    for (let userId = 1; userId <= 400; userId += 1) {
      const message = randomRegistration(random, userId);
      const decoded = decodeRegistration(Buffer.from(encodeRegistration(message, 'bare')), 65_536);
      if (decoded.ok) candidates.push({ message, registration: decoded.registration });
    }
    const scorer = await loadScorer(MODEL_PATH, { workers: 0, intraOpThreads: 1 });
    const predictions = await scorer
      .score(candidates.map(({ registration }) => registration))
      .finally(() => scorer.close());
    const functions = Object.keys(predictions[0] ?? {})
      .filter((name) => name.startsWith('predicted_function_'))
      .map((name) => name.slice('predicted_function_'.length));
    let pick = { candidate: 0, fn: '', deviation: 0 };
    for (const fn of functions) {
      const key = `predicted_function_${fn}` as keyof (typeof predictions)[number];
      const mean = predictions.reduce((sum, row) => sum + row[key], 0) / predictions.length;
      predictions.forEach((row, candidate) => {
        if (Math.abs(row[key] - mean) > Math.abs(pick.deviation)) {
          pick = { candidate, fn, deviation: row[key] - mean };
        }
      });
    }
    assert.ok(Math.abs(pick.deviation) > 0.25, `largest deviation ${pick.deviation}`);

    // The rule's own comparison, on its clock: quiet on the steady traffic, with both windows
    // holding data.
    const mean = (fn: string, offset: string) =>
      `sum(rate(offers_model_function_probability_sum{function="${fn}"}[${SHIFT_WINDOW}]${offset})) / ` +
      `sum(rate(offers_model_function_probability_count{function="${fn}"}[${SHIFT_WINDOW}]${offset}))`;
    const shift = (fn: string) => `abs(${mean(fn, '')} - ${mean(fn, ` offset ${SHIFT_OFFSET}`)})`;
    await waitFor(
      `a day (${SHIFT_OFFSET}) of history`,
      // A window with no rows scored gives 0/0: wait for both to hold the load's.
      async () => Number.isFinite(await value(shift(pick.fn))),
      300_000,
      1_000,
    );
    for (const fn of functions) {
      const before = await value(shift(fn));
      assert.ok(before !== undefined && before < 0.1, `steady shift of ${fn}: ${before}`);
    }
    assert.deepEqual(
      (await prometheus.alerts()).filter(
        ({ labels }) => labels.alertname === 'OffersModelPredictionShift',
      ),
      [],
    );

    // About 400 a second of that user's copies on top of the load's 200.
    const kafka = new kafkajs.Kafka({
      brokers: infra.kafkaBrokers,
      logLevel: kafkajs.logLevel.NOTHING,
    });
    const producer = kafka.producer();
    await producer.connect();
    // The picked user's fields under new ids (its own id, user_id or id, left out).
    const { id: _id, user_id: _userId, ...fields } = candidates[pick.candidate]?.message ?? {};
    let userId = 7_000_000;
    const stop = new AbortController();
    const stream = (async () => {
      while (!stop.signal.aborted) {
        const messages = Array.from({ length: 40 }, () => {
          userId += 1;
          return {
            key: String(userId),
            value: encodeRegistration({ ...fields, user_id: userId }, 'bare'),
          };
        });
        await producer.send({ topic: fixture.topic, messages });
        await sleep(100);
      }
    })();
    try {
      const alerts = await waitFiring('OffersModelPredictionShift', 180_000).catch(
        async (error: unknown) => {
          const seen = await Promise.all(
            functions.map(async (fn) => `${fn} ${await value(shift(fn))}`),
          );
          const lag = await value('max(sum by (instance) (offers_consumer_lag))');
          throw new Error(
            `${String(error)}; shifts now: ${seen.join(', ')}; lag ${lag}; streamed ${userId - 7_000_000}`,
          );
        },
      );
      const alert = alerts.find(({ labels }) => labels.function === pick.fn);
      assert.ok(
        alert !== undefined,
        `no shift of ${pick.fn}; firing: ${alerts.map(({ labels }) => labels.function).join(', ')}`,
      );
      assert.equal(alert.labels.severity, 'warning');
      assert.ok(Number(alert.value) > 0.1, `shift ${alert.value}`);
    } finally {
      stop.abort();
      await stream;
      await producer.disconnect();
    }
    await waitResolved('OffersModelPredictionShift');
  });

  it('OffersModelInputDrift fires while registrations from a country the model never saw arrive, and resolves after', async () => {
    // 60 a second on top of the load's 200: 23 % of the rows have an unseen ip_country.
    const kafka = new kafkajs.Kafka({
      brokers: infra.kafkaBrokers,
      logLevel: kafkajs.logLevel.NOTHING,
    });
    const producer = kafka.producer();
    await producer.connect();
    const random = seededRandom(11);
    let userId = 5_000_000;
    const stop = new AbortController();
    const stream = (async () => {
      while (!stop.signal.aborted) {
        const messages = Array.from({ length: 6 }, () => {
          userId += 1;
          const registration = { ...randomRegistration(random, userId), ip_country: 'zz' };
          return { key: String(userId), value: encodeRegistration(registration, 'bare') };
        });
        await producer.send({ topic: fixture.topic, messages });
        await sleep(100);
      }
    })();
    try {
      const alerts = await waitFiring('OffersModelInputDrift', 150_000);
      assert.deepEqual(
        alerts.map(({ labels }) => [labels.field, labels.input, labels.job]),
        [['ip_country', 'unseen', JOB]],
      );
      const [alert] = alerts;
      assert.equal(alert?.labels.severity, 'warning');
      assert.ok(Number(alert.value) > 0.1, `share ${alert.value}`);
    } finally {
      stop.abort();
      await stream;
      await producer.disconnect();
    }
    await waitResolved('OffersModelInputDrift');
  });

  it('OffersSinkDown fires while Redis is down and resolves once it is back', async () => {
    await stopService('redis');
    try {
      const alerts = await waitFiring('OffersSinkDown');
      assert.ok(alerts.every((alert) => alert.labels.sink === 'redis'));
      assert.equal(alerts[0]?.labels.severity, 'critical');
    } finally {
      await startService('redis');
    }
    await waitResolved('OffersSinkDown');
  });

  it('OffersDeadLetterRateHigh fires while invalid messages arrive and resolves after', async () => {
    const invalid = new CliProcess(
      ['send', '--count', '0', '--invalid', '450', '--rate', '30', '--no-progress'],
      fixture.env(),
    );
    const [alert] = await waitFiring('OffersDeadLetterRateHigh');
    assert.equal(alert?.labels.job, JOB);
    assert.equal(alert.labels.namespace, NAMESPACE);
    assert.equal((await invalid.exited).code, 0);
    await waitResolved('OffersDeadLetterRateHigh');
  });

  it('OffersNoProgress and OffersConsumerLagGrowing fire while a replica hangs and resolve when it wakes', async () => {
    replicaB.signal('SIGSTOP');
    try {
      const stuck = await waitFiring('OffersNoProgress');
      const [lag] = await waitFiring('OffersConsumerLagGrowing');
      assert.ok(Number(lag?.value) > 1000, `lag ${lag?.value}`);
      // Only the hung replica's partitions: the other one keeps committing.
      assert.ok(stuck.length < PARTITIONS, `${stuck.length} partitions reported`);
    } finally {
      replicaB.signal('SIGCONT');
    }
    await waitResolved('OffersNoProgress');
    await waitResolved('OffersConsumerLagGrowing');
  });

  it('OffersCrashLooping fires when a replica restarts again and again, and resolves after', async () => {
    await replicaB.stop('SIGTERM');
    const instance = `127.0.0.1:${portB}`;
    // Each start is seen by Prometheus before the next crash (SIGKILL); the last one stays.
    // A short session lets the group drop each killed member within seconds.
    const starts = new Set<number>();
    for (let run = 1; run <= 4; run += 1) {
      const replica = await ConsumerProcess.start(
        fixture.env({ KAFKA_SESSION_TIMEOUT_MS: '6000', KAFKA_HEARTBEAT_INTERVAL_MS: '1000' }),
        { httpPort: portB },
      );
      let started = 0;
      await waitFor('the new process to serve /metrics', async () => {
        started = await replica.metric('process_start_time_seconds');
        return started > 0;
      });
      starts.add(started);
      await waitFor(
        'Prometheus to scrape the new process',
        async () => (await value(`process_start_time_seconds{instance="${instance}"}`)) === started,
        30_000,
        250,
      );
      if (run < 4) await replica.stop('SIGKILL');
      else replicaB = replica;
    }
    assert.equal(starts.size, 4, 'four processes, four start times');
    const [alert] = await waitFiring('OffersCrashLooping');
    assert.equal(alert?.labels.instance, instance);
    assert.ok(Number(alert.value) >= 3, `restarts ${alert.value}`);
    await waitResolved('OffersCrashLooping');
  });
});
