import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { stringify } from 'yaml';

import { loadTestImage } from '../../tools/loadtest/src/kubernetes/job.js';
import { prometheusTool } from '../support/prometheus.js';
import {
  all,
  at,
  containers,
  only,
  podSpec,
  render,
  REPO,
  template,
  VALUES_FILES,
  type Manifest,
} from './support.js';
import { validateManifest } from './validate.js';

/**
 * The places where users adapt the chart without forking it (as they do with Bitnami's, KEDA's
 * and Strimzi's charts): annotations on every object, the image registry, extra containers
 * and objects, the start-up window, the hook Job's and test pod's scheduling and environment,
 * ServiceMonitor/PodMonitor options, tunable alerts, and the KEDA API check.
 */

const valuesDir = mkdtempSync(path.join(tmpdir(), 'offers-values-'));
after(() => {
  rmSync(valuesDir, { recursive: true, force: true });
});
let valuesFiles = 0;

/** A values file with `values` (for what --set cannot say: templates, YAML text, PromQL). */
function valuesFile(values: Record<string, unknown>): string {
  valuesFiles += 1;
  const file = path.join(valuesDir, `values-${valuesFiles}.yaml`);
  writeFileSync(file, stringify(values));
  return file;
}

const annotations = (manifest: Manifest): Record<string, string> =>
  (manifest.metadata as { annotations?: Record<string, string> }).annotations ?? {};

/** Every optional object switched on, so that each template is rendered. */
const EVERYTHING = [
  'podDisruptionBudget.enabled=true',
  'serviceMonitor.enabled=true',
  'monitoring.prometheusRule.enabled=true',
  'monitoring.grafanaDashboard.enabled=true',
  'strimzi.topics.enabled=true',
  'strimzi.user.enabled=true',
  'kafka.sasl.enabled=true',
];

const hookPods = (manifests: readonly Manifest[]): Manifest[] => [
  only(manifests, 'Job'),
  only(manifests, 'Pod'),
];

