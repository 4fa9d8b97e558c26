import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';

import type { V1Deployment } from '@kubernetes/client-node';

import {
  describeMetrics,
  hpaNameFor,
  reduceClusterStatus,
  scalingEvents,
  type ClusterSnapshot,
  type DeploymentLike,
  type HorizontalPodAutoscalerLike,
  type PodLike,
  type ScaledObjectLike,
} from '../src/kubernetes/cluster-status.js';
import {
  jobName,
  labelSelector,
  loadTestImage,
  loadTestJob,
  pickDeployment,
} from '../src/kubernetes/job.js';
import { parseQuantity } from '../src/kubernetes/quantity.js';

async function fixture<T>(name: string): Promise<T> {
  const url = new URL(`fixtures/${name}`, import.meta.url);
  return JSON.parse(await readFile(url, 'utf8')) as T;
}

const AT = Date.parse('2026-11-24T10:14:06Z');

describe('parseQuantity', () => {
  it('reads plain, decimal-suffixed, binary-suffixed and exponent quantities', () => {
    assert.equal(parseQuantity('1500'), 1500);
    assert.equal(parseQuantity('5k'), 5000);
    assert.equal(parseQuantity('2500m'), 2.5);
    assert.equal(parseQuantity('7250500m'), 7250.5);
    assert.equal(parseQuantity('1.5Gi'), 1.5 * 2 ** 30);
    assert.equal(parseQuantity('2e3'), 2000);
    assert.equal(parseQuantity('0'), 0);
    assert.equal(parseQuantity(42), 42);
  });

  it('answers undefined for anything else', () => {
    assert.equal(parseQuantity('five'), undefined);
    assert.equal(parseQuantity('5 k'), undefined);
    assert.equal(parseQuantity(''), undefined);
    assert.equal(parseQuantity(undefined), undefined);
    assert.equal(parseQuantity(null), undefined);
  });
});

