// The chart on a real single-node cluster (make test-cluster, scripts/cluster/test.sh): a real
// API server, kubelet, containerd, kube-proxy, CoreDNS and the KEDA operator with its metrics
// API server; Kafka, Redis and ClickHouse from scripts/infra behind Services. The chart and the
// image are the release that test.sh published to the cluster's registry (make release, make
// publish): the chart is installed from oci://, and containerd pulls the image by the digest the
// chart names. Runs inside the cluster's network namespace, in order: install (every pod runs
// the pushed digest) of the previous release, KEDA scaling on real lag with the group's members
// counted, a helm upgrade to this release under load (its schema change applied and recorded),
// helm test, an upgrade the migration refuses (the release keeps running), the scale-down, and
// the accounting of every message. Skipped nowhere: without the cluster's environment it fails.
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { Redis } from 'ioredis';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { parseDocument } from 'yaml';

import { DLQ_HEADERS } from '../../src/sinks/dead-letter.js';
import { withMetadataEntry } from '../support/model-file.js';

const run = promisify(execFile);

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this test through make test-cluster`);
  return value;
}

const REPO = path.resolve(import.meta.dirname, '../..');
const CHART = path.join(REPO, 'charts/realtime-offers');
const NAMESPACE = 'offers';
const RELEASE = 'offers';
const DEPLOYMENT = 'offers-realtime-offers';
const TOPIC = 'streaming-user-registration';
const DLQ_TOPIC = `${TOPIC}.dlq`;
const GROUP = 'realtime-offers';
// values-kind.yaml's autoscaling bounds.
const MIN_REPLICAS = 1;
const MAX_REPLICAS = 6;

const kubeEnv = { ...process.env, KUBECONFIG: env('CLUSTER_KUBECONFIG') };

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await run(env('CLUSTER_KUBECTL'), ['-n', NAMESPACE, ...args], {
    env: kubeEnv,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

async function helm(...args: string[]): Promise<string> {
  try {
    const { stdout } = await run(env('HELM'), [...args, '--namespace', NAMESPACE], {
      env: kubeEnv,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    throw new Error(`helm ${args[0]} failed:\n${stdout}\n${stderr}`, { cause: error });
  }
}

/**
 * values-kind.yaml without its `image` section, which names the image `make kind-up` loads onto
 * the node: here the release chart's own image (its registry repository and digest) stays.
 */
const valuesDir = mkdtempSync(path.join(tmpdir(), 'offers-cluster-values-'));
const KIND_VALUES = path.join(valuesDir, 'values-kind-platform.yaml');
{
  const values = parseDocument(readFileSync(path.join(CHART, 'values-kind.yaml'), 'utf8'));
  values.delete('image');
  writeFileSync(KIND_VALUES, values.toString());
}

/** The model in this release's image (the file in this tree), and the one rolled out after it. */
const MODEL_FILE = path.join(REPO, 'model/offer_model.onnx');
const NEXT_MODEL = { version: '99.0.0+rollout', sha256: '', configMap: 'offers-model-next' };

/** The previous release (installed first) and this one (upgraded to), as published. */
const PREVIOUS = {
  version: env('CLUSTER_PREVIOUS_CHART_VERSION'),
  image: env('CLUSTER_PREVIOUS_IMAGE'),
};
const CURRENT = { version: env('CLUSTER_CHART_VERSION'), image: env('CLUSTER_IMAGE') };
type Published = typeof CURRENT;

/** A release's chart from the cluster's registry (plain http), with the kind platform's values. */
function chartArgs(release: Published, ...extra: string[]): string[] {
  return [
    RELEASE,
    env('CLUSTER_CHART'),
    '--version',
    release.version,
    '--plain-http',
    '-f',
    KIND_VALUES,
    ...extra,
  ];
}

interface ConsumerPod {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec: { securityContext?: { runAsUser?: number }; containers: { image: string }[] };
  // containerd reports `image` as the image's config id when it was pulled by digest alone.
  status: { containerStatuses?: { ready: boolean; imageID: string }[] };
}

async function consumerPods(): Promise<ConsumerPod[]> {
  const list = JSON.parse(
    await kubectl('get', 'pods', '-l', 'app.kubernetes.io/component=consumer', '-o', 'json'),
  ) as { items: ConsumerPod[] };
  return list.items.filter((pod) => pod.metadata.deletionTimestamp === undefined);
}

/**
 * Every container of the pods runs the image the chart names, repository@digest, and the image
 * containerd pulled for it has that digest: the manifest make publish pushed.
 */
function assertPulledByDigest(pods: readonly ConsumerPod[], expected: string): void {
  const [repository, digest] = expected.split('@');
  assert.match(digest ?? '', /^sha256:[0-9a-f]{64}$/);
  for (const pod of pods) {
    for (const container of pod.spec.containers) {
      assert.equal(container.image, expected, `${pod.metadata.name}: the image the chart names`);
    }
    const statuses = pod.status.containerStatuses ?? [];
    assert.ok(statuses.length > 0, `${pod.metadata.name} has no container status`);
    for (const status of statuses) {
      const [pulledFrom, pulled] = status.imageID.split('@');
      console.log(
        `[digest] ${pod.metadata.name}: imageID ${status.imageID}; pushed ${digest ?? '?'}: ${pulled === digest ? 'equal' : 'DIFFERENT'}`,
      );
      assert.equal(pulled, digest, `${pod.metadata.name}: the digest containerd pulled`);
      assert.equal(pulledFrom, repository, `${pod.metadata.name}: the registry it was pulled from`);
    }
  }
}

interface DeploymentState {
  readonly replicas: number;
  readonly ready: number;
  readonly updated: number;
}

async function deployment(): Promise<DeploymentState> {
  const status = JSON.parse(await kubectl('get', 'deployment', DEPLOYMENT, '-o', 'json')) as {
    spec: { replicas?: number };
    status: { readyReplicas?: number; updatedReplicas?: number };
  };
  return {
    replicas: status.spec.replicas ?? 0,
    ready: status.status.readyReplicas ?? 0,
    updated: status.status.updatedReplicas ?? 0,
  };
}

interface Sample {
  readonly seconds: number;
  readonly phase: string;
  readonly lag: number;
  readonly replicas: number;
  readonly ready: number;
  readonly members: number;
  readonly hpaDesired: string;
}

let admin: Admin;
let clickhouse: ClickHouseClient;
let redis: Redis;
const timeline: Sample[] = [];
const started = Date.now();
let phase = 'idle';

async function groupLag(topic: string, group: string): Promise<number> {
  const [ends, committed] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId: group, topics: [topic] }),
  ]);
  const done = new Map(
    (committed[0]?.partitions ?? []).map(({ partition, offset }) => [partition, Number(offset)]),
  );
  return ends.reduce(
    (sum, { partition, high }) => sum + Number(high) - Math.max(0, done.get(partition) ?? -1),
    0,
  );
}

async function members(): Promise<number> {
  const { groups } = await admin.describeGroups([GROUP]);
  const group = groups[0];
  return group?.state === 'Stable' ? group.members.length : -(group?.members.length ?? 0);
}

/** The migrations table's record of the offers table, oldest first. */
async function migrations(): Promise<{ version: number; service_version: string }[]> {
  const result = await clickhouse.query({
    query:
      "SELECT version, service_version FROM default.realtime_offers_migrations WHERE table_name = 'personal_offer' ORDER BY applied_ms",
    format: 'JSONEachRow',
  });
  return result.json();
}

/** The offers table's columns, in order. */
async function columns(): Promise<string[]> {
  const result = await clickhouse.query({
    query: 'DESCRIBE TABLE default.personal_offer',
    format: 'JSONEachRow',
  });
  return (await result.json<{ name: string }>()).map((column) => column.name);
}

/** The revision helm last deployed (a failed upgrade adds a failed one after it). */
async function deployedRevision(): Promise<number> {
  const history = JSON.parse(await helm('history', RELEASE, '-o', 'json')) as {
    revision: number;
    status: string;
  }[];
  const deployed = history.filter((entry) => entry.status === 'deployed');
  assert.equal(deployed.length, 1, JSON.stringify(history));
  return deployed[0]?.revision ?? -1;
}

async function sample(): Promise<Sample> {
  const [lag, state, count, hpa] = await Promise.all([
    groupLag(TOPIC, GROUP),
    deployment(),
    members(),
    kubectl(
      'get',
      'hpa',
      `keda-hpa-${DEPLOYMENT}`,
      '-o',
      'jsonpath={.status.desiredReplicas}',
    ).catch(() => '?'),
  ]);
  const entry: Sample = {
    seconds: Math.round((Date.now() - started) / 1000),
    phase,
    lag,
    replicas: state.replicas,
    ready: state.ready,
    members: count,
    hpaDesired: hpa || '?',
  };
  timeline.push(entry);
  console.log(
    `[timeline] t=${String(entry.seconds).padStart(4)}s ${entry.phase.padEnd(10)} lag=${String(lag).padStart(7)} replicas=${entry.replicas} ready=${entry.ready} members=${count < 0 ? `${-count} (rebalancing)` : count} hpa=${entry.hpaDesired}`,
  );
  return entry;
}

/** Samples every 3 s until `done` holds for a sample, or fails after `seconds`. */
async function watch(
  what: string,
  seconds: number,
  done: (entry: Sample) => boolean | Promise<boolean>,
): Promise<Sample> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const entry = await sample();
    if (await done(entry)) return entry;
    if (Date.now() > deadline) assert.fail(`${what}: not reached within ${seconds} s`);
    await sleep(3000);
  }
}

/** Samples while `kubectl rollout status` follows the Deployment's generation: every pod new. */
async function rolledOut(what: string): Promise<void> {
  let done = false;
  const rollout = kubectl('rollout', 'status', `deployment/${DEPLOYMENT}`, '--timeout=420s');
  void rollout.then(
    () => (done = true),
    () => (done = true),
  );
  await watch(what, 450, () => done);
  await rollout;
}

/** The source position (`partition/offset`) of every dead letter in the DLQ, copies included. */
async function deadLetterPositions(): Promise<string[]> {
  const ends = await admin.fetchTopicOffsets(DLQ_TOPIC);
  const total = ends.reduce((sum, { high, low }) => sum + Number(high) - Number(low), 0);
  const consumer = new Kafka({
    brokers: env('KAFKA_BROKERS').split(','),
    logLevel: logLevel.NOTHING,
  }).consumer({
    groupId: `cluster-test-dlq-${process.pid}`,
  });
  const positions: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [DLQ_TOPIC], fromBeginning: true });
    let resolveAll: () => void = () => undefined;
    const all = new Promise<void>((resolve) => (resolveAll = resolve));
    await consumer.run({
      eachMessage: async ({ message }) => {
        const header = (name: string): string => {
          const value = message.headers?.[name];
          return String(Array.isArray(value) ? value.at(-1) : value);
        };
        positions.push(`${header(DLQ_HEADERS.partition)}/${header(DLQ_HEADERS.offset)}`);
        if (positions.length >= total) resolveAll();
        await Promise.resolve();
      },
    });
    if (total > 0) await Promise.race([all, sleep(120_000)]);
  } finally {
    await consumer.disconnect();
  }
  assert.equal(positions.length, total, 'dead letters read from the DLQ');
  return positions;
}

interface Producer {
  readonly valid: number;
  readonly invalid: number;
  readonly firstId: number;
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
}
const producers: Producer[] = [];

/** The project's own producer (`realtime-offers send`), against the cluster's Kafka. */
function produce(firstId: number, valid: number, invalid: number, rate: number): Producer {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'send',
      '--count',
      String(valid),
      '--invalid',
      String(invalid),
      '--first-id',
      String(firstId),
      '--rate',
      String(rate),
      '--seed',
      String(firstId),
      '--no-progress',
    ],
    { cwd: REPO, env: { ...process.env, KAFKA_TOPIC: TOPIC }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.on('data', (chunk: Buffer) =>
    process.stdout.write(`[producer] ${chunk.toString()}`),
  );
  child.stderr.on('data', (chunk: Buffer) =>
    process.stderr.write(`[producer] ${chunk.toString()}`),
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const producer = { valid, invalid, firstId, process: child, exited };
  producers.push(producer);
  return producer;
}

function running(producer: Producer): boolean {
  return producer.process.exitCode === null && producer.process.signalCode === null;
}

describe('the chart on a real cluster', { concurrency: false }, () => {
  before(async () => {
    admin = new Kafka({
      brokers: env('KAFKA_BROKERS').split(','),
      logLevel: logLevel.NOTHING,
    }).admin();
    await admin.connect();
    clickhouse = createClient({ url: env('CLICKHOUSE_URL') });
    redis = new Redis(env('REDIS_URL'), { password: env('CLUSTER_REDIS_PASSWORD') });
  });

  after(async () => {
    for (const producer of producers) if (running(producer)) producer.process.kill('SIGKILL');
    await admin.disconnect();
    await clickhouse.close();
    redis.disconnect();
    rmSync(valuesDir, { recursive: true, force: true });
    if (timeline.length > 0) {
      console.log(
        '\nscaling timeline (every 3 s; seconds since start, lag of the group, replicas, members):',
      );
      console.log(' t(s)  phase          lag replicas ready members hpa');
      for (const e of timeline) {
        console.log(
          `${String(e.seconds).padStart(5)}  ${e.phase.padEnd(10)} ${String(e.lag).padStart(8)} ${String(e.replicas).padStart(8)} ${String(e.ready).padStart(5)} ${(e.members < 0 ? `${-e.members}, rebalancing` : String(e.members)).padStart(7)} ${e.hpaDesired.padStart(4)}`,
        );
      }
    }
  });

  it('refuses a pod that breaks Pod Security "restricted" in the namespace', async () => {
    const labels = await kubectl(
      'get',
      'namespace',
      NAMESPACE,
      '-o',
      'jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}',
    );
    assert.equal(labels, 'restricted');
    await assert.rejects(
      kubectl(
        'run',
        'root-probe',
        '--image=realtime-offers:none',
        '--dry-run=server',
        '--restart=Never',
      ),
      /violates PodSecurity "restricted/,
    );
  });

  it('installs the previous release from the registry: migrate hook, pods Ready under "restricted", its image pulled by digest', async () => {
    phase = 'install';
    try {
      await helm('upgrade', '--install', ...chartArgs(PREVIOUS, '--wait', '--timeout', '300s'));
    } catch (error) {
      // A pod the namespace's policy refuses never exists: the ReplicaSet says why.
      const events = await kubectl('get', 'events', '--sort-by=.lastTimestamp').catch(() => '');
      throw new Error(`${(error as Error).message}\nevents:\n${events}`, { cause: error });
    }
    const state = await deployment();
    assert.equal(state.replicas, MIN_REPLICAS);
    assert.equal(state.ready, MIN_REPLICAS);
    const pods = await consumerPods();
    assert.equal(pods.length, MIN_REPLICAS);
    for (const pod of pods) {
      assert.equal(pod.spec.securityContext?.runAsUser, 65532);
      assert.ok(pod.status.containerStatuses?.every((c) => c.ready));
    }
    assertPulledByDigest(pods, PREVIOUS.image);
    // The previous release's migrate hook created the table and recorded its schema version.
    assert.deepEqual(await migrations(), [{ version: 1, service_version: PREVIOUS.version }]);
    assert.ok(!(await columns()).includes('model_sha256'));
  });

  it('KEDA scales the consumers up on real lag, each replica a member of the group', async () => {
    phase = 'scale-up';
    // KEDA reads the lag before it creates the HPA: Ready means it reached Kafka.
    const readyCondition = () =>
      kubectl(
        'get',
        'scaledobject',
        DEPLOYMENT,
        '-o',
        'jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}',
      );
    const deadline = Date.now() + 120_000;
    let condition = await readyCondition();
    while (!condition.startsWith('True') && Date.now() < deadline) {
      await sleep(2000);
      condition = await readyCondition();
    }
    assert.match(condition, /^True/, `the ScaledObject is not Ready: ${condition}`);
    // A burst that makes lag at once, and a steady producer that runs through the upgrade.
    produce(1_000_000, 200_000, 200, 0);
    produce(2_000_000, 150_000, 150, 500);
    let scaledTo = 0;
    await watch('replicas > 1 with one group member per ready replica', 300, (e) => {
      if (e.replicas > MIN_REPLICAS && e.ready === e.replicas && e.members === e.ready) {
        scaledTo = Math.max(scaledTo, e.ready);
      }
      return scaledTo >= 3 || (scaledTo > MIN_REPLICAS && e.lag < 2000);
    });
    assert.ok(scaledTo > MIN_REPLICAS && scaledTo <= MAX_REPLICAS, `scaled to ${scaledTo}`);
  });

  it('helm upgrade to this release under load: its schema change applied and recorded beside the previous one, every pod rolled', async () => {
    phase = 'upgrade';
    const steady = producers[1];
    assert.ok(steady && running(steady), 'the steady producer has stopped before the upgrade');
    const before = await deployment();
    await helm('upgrade', ...chartArgs(CURRENT));
    await rolledOut('the rollout');
    await watch('one group member per ready replica', 120, (e) => e.members === e.ready);
    const pods = await consumerPods();
    assert.ok(pods.length >= MIN_REPLICAS);
    assertPulledByDigest(pods, CURRENT.image);
    console.log(`[upgrade] rolled ${before.replicas} replica(s); now ${pods.length}`);
    assert.ok(running(steady), 'the upgrade was not under load: the producer finished first');
    // The pre-upgrade hook added the release's column and recorded schema version 2.
    const columnList = await columns();
    assert.equal(columnList[columnList.indexOf('model_version') + 1], 'model_sha256');
    assert.deepEqual(await migrations(), [
      { version: 1, service_version: PREVIOUS.version },
      { version: 2, service_version: CURRENT.version },
    ]);
    console.log(
      `[upgrade] ${PREVIOUS.version} -> ${CURRENT.version}: schema 1 -> 2, column model_sha256 added`,
    );
  });

  it('helm test: one registration in through Kafka, its offer out of Redis', async () => {
    phase = 'helm-test';
    const output = await helm('test', RELEASE, '--timeout', '180s');
    assert.match(output, /Phase:\s+Succeeded/);
  });

  it('an upgrade the migration refuses (clickhouse.cluster over the single-server table) fails with the reason; the release keeps running', async () => {
    phase = 'refused';
    // KEDA may add or remove pods meanwhile; a rollout would start pods of another template.
    const templates = async () => [
      ...new Set((await consumerPods()).map((pod) => pod.metadata.labels?.['pod-template-hash'])),
    ];
    const templateBefore = await templates();
    assert.equal(templateBefore.length, 1, `one pod template before: ${templateBefore.join()}`);
    const revisionBefore = await deployedRevision();
    const during = produce(3_000_000, 10_000, 10, 500);
    await assert.rejects(
      helm(
        'upgrade',
        ...chartArgs(CURRENT, '--set', 'clickhouse.cluster=single_node', '--timeout', '180s'),
      ),
      /pre-upgrade hooks failed/,
    );
    const log = await kubectl('logs', `job/${DEPLOYMENT}-migrate`);
    console.log(`[refused] the hook's log:\n${log.trim()}`);
    assert.match(
      log,
      /default\.personal_offer is a ReplacingMergeTree\(version\), but the settings ask for a Distributed\('single_node'/,
    );
    assert.match(log, /nothing was changed/);
    // The Deployment was never touched: pods of the same template, Ready, in the group, still
    // consuming.
    assert.equal(await deployedRevision(), revisionBefore);
    assert.deepEqual(await templates(), templateBefore, 'the pod template changed');
    await watch(
      'the pods Ready and in the group',
      60,
      (e) => e.ready === e.replicas && e.members === e.ready,
    );
    assert.ok(running(during), 'the refused upgrade was not under load');
    assert.deepEqual((await migrations()).length, 2, 'the refused run recorded nothing');
  });

  it('a new model rolled out by helm upgrade under load (model.source configMap, model.sha256): every row scored after it names that model', async () => {
    phase = 'model';
    // A retrained model, as delivery sees it: another file, digest and version.
    const file = path.join(valuesDir, 'offer_model.onnx');
    writeFileSync(
      file,
      withMetadataEntry(readFileSync(MODEL_FILE), 'model_version', NEXT_MODEL.version),
    );
    NEXT_MODEL.sha256 = createHash('sha256').update(readFileSync(file)).digest('hex');
    await kubectl(
      'create',
      'configmap',
      NEXT_MODEL.configMap,
      `--from-file=offer_model.onnx=${file}`,
    );
    const during = produce(4_000_000, 30_000, 30, 500);
    await helm(
      'upgrade',
      ...chartArgs(
        CURRENT,
        '--set',
        'model.source=configMap',
        '--set',
        `model.configMap.name=${NEXT_MODEL.configMap}`,
        '--set',
        `model.sha256=${NEXT_MODEL.sha256}`,
      ),
    );
    await rolledOut('the model rollout');
    assert.ok(running(during), 'the model rollout was not under load: the producer finished first');
    await watch('one group member per ready replica', 120, (e) => e.members === e.ready);
    // Each new pod checks the new model's digest at start.
    for (const pod of await consumerPods()) {
      const consumer = JSON.stringify(pod.spec.containers[0]);
      assert.ok(
        consumer.includes(NEXT_MODEL.sha256),
        `${pod.metadata.name} runs without MODEL_SHA256`,
      );
    }
    // Registrations sent once every pod runs the new model.
    produce(5_000_000, 5_000, 5, 1000);
    console.log(
      `[model] rolled out ${NEXT_MODEL.version} (${NEXT_MODEL.sha256}) from ConfigMap ${NEXT_MODEL.configMap}`,
    );
  });

  it('scales back to the minimum once the lag has drained', async () => {
    phase = 'drain';
    await watch('the producers to finish', 600, () => producers.every((p) => !running(p)));
    for (const producer of producers) assert.equal(await producer.exited, 0, 'a producer failed');
    await watch('lag 0', 600, (e) => e.lag === 0);
    phase = 'scale-down';
    await watch(`${MIN_REPLICAS} replica, one member`, 600, (e) => {
      return e.replicas === MIN_REPLICAS && e.ready === MIN_REPLICAS && e.members === MIN_REPLICAS;
    });
    assert.ok(
      timeline.some((e) => e.replicas > MIN_REPLICAS),
      'never scaled above the minimum',
    );
  });

  it('lost nothing: every valid message once in ClickHouse (FINAL) and Redis, every invalid one in the DLQ', async () => {
    phase = 'account';
    assert.equal(
      producers.length,
      5,
      'the scaling, upgrade and model tests did not produce their messages',
    );
    const rows: string[][] = [];
    let validTotal = 0;
    let invalidTotal = 0;
    for (const producer of producers) {
      const first = producer.firstId;
      const last = first + producer.valid - 1;
      const result = await clickhouse.query({
        query: `SELECT
                  (SELECT count() FROM default.personal_offer WHERE user_id BETWEEN ${first} AND ${last}) AS raw,
                  (SELECT count() FROM default.personal_offer FINAL WHERE user_id BETWEEN ${first} AND ${last}) AS final,
                  (SELECT uniqExact(user_id) FROM default.personal_offer WHERE user_id BETWEEN ${first} AND ${last}) AS users`,
        format: 'JSONEachRow',
      });
      const [counts] = await result.json<{ raw: string; final: string; users: string }>();
      let inRedis = 0;
      for (let id = first; id <= last; id += 5000) {
        const pipeline = redis.pipeline();
        for (let key = id; key <= Math.min(last, id + 4999); key += 1) pipeline.exists(String(key));
        for (const [error, exists] of (await pipeline.exec()) ?? []) {
          if (error) throw error;
          inRedis += Number(exists);
        }
      }
      rows.push([
        `${first}..${last}`,
        String(producer.valid),
        counts?.final ?? '?',
        counts?.raw ?? '?',
        String(inRedis),
        String(producer.invalid),
      ]);
      assert.equal(
        Number(counts?.final),
        producer.valid,
        `ClickHouse FINAL rows for ${first}..${last}`,
      );
      assert.equal(Number(counts?.users), producer.valid, `distinct users for ${first}..${last}`);
      assert.equal(inRedis, producer.valid, `Redis keys for ${first}..${last}`);
      validTotal += producer.valid;
      invalidTotal += producer.invalid;
    }
    // Dead letters are at least once: a batch redelivered after a rebalance (every rollout here
    // makes some) writes its dead letters again. Each invalid message counts once, by the source
    // position its headers name.
    const letters = await deadLetterPositions();
    const dlq = new Set(letters).size;
    const lag = await groupLag(TOPIC, GROUP);
    console.log('\naccounting:');
    console.log(
      ' user ids            sent valid  ClickHouse FINAL  ClickHouse raw  Redis keys  sent invalid',
    );
    for (const row of rows) {
      console.log(
        ` ${row[0]?.padEnd(19)} ${row[1]?.padStart(10)}  ${row[2]?.padStart(16)}  ${row[3]?.padStart(14)}  ${row[4]?.padStart(10)}  ${row[5]?.padStart(12)}`,
      );
    }
    console.log(
      ` total valid ${validTotal}, invalid sent ${invalidTotal}, in the DLQ ${dlq} (${letters.length - dlq} redelivered copies), group lag ${lag}`,
    );
    // Which model scored each row: before the upgrade no digest (0.1.0 had none); then the
    // model in this release's image; after the model rollout the new one. The refused upgrade's
    // messages (3,000,000..) all came after the upgrade, those sent once the rollout was done
    // (5,000,000..) after it.
    const imageModel = createHash('sha256').update(readFileSync(MODEL_FILE)).digest('hex');
    const byModel = await clickhouse.query({
      query: `SELECT model_sha256, model_version, count() AS rows, min(user_id) AS first_user, max(user_id) AS last_user, countIf(user_id BETWEEN 3000000 AND 3999999) AS refused_phase, countIf(user_id >= 5000000) AS after_rollout FROM default.personal_offer FINAL WHERE user_id >= 1000000 GROUP BY model_sha256, model_version ORDER BY min(user_id)`,
      format: 'JSONEachRow',
    });
    const models = await byModel.json<{
      model_sha256: string;
      model_version: string;
      rows: string;
      first_user: string;
      last_user: string;
      refused_phase: string;
      after_rollout: string;
    }>();
    console.log(' rows by model (FINAL):');
    for (const m of models) {
      console.log(
        `  ${(m.model_sha256 || "'' (0.1.0)").padEnd(64)}  ${m.model_version.padEnd(20)} ${m.rows.padStart(7)} rows, users ${m.first_user}..${m.last_user}`,
      );
    }
    assert.deepEqual(
      models.map((m) => m.model_sha256),
      ['', imageModel, NEXT_MODEL.sha256],
      "rows of 0.1.0 without a digest, then the image's model, then the rolled-out one",
    );
    assert.equal(models[2]?.model_version, NEXT_MODEL.version);
    assert.equal(
      Number(models[0]?.refused_phase),
      0,
      'a row scored after the upgrade has no digest',
    );
    assert.equal(Number(models[1]?.refused_phase), 10_000, 'the refused upgrade changed the model');
    assert.equal(
      Number(models[2].after_rollout),
      5_000,
      'rows scored after the rollout by another model',
    );
    assert.ok(validTotal > 0 && invalidTotal > 0);
    assert.equal(dlq, invalidTotal, 'dead-letter messages');
    assert.equal(lag, 0, 'group lag');
  });
});