describe('chart: adaptation points', () => {
  it('commonAnnotations reach every object; hook and keep annotations stay', () => {
    for (const { name, files } of VALUES_FILES) {
      const manifests = render(files, [...EVERYTHING, 'commonAnnotations.owner=data-team']);
      assert.ok(manifests.length >= 12, `${name}: ${manifests.length} objects`);
      for (const manifest of manifests) {
        assert.equal(
          annotations(manifest).owner,
          'data-team',
          `${name}: ${manifest.kind}/${manifest.metadata.name}`,
        );
      }
      assert.equal(annotations(only(manifests, 'Job'))['helm.sh/hook'], 'pre-install,pre-upgrade');
      assert.equal(annotations(only(manifests, 'Pod'))['helm.sh/hook'], 'test');
      for (const topic of all(manifests, 'KafkaTopic')) {
        assert.equal(annotations(topic)['helm.sh/resource-policy'], 'keep');
      }
    }
    // Without them, objects carry no empty annotations map.
    assert.equal(
      (only(render([]), 'Deployment').metadata as { annotations?: unknown }).annotations,
      undefined,
    );
  });

  it('image.registry and global.imageRegistry prefix the image; the load test derives its own from it', () => {
    const images = (sets: readonly string[]) =>
      [only(render([], sets), 'Deployment'), ...hookPods(render([], sets))].map(
        (manifest) => containers(manifest)[0]?.image,
      );
    const registry = images(['image.registry=registry.example.com/data', 'image.tag=0.2.0']);
    assert.deepEqual(registry, Array(3).fill('registry.example.com/data/realtime-offers:0.2.0'));
    const global = images([
      'image.registry=registry.example.com/data',
      'global.imageRegistry=mirror.example.com:5000',
      'image.tag=0.2.0',
    ]);
    assert.deepEqual(global, Array(3).fill('mirror.example.com:5000/realtime-offers:0.2.0'));
    assert.equal(
      loadTestImage(global[0] ?? ''),
      'mirror.example.com:5000/realtime-offers-loadtest:0.2.0',
    );
    assert.deepEqual(images([]), Array(3).fill('realtime-offers:0.2.0'));
  });

  it('initContainers, sidecars and extraObjects are rendered, templated', () => {
    const manifests = render([
      valuesFile({
        initContainers: [
          { name: 'wait', image: 'busybox:1.37', args: ['{{ .Release.Name }}-init'] },
        ],
        sidecars: [{ name: 'shipper', image: 'fluent-bit:4.0' }],
        extraObjects: [
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: '{{ .Release.Name }}-extra' } },
          'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-from-text\n',
        ],
      }),
    ]);
    const spec = podSpec(only(manifests, 'Deployment'));
    assert.deepEqual(at(spec, 'initContainers', 0, 'args'), ['offers-init']);
    assert.deepEqual(
      (spec.containers as { name: string }[]).map((container) => container.name),
      ['consumer', 'shipper'],
    );
    assert.deepEqual(
      all(manifests, 'ConfigMap').map((configMap) => configMap.metadata.name),
      ['offers-extra', 'offers-from-text'],
    );
    assert.deepEqual(manifests.flatMap(validateManifest), []);
  });

  it('a startup probe on /healthz, and a start-up window the probes must fit', () => {
    const [consumer] = containers(only(render([]), 'Deployment'));
    assert.deepEqual(at(consumer, 'startupProbe'), {
      httpGet: { path: '/healthz', port: 'http' },
      initialDelaySeconds: 0,
      periodSeconds: 5,
      timeoutSeconds: 3,
      failureThreshold: 12,
    });
    const [without] = containers(only(render([], ['startupProbe.enabled=false']), 'Deployment'));
    assert.equal(at(without, 'startupProbe'), undefined);

    const tooLong = template([], ['startupTimeoutMs=120000']);
    assert.notEqual(tooLong.status, 0);
    assert.match(
      tooLong.stderr,
      /startupTimeoutMs \(120000 ms\) plus 10 s does not fit the startup probe's window \(initialDelaySeconds 0 \+ periodSeconds 5 x failureThreshold 12 = 60 s\): the kubelet would restart the pod before the service can exit naming the store it waited for\. Raise startupProbe\.failureThreshold to at least 26, or lower startupTimeoutMs/,
    );
    assert.equal(
      template([], ['startupTimeoutMs=120000', 'startupProbe.failureThreshold=26']).status,
      0,
    );
    // Without a startup probe the liveness probe's window (10 + 10 x 6 = 70 s) must fit.
    assert.equal(template([], ['startupProbe.enabled=false']).status, 0);
    const liveness = template([], ['startupProbe.enabled=false', 'startupTimeoutMs=65000']);
    assert.notEqual(liveness.status, 0);
    assert.match(
      liveness.stderr,
      /does not fit the liveness probe's window \(70 s\) and startupProbe\.enabled is false/,
    );
  });

  it("the migration Job and the helm test get the pods' scheduling fields, environment and volumes", () => {
    const manifests = render(
      [],
      [
        'nodeSelector.pool=streaming',
        'tolerations[0].key=dedicated',
        'tolerations[0].operator=Equal',
        'tolerations[0].value=streaming',
        'tolerations[0].effect=NoSchedule',
        'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool',
        'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists',
        'priorityClassName=streaming-high',
        'extraEnv[0].name=HTTPS_PROXY',
        'extraEnv[0].value=http://proxy:3128',
        'extraEnvFrom[0].secretRef.name=offers-env',
        'extraVolumes[0].name=ca',
        'extraVolumes[0].configMap.name=corporate-ca',
        'extraVolumeMounts[0].name=ca',
        'extraVolumeMounts[0].mountPath=/etc/ssl/corporate',
      ],
    );
    const deployment = podSpec(only(manifests, 'Deployment'));
    for (const manifest of hookPods(manifests)) {
      const spec = podSpec(manifest);
      const where = `${manifest.kind}/${manifest.metadata.name}`;
      for (const field of ['nodeSelector', 'tolerations', 'affinity', 'priorityClassName']) {
        assert.deepEqual(spec[field], deployment[field], `${where}: ${field}`);
      }
      const [container] = containers(manifest);
      assert.ok(container, where);
      assert.ok(
        container.env?.some((v) => v.name === 'HTTPS_PROXY'),
        where,
      );
      assert.deepEqual(at(container, 'envFrom'), [{ secretRef: { name: 'offers-env' } }], where);
      assert.ok(
        container.volumeMounts?.some((m) => m.mountPath === '/etc/ssl/corporate'),
        where,
      );
      assert.ok(
        (spec.volumes as { name: string }[]).some((v) => v.name === 'ca'),
        where,
      );
      assert.deepEqual(validateManifest(manifest), []);
    }
  });

  it('ServiceMonitor relabelings and namespace; a PodMonitor instead; not both', () => {
    const relabel = [
      'relabelings[0].sourceLabels[0]=__meta_kubernetes_pod_node_name',
      'relabelings[0].targetLabel=node',
      'metricRelabelings[0].sourceLabels[0]=__name__',
      'metricRelabelings[0].regex=nodejs_gc_.*',
      'metricRelabelings[0].action=drop',
      'namespace=monitoring',
    ];
    for (const kind of ['ServiceMonitor', 'PodMonitor'] as const) {
      const key = kind === 'ServiceMonitor' ? 'serviceMonitor' : 'podMonitor';
      const monitor = only(
        render([], [`${key}.enabled=true`, ...relabel.map((set) => `${key}.${set}`)]),
        kind,
      );
      assert.deepEqual(validateManifest(monitor), []);
      assert.equal(monitor.metadata.namespace, 'monitoring');
      const endpoint = at(
        monitor,
        'spec',
        kind === 'ServiceMonitor' ? 'endpoints' : 'podMetricsEndpoints',
        0,
      );
      assert.equal(at(endpoint, 'relabelings', 0, 'targetLabel'), 'node');
      assert.equal(at(endpoint, 'metricRelabelings', 0, 'action'), 'drop');
      assert.deepEqual(at(monitor, 'spec', 'namespaceSelector', 'matchNames'), ['offers']);
    }
    const both = template([], ['serviceMonitor.enabled=true', 'podMonitor.enabled=true']);
    assert.notEqual(both.status, 0);
    assert.match(
      both.stderr,
      /serviceMonitor\.enabled and podMonitor\.enabled both scrape the same pods/,
    );
  });

  it('refuses autoscaling on a cluster without the KEDA API, naming it; renders with it', () => {
    const cluster = ['--api-versions', 'apiregistration.k8s.io/v1'];
    const refused = template([], [], cluster);
    assert.notEqual(refused.status, 0);
    assert.match(
      refused.stderr,
      /autoscaling\.enabled needs KEDA, but this cluster does not serve its API \(keda\.sh\/v1alpha1, kind ScaledObject\): install KEDA 2\.x first/,
    );
    assert.equal(template([], [], [...cluster, '--api-versions', 'keda.sh/v1alpha1']).status, 0);
    assert.equal(template([], ['autoscaling.enabled=false'], cluster).status, 0);
    // Client-side rendering cannot see the cluster: helm template and helm lint render.
    assert.equal(template([]).status, 0);
  });
});

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const ruleGroups = (
  sets: readonly string[],
  files: readonly string[] = [],
): { name: string; rules: Rule[] }[] =>
  at(
    only(render(files, ['monitoring.prometheusRule.enabled=true', ...sets]), 'PrometheusRule'),
    'spec',
    'groups',
  ) as { name: string; rules: Rule[] }[];