describe('reduceClusterStatus (recorded API objects)', () => {
  it('flattens the Deployment, KEDA HPA, ScaledObject and pods into one sample', async () => {
    const sample = reduceClusterStatus({
      atMs: AT,
      deployment: await fixture<DeploymentLike>('deployment.json'),
      hpa: await fixture<HorizontalPodAutoscalerLike>('hpa.json'),
      scaledObject: await fixture<ScaledObjectLike>('scaledobject.json'),
      pods: (await fixture<{ items: PodLike[] }>('pods.json')).items,
    });
    assert.equal(sample.atMs, AT);
    assert.equal(sample.specReplicas, 3);
    assert.equal(sample.replicas, 3);
    assert.equal(sample.readyReplicas, 2);
    assert.equal(sample.availableReplicas, 2);
    assert.deepEqual(sample.hpa, {
      name: 'keda-hpa-realtime-offers',
      currentReplicas: 2,
      desiredReplicas: 3,
      minReplicas: 1,
      maxReplicas: 6,
      metrics: [{ name: 's0-kafka-streaming-user-registration', current: 7250.5, target: 5000 }],
      scalingLimited: false,
    });
    assert.deepEqual(sample.scaledObject, {
      name: 'realtime-offers',
      ready: true,
      active: true,
      fallback: false,
      paused: false,
      hpaName: 'keda-hpa-realtime-offers',
    });
    assert.deepEqual(
      sample.pods.map((pod) => [pod.name, pod.phase, pod.ready, pod.restarts, pod.terminating]),
      [
        ['realtime-offers-7c9d8f6b5d-4xk2p', 'Running', true, 0, false],
        ['realtime-offers-7c9d8f6b5d-9tq7m', 'Running', true, 1, false],
        ['realtime-offers-7c9d8f6b5d-zb8wd', 'Running', false, 0, false],
      ],
    );
    assert.equal(sample.pods[2]?.createdAtMs, Date.parse('2026-11-24T10:14:05Z'));
    assert.equal(sample.podsReady, 2);
    assert.equal(describeMetrics(sample), 's0-kafka-streaming-user-registration 7.3k/5k');
  });

  it('accepts the client library’s objects, whose timestamps are Dates', () => {
    const sample = reduceClusterStatus({
      atMs: AT,
      pods: [
        {
          metadata: {
            name: 'p',
            creationTimestamp: new Date('2026-11-24T10:14:05Z'),
            deletionTimestamp: new Date('2026-11-24T10:15:00Z'),
          },
          status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
        },
      ],
    });
    assert.equal(sample.pods[0]?.createdAtMs, Date.parse('2026-11-24T10:14:05Z'));
    assert.equal(sample.pods[0].terminating, true);
    // A terminating pod no longer counts as serving.
    assert.equal(sample.podsReady, 0);
  });

  it('keeps going when objects are missing (no KEDA, HPA not created yet) and reports why', () => {
    const sample = reduceClusterStatus({ atMs: AT, errors: ['scaledobject: not found'] });
    assert.equal(sample.hpa, null);
    assert.equal(sample.scaledObject, null);
    assert.equal(sample.specReplicas, null);
    assert.equal(sample.replicas, 0);
    assert.deepEqual(sample.pods, []);
    assert.deepEqual(sample.errors, ['scaledobject: not found']);
  });

  it('shows a metric the HPA cannot read yet with its target and no value', () => {
    const sample = reduceClusterStatus({
      atMs: AT,
      hpa: {
        spec: {
          metrics: [
            {
              type: 'External',
              external: { metric: { name: 's0-kafka-t' }, target: { averageValue: '1k' } },
            },
          ],
        },
        status: { currentMetrics: null, currentReplicas: 1, desiredReplicas: 1 },
      },
    });
    assert.deepEqual(sample.hpa?.metrics, [{ name: 's0-kafka-t', current: null, target: 1000 }]);
  });

  it('finds KEDA’s HPA by the ScaledObject’s status, else by KEDA’s naming rule', async () => {
    assert.equal(
      hpaNameFor('realtime-offers', await fixture<ScaledObjectLike>('scaledobject.json')),
      'keda-hpa-realtime-offers',
    );
    assert.equal(hpaNameFor('offers'), 'keda-hpa-offers');
    assert.equal(hpaNameFor('offers', { status: { hpaName: 'custom' } }), 'custom');
  });
});

describe('scalingEvents (a recorded scale-up and scale-down)', () => {
  interface Reading {
    at: string;
    deployment: DeploymentLike;
    hpa: HorizontalPodAutoscalerLike;
    scaledObject: ScaledObjectLike;
    pods: PodLike[];
  }

  async function samples() {
    const { readings } = await fixture<{ readings: Reading[] }>('scaling-sequence.json');
    return readings.map(({ at, ...objects }) =>
      reduceClusterStatus({ atMs: Date.parse(at), ...objects } satisfies ClusterSnapshot),
    );
  }

  it('lists KEDA activating, the HPA adding replicas, pods getting ready, and the way back', async () => {
    const start = Date.parse('2026-11-24T10:14:00Z');
    const events = scalingEvents(await samples()).map((event) => ({
      ...event,
      atMs: (event.atMs - start) / 1000,
    }));
    assert.deepEqual(events, [
      { atMs: 5, kind: 'active', to: true },
      {
        atMs: 15,
        kind: 'desired',
        from: 1,
        to: 3,
        metrics: 's0-kafka-streaming-user-registration 14.5k/5k',
      },
      { atMs: 19, kind: 'ready', from: 1, to: 3 },
      { atMs: 19, kind: 'pod-ready', pod: 'realtime-offers-7c9d8f6b5d-9tq7m', seconds: 4 },
      { atMs: 19, kind: 'pod-ready', pod: 'realtime-offers-7c9d8f6b5d-zb8wd', seconds: 4 },
      { atMs: 60, kind: 'active', to: false },
      {
        atMs: 121,
        kind: 'desired',
        from: 3,
        to: 1,
        metrics: 's0-kafka-streaming-user-registration 0/5k',
      },
      { atMs: 121, kind: 'ready', from: 3, to: 1 },
      { atMs: 128, kind: 'pod-gone', pod: 'realtime-offers-7c9d8f6b5d-9tq7m' },
      { atMs: 128, kind: 'pod-gone', pod: 'realtime-offers-7c9d8f6b5d-zb8wd' },
    ]);
  });

  it('counts only serving pods while scaled-down pods terminate', async () => {
    const all = await samples();
    assert.deepEqual(
      all.map((sample) => [sample.specReplicas, sample.podsReady]),
      [
        [1, 1],
        [1, 1],
        [3, 1],
        [3, 3],
        [3, 3],
        [1, 1],
        [1, 1],
      ],
    );
  });

  it('reports no pod-ready events for pods that were ready before the run', async () => {
    const [first] = await samples();
    assert.ok(first);
    assert.deepEqual(scalingEvents([first, { ...first, atMs: first.atMs + 1000 }]), []);
  });
});

