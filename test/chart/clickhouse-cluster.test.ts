import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { parse } from 'yaml';

import { crdValidator } from './crds.js';
import {
  at,
  CHART,
  containers,
  only,
  readManifests,
  render,
  REPO,
  resolvedEnv,
  type Manifest,
} from './support.js';
import { validateChiTemplates } from './validate.js';

/** ClickHouse cluster mode: the chart's values and the production example in k8s/production/. */
const PRODUCTION = path.join(REPO, 'k8s/production');
const EXAMPLE: Manifest[] = readdirSync(PRODUCTION)
  .filter((file) => file.endsWith('.yaml'))
  .flatMap((file) => readManifests(path.join(PRODUCTION, file)));
const KIND_CHI = readManifests(path.join(REPO, 'k8s/clickhouse.yaml'));
const CLUSTER_VALUES_FILES = ['values-production-example.yaml', 'values-clickhouse-cluster.yaml'];
const clusterValues = parse(
  readFileSync(path.join(CHART, 'values-clickhouse-cluster.yaml'), 'utf8'),
) as Record<string, unknown>;

const validateAltinity = crdValidator('altinity-0.27.1');

function env(manifests: Manifest[], kind: 'Deployment' | 'Job'): Record<string, string> {
  const [container] = containers(only(manifests, kind));
  assert.ok(container, `${kind} has a container`);
  return resolvedEnv(container);
}

describe('ClickHouse cluster mode', () => {
  it('the production example and the kind installation validate against the Altinity 0.27.1 CRDs', () => {
    assert.deepEqual(
      EXAMPLE.map((manifest) => manifest.kind),
      ['ClickHouseKeeperInstallation', 'ClickHouseInstallation'],
    );
    for (const manifest of [...EXAMPLE, ...KIND_CHI]) {
      assert.deepEqual(
        validateAltinity(manifest),
        [],
        `${manifest.kind}/${manifest.metadata.name}`,
      );
      assert.deepEqual(validateChiTemplates(manifest, manifest.metadata.name), []);
    }
  });

  it('the CRD check refuses a misspelt field, a wrong type and a value outside an enum', () => {
    const chi = only(EXAMPLE, 'ClickHouseInstallation');
    const broken = (change: (copy: Manifest) => void): Manifest => {
      const copy = structuredClone(chi);
      change(copy);
      return copy;
    };
    const layout = (copy: Manifest) =>
      at(copy, 'spec', 'configuration', 'clusters', 0, 'layout') as Record<string, unknown>;
    for (const [what, manifest] of [
      ['shardCount', broken((copy) => (layout(copy).shardCount = 2))],
      ['replicasCount', broken((copy) => (layout(copy).replicasCount = 'two'))],
      [
        'podDistribution',
        broken(
          (copy) =>
            ((
              at(copy, 'spec', 'templates', 'podTemplates', 0, 'podDistribution', 0) as {
                type: string;
              }
            ).type = 'SomewhereElse'),
        ),
      ],
    ] as const) {
      const errors = validateAltinity(manifest);
      assert.ok(errors.length > 0, `accepted a broken ${what}`);
    }
  });

  it('runs 2 shards x 2 replicas, coordinated by a 3-node Keeper that the installation points at', () => {
    const chi = only(EXAMPLE, 'ClickHouseInstallation');
    const keeper = only(EXAMPLE, 'ClickHouseKeeperInstallation');
    assert.deepEqual(at(chi, 'spec', 'configuration', 'clusters', 0, 'layout'), {
      shardsCount: 2,
      replicasCount: 2,
    });
    assert.equal(at(keeper, 'spec', 'configuration', 'clusters', 0, 'layout', 'replicasCount'), 3);
    // The operator names the Keeper's client Service keeper-<name>.
    assert.deepEqual(at(chi, 'spec', 'configuration', 'zookeeper', 'nodes'), [
      {
        host: `keeper-${keeper.metadata.name}`,
        port: Number(at(keeper, 'spec', 'configuration', 'settings', 'keeper_server/tcp_port')),
      },
    ]);
  });

  it("values-clickhouse-cluster.yaml names the installation's cluster, Service, Secret and pods", () => {
    const chi = only(EXAMPLE, 'ClickHouseInstallation');
    const clickhouse = clusterValues.clickhouse as Record<string, string>;
    assert.equal(clickhouse.cluster, at(chi, 'spec', 'configuration', 'clusters', 0, 'name'));
    const serviceName = String(
      at(chi, 'spec', 'templates', 'serviceTemplates', 0, 'generateName'),
    ).replace('{chi}', chi.metadata.name);
    assert.equal(new URL(clickhouse.url ?? '').hostname, serviceName);
    assert.equal(
      at(chi, 'spec', 'configuration', 'users', `${clickhouse.user}/k8s_secret_password`),
      `${clickhouse.existingSecret}/${clickhouse.existingSecretPasswordKey}`,
    );
    assert.deepEqual(
      at(clusterValues, 'networkPolicy', 'clickhouse', 'to', 0, 'podSelector', 'matchLabels'),
      { 'clickhouse.altinity.com/chi': chi.metadata.name },
    );
  });

  it('maps clickhouse.cluster and clickhouse.ttlDays onto the consumer and the migration Job', () => {
    const manifests = render(CLUSTER_VALUES_FILES);
    for (const kind of ['Deployment', 'Job'] as const) {
      const variables = env(manifests, kind);
      assert.equal(variables.CLICKHOUSE_CLUSTER, 'offers', kind);
      assert.equal(variables.CLICKHOUSE_TTL_DAYS, '180', kind);
      assert.equal(variables.CLICKHOUSE_TABLE, 'personal_offer', kind);
      assert.equal(variables.CLICKHOUSE_URL, 'http://clickhouse-offers:8123', kind);
    }
    for (const kind of ['Deployment', 'Job'] as const) {
      const defaults = env(render([]), kind);
      assert.equal(defaults.CLICKHOUSE_CLUSTER, '', `${kind}: one server by default`);
      assert.equal(defaults.CLICKHOUSE_TTL_DAYS, '0', `${kind}: no TTL by default`);
    }
  });

  it('lets egress reach only the installation: the ClickHouse rule selects its pods on 8123', () => {
    const policy = only(render(CLUSTER_VALUES_FILES), 'NetworkPolicy');
    const egress = at(policy, 'spec', 'egress') as { to?: unknown[]; ports?: { port: number }[] }[];
    const rule = egress.find((candidate) => candidate.ports?.some((port) => port.port === 8123));
    assert.deepEqual(rule?.to, [
      { podSelector: { matchLabels: { 'clickhouse.altinity.com/chi': 'offers' } } },
    ]);
  });
});
