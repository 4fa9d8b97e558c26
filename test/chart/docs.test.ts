import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { parse } from 'yaml';

import {
  all,
  CHART,
  containers,
  helm,
  KUBE_VERSION,
  lint,
  only,
  readEnvFile,
  render,
  REPO,
  template,
  WORKLOAD_KINDS,
  type Manifest,
} from './support.js';
import {
  describeSchema,
  README,
  renderReadme,
  SCHEMA,
  schemaNode,
  type SchemaNode,
  valueDescriptions,
} from './values-docs.js';

/** The chart's documentation and metadata: README, schema descriptions, Chart.yaml. */
const chartYaml = parse(readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8')) as {
  kubeVersion: string;
  appVersion: string;
  annotations: Record<string, string>;
};
const values = parse(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')) as Record<
  string,
  unknown
>;
const schema = JSON.parse(readFileSync(SCHEMA, 'utf8')) as SchemaNode;

/** Differences between the keys of values.yaml and the properties of the schema. */
function keyMismatches(value: unknown, node: SchemaNode, prefix: string): string[] {
  if (node.properties === undefined || typeof value !== 'object' || value === null) return [];
  const object = value as Record<string, unknown>;
  const mismatches = [
    ...Object.keys(object)
      .filter((key) => node.properties?.[key] === undefined)
      .map((key) => `values.yaml has ${prefix}${key}, the schema does not`),
    ...Object.keys(node.properties)
      .filter((key) => !(key in object))
      .map((key) => `the schema has ${prefix}${key}, values.yaml does not`),
  ];
  return [
    ...mismatches,
    ...Object.entries(node.properties).flatMap(([key, child]) =>
      keyMismatches(object[key], child, `${prefix}${key}.`),
    ),
  ];
}

describe('chart: documentation', () => {
  it('README.md is what `make chart-docs` generates from values.yaml', () => {
    const generated = renderReadme();
    assert.match(generated, /\| kafka\.brokers \| string \|/);
    assert.ok(
      readFileSync(README, 'utf8') === generated,
      'charts/realtime-offers/README.md is stale: run make chart-docs',
    );
  });

  it('every schema property has the description of its values.yaml comment', () => {
    const described = describeSchema(readFileSync(SCHEMA, 'utf8'), valueDescriptions());
    assert.deepEqual(described.problems, []);
    assert.ok(
      readFileSync(SCHEMA, 'utf8') === described.text,
      'values.schema.json descriptions are stale: run make chart-docs',
    );
    assert.match(schemaNode(schema, 'kafka.sasl.mechanism')?.description ?? '', /SASL/);
  });

  it('describeSchema reports a value without a comment and a documented value the schema lacks', () => {
    const { problems } = describeSchema(JSON.stringify(schema), [
      ...valueDescriptions().filter(({ key }) => key !== 'kafka.topic'),
      { key: 'kafka.topics', description: 'a typo' },
    ]);
    assert.deepEqual(problems, [
      'values.yaml has kafka.topics, values.schema.json does not',
      'kafka.topic has no description: write a "# --" comment above it in values.yaml, then run make chart-docs',
    ]);
  });

  it('values.yaml and values.schema.json declare the same keys', () => {
    assert.deepEqual(keyMismatches(values, schema, ''), []);
    assert.deepEqual(keyMismatches({ ...values, extra: 1 }, schema, ''), [
      'values.yaml has extra, the schema does not',
    ]);
  });
});

describe('chart: Chart.yaml', () => {
  const kindNode = /:(v[0-9.]+)@/.exec(
    readEnvFile(path.join(REPO, 'scripts/kind/versions.env')).KIND_NODE_IMAGE ?? '',
  )?.[1];

  it("admits the kind node's and make test-cluster's Kubernetes, refuses an older one", () => {
    assert.equal(kindNode, KUBE_VERSION, 'the kind node and test-cluster run one version');
    assert.equal(chartYaml.kubeVersion, '>=1.29.0-0');
    for (const version of [KUBE_VERSION ?? '', 'v1.29.0', 'v1.31.2-eks-7f9249a']) {
      const result = helm(['template', 'offers', '.', '--kube-version', version]);
      assert.equal(result.status, 0, `${version}: ${result.stderr}`);
    }
    const old = helm(['template', 'offers', '.', '--kube-version', 'v1.28.15']);
    assert.notEqual(old.status, 0);
    assert.match(old.stderr, /requires kubeVersion: >=1\.29\.0-0 which is incompatible/);
  });

  it('the pinned helm renders and lints without --kube-version, as its release binaries do', () => {
    const rendered = helm(['template', 'offers', '.']);
    assert.equal(rendered.status, 0, rendered.stderr);
    const linted = helm(['lint', '--strict', '.']);
    assert.equal(linted.status, 0, linted.stdout + linted.stderr);
  });

  it('carries the Artifact Hub annotations: license, category, links (a release adds images and changes)', () => {
    const packageJson = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
      license: string;
    };
    const annotations = chartYaml.annotations;
    assert.equal(annotations['artifacthub.io/license'], packageJson.license);
    assert.equal(annotations['artifacthub.io/category'], 'streaming-messaging');
    const links = parse(annotations['artifacthub.io/links'] ?? '') as {
      name: string;
      url: string;
    }[];
    assert.ok(links.length > 0);
    for (const link of links) assert.match(link.url, /^https:\/\//, link.name);
    // An image name without a digest would name an image no registry holds (release.test.ts).
    assert.equal(annotations['artifacthub.io/images'], undefined);
    assert.equal(annotations['artifacthub.io/changes'], undefined);
  });
});

/** Everything the chart can render, at once. */
const EVERYTHING = [
  'strimzi.topics.enabled=true',
  'strimzi.user.enabled=true',
  'podDisruptionBudget.enabled=true',
  'serviceMonitor.enabled=true',
  'commonLabels.team=data-platform',
  'commonLabels.cost-centre=cc-42',
];

describe('chart: commonLabels and extraEnvFrom', () => {
  it('puts commonLabels on every object the chart renders and on its pods', () => {
    const manifests = render(['values-production-example.yaml'], EVERYTHING);
    const kinds = new Set(manifests.map((manifest) => manifest.kind));
    for (const kind of [
      'Deployment',
      'Service',
      'ServiceAccount',
      'NetworkPolicy',
      'ScaledObject',
      'TriggerAuthentication',
      'Job',
      'Pod',
      'KafkaTopic',
      'KafkaUser',
      'PodDisruptionBudget',
      'ServiceMonitor',
    ]) {
      assert.ok(kinds.has(kind), `no ${kind} rendered`);
    }
    const labelled = (labels: Record<string, string> | undefined, what: string) => {
      assert.equal(labels?.team, 'data-platform', what);
      assert.equal(labels['cost-centre'], 'cc-42', what);
    };
    for (const manifest of manifests) {
      labelled(manifest.metadata.labels, `${manifest.kind}/${manifest.metadata.name}`);
      if (WORKLOAD_KINDS.has(manifest.kind) && manifest.kind !== 'Pod') {
        const pod = (manifest.spec as { template: Manifest }).template;
        labelled(pod.metadata.labels, `pods of ${manifest.kind}/${manifest.metadata.name}`);
      }
    }
    // The Deployment still selects its pods by the chart's labels only.
    const selector = (only(manifests, 'Deployment').spec as { selector: { matchLabels: object } })
      .selector.matchLabels;
    assert.ok(!('team' in selector));
  });

  it("refuses commonLabels that would replace the chart's labels, and a label also in podLabels", () => {
    const own = template([], ['commonLabels.app\\.kubernetes\\.io/name=other']);
    assert.notEqual(own.status, 0);
    assert.match(own.stderr, /app\.kubernetes\.io\/name/);
    const both = template([], ['commonLabels.team=a', 'podLabels.team=b']);
    assert.notEqual(both.status, 0);
    assert.match(both.stderr, /podLabels and commonLabels both set the label team/);
    assert.notEqual(lint([], ['commonLabels.team=not a label value']).status, 0);
  });

  it('adds extraEnvFrom to the consumer and the migration Job, nowhere by default', () => {
    const sources = [
      'extraEnvFrom[0].secretRef.name=offers-env',
      'extraEnvFrom[1].configMapRef.name=offers-config',
      'extraEnvFrom[1].prefix=OFFERS_',
    ];
    const manifests = render([], sources);
    const expected = [
      { secretRef: { name: 'offers-env' } },
      { configMapRef: { name: 'offers-config' }, prefix: 'OFFERS_' },
    ];
    for (const kind of ['Deployment', 'Job']) {
      const [container] = containers(only(manifests, kind)) as { envFrom?: unknown }[];
      assert.deepEqual(container?.envFrom, expected, kind);
    }
    for (const manifest of all(render([]), 'Deployment').concat(all(render([]), 'Job'))) {
      const [container] = containers(manifest) as { envFrom?: unknown }[];
      assert.equal(container?.envFrom, undefined);
    }
    assert.notEqual(
      template([], ['extraEnvFrom[0].name=x']).status,
      0,
      'an EnvVar is not an EnvFromSource',
    );
  });
});