describe('loadTestJob', () => {
  const options = {
    name: 'realtime-offers-load-test-20261124-101400',
    namespace: 'offers',
    args: ['--mode', 'generate', '--rate', '20000'],
    activeDeadlineSeconds: 900,
    ttlSecondsAfterFinished: 3600,
    cpuRequest: '500m',
    memoryRequest: '256Mi',
    memoryLimit: '512Mi',
  };

  it('runs the load test’s image of the Deployment’s version with its environment, security context and volumes', async () => {
    const deployment = await fixture<V1Deployment>('deployment.json');
    const job = loadTestJob(deployment, options);
    const pod = job.spec.template.spec;
    const container = pod.containers[0];
    const source = deployment.spec?.template.spec?.containers[0];
    assert.ok(container && source);
    assert.equal(source.image, 'realtime-offers:0.1.0');
    assert.equal(container.image, 'realtime-offers-loadtest:0.1.0');
    assert.equal(container.imagePullPolicy, 'IfNotPresent');
    // No command: the image's entrypoint is the compiled load test.
    assert.equal('command' in container, false);
    assert.deepEqual(container.args, ['--mode', 'generate', '--rate', '20000']);
    assert.deepEqual(container.env, source.env);
    assert.deepEqual(container.envFrom, source.envFrom);
    assert.deepEqual(container.securityContext, source.securityContext);
    assert.deepEqual(container.volumeMounts, [{ name: 'tmp', mountPath: '/tmp' }]);
    assert.deepEqual(pod.volumes, deployment.spec?.template.spec?.volumes);
    assert.deepEqual(pod.securityContext, deployment.spec?.template.spec?.securityContext);
    assert.deepEqual(pod.imagePullSecrets, [{ name: 'registry-credentials' }]);
    assert.deepEqual(container.resources, {
      requests: { cpu: '500m', memory: '256Mi' },
      limits: { memory: '512Mi' },
    });
    assert.equal(pod.restartPolicy, 'Never');
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(job.spec.backoffLimit, 0);
    assert.equal(job.spec.activeDeadlineSeconds, 900);
    assert.equal(job.metadata.namespace, 'offers');
  });

  it('does not carry the Deployment’s pod labels, so its Service never selects the generator', async () => {
    const deployment = await fixture<V1Deployment>('deployment.json');
    const job = loadTestJob(deployment, options);
    const podLabels = job.spec.template.metadata.labels;
    const selector = deployment.spec?.selector.matchLabels ?? {};
    const matches = Object.entries(selector).every(([key, value]) => podLabels[key] === value);
    assert.equal(matches, false);
    assert.equal(podLabels['app.kubernetes.io/component'], 'load-test');
    assert.equal(podLabels['app.kubernetes.io/part-of'], 'offers');
  });

  it('takes another image, command and a named container when asked', async () => {
    const deployment = await fixture<V1Deployment>('deployment.json');
    const job = loadTestJob(deployment, {
      ...options,
      image: 'realtime-offers-loadtest:dev',
      command: ['node', 'dist/tools/loadtest/src/main.js'],
      containerName: 'realtime-offers',
    });
    const container = job.spec.template.spec.containers[0];
    assert.ok(container);
    assert.equal(container.image, 'realtime-offers-loadtest:dev');
    assert.deepEqual(container.command, ['node', 'dist/tools/loadtest/src/main.js']);
    assert.throws(
      () => loadTestJob(deployment, { ...options, containerName: 'sidecar' }),
      /no container named sidecar/,
    );
  });

  it('names the load test’s image after the service’s: same registry and tag', () => {
    assert.equal(loadTestImage('realtime-offers:dev'), 'realtime-offers-loadtest:dev');
    assert.equal(loadTestImage('realtime-offers'), 'realtime-offers-loadtest');
    assert.equal(
      loadTestImage('registry.example.com:5000/team/realtime-offers:1.2.0'),
      'registry.example.com:5000/team/realtime-offers-loadtest:1.2.0',
    );
    assert.equal(
      loadTestImage('localhost:5000/realtime-offers'),
      'localhost:5000/realtime-offers-loadtest',
    );
    assert.throws(
      () => loadTestImage('realtime-offers@sha256:0123abcd'),
      /pinned by digest; pass --image/,
    );
  });

  it('builds label selectors and DNS-safe unique names', () => {
    assert.equal(
      labelSelector({
        'app.kubernetes.io/name': 'realtime-offers',
        'app.kubernetes.io/instance': 'offers',
      }),
      'app.kubernetes.io/name=realtime-offers,app.kubernetes.io/instance=offers',
    );
    assert.equal(labelSelector(undefined), '');
    const name = jobName('realtime-offers-load-test', Date.parse('2026-11-24T10:14:00.123Z'));
    assert.equal(name, 'realtime-offers-load-test-20261124101400');
    assert.match(name, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    assert.ok(jobName('x'.repeat(80), 0).length <= 63);
  });

  it('sets extra variables over the Deployment’s, e.g. a producer’s credentials', async () => {
    const deployment = await fixture<V1Deployment>('deployment.json');
    const job = loadTestJob(deployment, {
      ...options,
      extraEnv: { KAFKA_CLIENT_ID: 'load-test', CLICKHOUSE_USER: 'reader' },
    });
    const env = job.spec.template.spec.containers[0]?.env ?? [];
    const names = env.map((entry) => entry.name);
    assert.equal(names.filter((name) => name === 'CLICKHOUSE_USER').length, 1);
    assert.deepEqual(env.at(-1), { name: 'CLICKHOUSE_USER', value: 'reader' });
    assert.ok(names.includes('KAFKA_CLIENT_ID'));
    assert.ok(names.includes('CLICKHOUSE_PASSWORD'));
  });
});

describe('pickDeployment', () => {
  const one = { metadata: { name: 'offers-realtime-offers', namespace: 'offers' } };
  const two = { metadata: { name: 'other-realtime-offers', namespace: 'staging' } };

  it('takes the only consumer Deployment, or the one named', () => {
    assert.equal(pickDeployment([one], undefined), one);
    assert.equal(pickDeployment([one, two], 'other-realtime-offers'), two);
  });

  it('refuses to guess between several, and says what it found', () => {
    assert.throws(
      () => pickDeployment([one, two], undefined),
      /several Deployments match \(offers\/offers-realtime-offers, staging\/other-realtime-offers\)/,
    );
    assert.throws(
      () => pickDeployment([], undefined),
      /no realtime-offers consumer Deployment found/,
    );
    assert.throws(() => pickDeployment([one], 'x'), /no Deployment x found \(found: offers\//);
  });
});