const rule = (groups: readonly { rules: Rule[] }[], name: string): Rule | undefined =>
  groups.flatMap((group) => group.rules).find((r) => r.alert === name);

describe('chart: tunable alerts', () => {
  it("every alert's runbook_url is an anchor of the README's runbooks", () => {
    const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
    const anchors = new Set(
      [...readme.matchAll(/^#+ (.+)$/gm)].map((m) =>
        (m[1] ?? '')
          .toLowerCase()
          .replace(/[^a-z0-9 _-]/g, '')
          .replace(/ /g, '-'),
      ),
    );
    const rules = ruleGroups([]).flatMap((group) => group.rules);
    assert.ok(rules.length >= 5);
    for (const { alert, annotations: notes } of rules) {
      const url = notes?.runbook_url ?? '';
      assert.match(url, /^README\.md#[a-z]+$/, `${alert}`);
      assert.ok(
        anchors.has(url.slice('README.md#'.length)),
        `${alert}: no README heading for ${url}`,
      );
    }
    const absolute = ruleGroups([
      'monitoring.prometheusRule.runbookBaseUrl=https://git.example.com/data/realtime-offers/blob/v0.2.0/README.md',
    ]);
    assert.equal(
      rule(absolute, 'OffersSinkDown')?.annotations?.runbook_url,
      'https://git.example.com/data/realtime-offers/blob/v0.2.0/README.md#offerssinkdown',
    );
  });

  it('thresholds, for, labels and enabled change only the alert they name, and promtool accepts the result', () => {
    const prefix = 'monitoring.prometheusRule';
    const groups = ruleGroups(
      [
        `${prefix}.alerts.OffersDeadLetterRateHigh.thresholds.ratio=0.05`,
        `${prefix}.alerts.OffersDeadLetterRateHigh.thresholds.perSecond=2`,
        `${prefix}.alerts.OffersConsumerLagGrowing.thresholds.lag=250000`,
        `${prefix}.alerts.OffersConsumerLagGrowing.for=30m`,
        `${prefix}.alerts.OffersCrashLooping.thresholds.restarts=5`,
        `${prefix}.alerts.OffersModelInputDrift.thresholds.unseenRatio=0.25`,
        `${prefix}.alerts.OffersModelInputDrift.thresholds.missingRatio=0.5`,
        `${prefix}.alerts.OffersModelInputDrift.thresholds.rowsPerSecond=20`,
        `${prefix}.alerts.OffersModelPredictionShift.thresholds.meanShift=0.15`,
        `${prefix}.alerts.OffersModelPredictionShift.for=2h`,
        `${prefix}.alerts.OffersSinkDown.labels.severity=warning`,
        `${prefix}.alerts.OffersNoProgress.enabled=false`,
        `${prefix}.alertLabels.team=data`,
      ],
      [
        valuesFile({
          monitoring: {
            prometheusRule: {
              additionalRules: [
                {
                  alert: 'OffersTooFewReplicas',
                  expr: 'count(up{job="realtime-offers"} == 1) < 2',
                  for: '10m',
                },
              ],
            },
          },
        }),
      ],
    );
    const deadLetters = rule(groups, 'OffersDeadLetterRateHigh');
    assert.match(deadLetters?.expr ?? '', /\) > 0\.05 # threshold: ratio\n/);
    assert.match(deadLetters?.expr ?? '', /> 2 # threshold: perSecond$/);
    const lag = rule(groups, 'OffersConsumerLagGrowing');
    assert.match(lag?.expr ?? '', /> 250000 # threshold: lag\n/);
    assert.equal(lag?.for, '30m');
    assert.match(rule(groups, 'OffersCrashLooping')?.expr ?? '', />= 5 # threshold: restarts/);
    const drift = rule(groups, 'OffersModelInputDrift');
    assert.match(drift?.expr ?? '', /\) > 0\.25 # threshold: unseenRatio\n/);
    assert.match(drift?.expr ?? '', /\) > 0\.5 # threshold: missingRatio\n/);
    assert.match(drift?.expr ?? '', /> 20 # threshold: rowsPerSecond$/);
    assert.equal(drift?.for, '15m');
    const shift = rule(groups, 'OffersModelPredictionShift');
    assert.match(shift?.expr ?? '', /\) > 0\.15 # threshold: meanShift$/);
    assert.equal(shift?.for, '2h');
    assert.equal(rule(groups, 'OffersSinkDown')?.labels?.severity, 'warning');
    assert.equal(rule(groups, 'OffersCrashLooping')?.labels?.severity, 'critical');
    assert.equal(rule(groups, 'OffersCrashLooping')?.labels?.team, 'data');
    assert.equal(rule(groups, 'OffersNoProgress'), undefined);
    assert.deepEqual(
      groups.map((group) => group.name),
      ['realtime-offers', 'offers-realtime-offers-additional'],
    );

    const dir = mkdtempSync(path.join(tmpdir(), 'offers-rules-'));
    try {
      const file = path.join(dir, 'rules.json');
      writeFileSync(file, JSON.stringify({ groups }));
      const checked = spawnSync(prometheusTool('promtool'), ['check', 'rules', file], {
        encoding: 'utf8',
      });
      assert.equal(checked.status, 0, checked.stdout + checked.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a threshold or an alert the rules do not have', () => {
    for (const set of [
      'monitoring.prometheusRule.alerts.OffersSinkDown.thresholds.lag=1',
      'monitoring.prometheusRule.alerts.OffersUnknown.enabled=false',
      'monitoring.prometheusRule.alerts.OffersConsumerLagGrowing.thresholds.ratio=1',
      'monitoring.prometheusRule.alerts.OffersSinkDown.for=soon',
      'monitoring.prometheusRule.alerts.OffersModelPredictionShift.thresholds.ratio=1',
      'monitoring.prometheusRule.alerts.OffersModelInputDrift.for=later',
    ]) {
      const result = template([], ['monitoring.prometheusRule.enabled=true', set]);
      assert.notEqual(result.status, 0, set);
      assert.match(result.stderr, /alerts|for/, set);
    }
  });
});
