import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { EXIT_TRY_AGAIN } from '../../src/cli/migrate.js';
import {
  all,
  at,
  containers,
  lint,
  only,
  podSpec,
  render,
  VALUES_FILES,
  WORKLOAD_KINDS,
  type Manifest,
} from './support.js';
import { validateManifest } from './validate.js';

const RENDERED = new Map<string, Manifest[]>(
  VALUES_FILES.map(({ name, files }) => [name, render(files)]),
);

function rendered(name: string): Manifest[] {
  const manifests = RENDERED.get(name);
  assert.ok(manifests, `no rendering for ${name}`);
  return manifests;
}

describe('chart: lint and render', () => {
  for (const { name, files } of VALUES_FILES) {
    it(`helm lint --strict passes with ${name} values`, () => {
      const result = lint(files);
      assert.equal(result.status, 0, result.stdout + result.stderr);
    });

    it(`every object rendered with ${name} values validates against its schema`, () => {
      const manifests = rendered(name);
      assert.ok(manifests.length >= 6, `only ${manifests.length} objects rendered`);
      assert.deepEqual(manifests.flatMap(validateManifest), []);
    });
  }

  it('renders the objects each values file asks for', () => {
    const kinds = (name: string) => new Set(rendered(name).map((manifest) => manifest.kind));
    for (const name of ['default', 'kind', 'production example']) {
      for (const kind of [
        'Deployment',
        'Service',
        'ServiceAccount',
        'NetworkPolicy',
        'ScaledObject',
        'Job',
        'Pod',
      ]) {
        assert.ok(kinds(name).has(kind), `${name}: no ${kind}`);
      }
    }
    assert.ok(!kinds('default').has('PodDisruptionBudget'), 'a PDB only when asked');
    assert.ok(!kinds('default').has('ServiceMonitor'));
    assert.ok(!kinds('default').has('KafkaTopic'));
    assert.ok(kinds('kind').has('PodDisruptionBudget'));
    assert.equal(all(rendered('kind'), 'KafkaTopic').length, 2);
    assert.equal(all(rendered('kind'), 'KafkaUser').length, 2);
    assert.ok(kinds('production example').has('ServiceMonitor'));
    assert.ok(kinds('production example').has('TriggerAuthentication'));
    assert.ok(
      !kinds('default').has('TriggerAuthentication'),
      'no credentials, no TriggerAuthentication',
    );
  });

  it('runs the migration as a pre-install/pre-upgrade hook with only the ClickHouse variables', () => {
    for (const { name } of VALUES_FILES) {
      const job = only(rendered(name), 'Job');
      const annotations = job.metadata as { annotations?: Record<string, string> };
      assert.equal(annotations.annotations?.['helm.sh/hook'], 'pre-install,pre-upgrade');
      const [migrate] = containers(job);
      assert.deepEqual(migrate?.args, ['migrate']);
      const names = (migrate.env ?? []).map((variable) => variable.name);
      assert.ok(
        names.every((variable) => variable.startsWith('CLICKHOUSE_')),
        names.join(),
      );
    }
  });

  it("fails the migration Job at once on a refusal; retries only migrate's try-again exit", () => {
    const job = only(rendered('default'), 'Job');
    const spec = job.spec as {
      backoffLimit?: number;
      podFailurePolicy?: {
        rules: {
          action: string;
          onExitCodes?: { containerName: string; operator: string; values: number[] };
        }[];
      };
      template: { spec: { restartPolicy?: string } };
    };
    assert.equal(spec.template.spec.restartPolicy, 'Never', 'podFailurePolicy needs Never');
    const [failJob] = spec.podFailurePolicy?.rules ?? [];
    assert.deepEqual(failJob, {
      action: 'FailJob',
      onExitCodes: { containerName: 'migrate', operator: 'NotIn', values: [EXIT_TRY_AGAIN] },
    });
    assert.equal(spec.backoffLimit, 6);
  });

  it('has a helm test that runs the smoke command', () => {
    for (const { name } of VALUES_FILES) {
      const pod = only(rendered(name), 'Pod');
      assert.equal(
        (pod.metadata as { annotations?: Record<string, string> }).annotations?.['helm.sh/hook'],
        'test',
      );
      assert.equal(containers(pod)[0]?.args?.[0], 'smoke');
      assert.equal(podSpec(pod).restartPolicy, 'Never');
    }
  });

  it('gives every container probes (the consumer) and resources (all)', () => {
    for (const { name } of VALUES_FILES) {
      for (const manifest of rendered(name).filter((m) => WORKLOAD_KINDS.has(m.kind))) {
        for (const container of containers(manifest)) {
          const where = `${name}: ${manifest.kind}/${container.name}`;
          assert.ok(container.resources?.requests?.memory, `${where}: no memory request`);
          assert.ok(container.resources.limits?.memory, `${where}: no memory limit`);
        }
      }
      const [consumer] = containers(only(rendered(name), 'Deployment'));
      assert.equal(at(consumer, 'livenessProbe', 'httpGet', 'path'), '/healthz');
      assert.equal(at(consumer, 'readinessProbe', 'httpGet', 'path'), '/readyz');
      assert.equal(at(consumer, 'livenessProbe', 'httpGet', 'port'), 'http');
    }
  });
});
