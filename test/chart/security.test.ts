import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { containers, podSpec, render, template, VALUES_FILES, WORKLOAD_KINDS } from './support.js';

// Values that must never appear in a rendered manifest, passed the ways a user might try.
const CANARY = 'Canary-Secret-7f3a9c';

describe('chart: Pod Security "restricted" and secrets', () => {
  for (const { name, files } of VALUES_FILES) {
    it(`every container is restricted (${name} values)`, () => {
      const workloads = render(files).filter((manifest) => WORKLOAD_KINDS.has(manifest.kind));
      assert.ok(workloads.length >= 3);
      for (const workload of workloads) {
        const pod = podSpec(workload);
        const podContext = (pod.securityContext ?? {}) as Record<string, unknown>;
        assert.equal(podContext.runAsNonRoot, true, `${workload.kind}: pod runAsNonRoot`);
        assert.deepEqual(podContext.seccompProfile, { type: 'RuntimeDefault' });
        assert.equal(pod.automountServiceAccountToken, false, `${workload.kind}: token mounted`);
        const volumes = (pod.volumes ?? []) as { name: string; emptyDir?: unknown }[];
        assert.ok(
          volumes.some((v) => v.name === 'tmp' && v.emptyDir),
          `${workload.kind}: no /tmp emptyDir`,
        );
        for (const container of containers(workload)) {
          const where = `${workload.kind}/${container.name}`;
          const context = container.securityContext ?? {};
          assert.equal(context.runAsNonRoot, true, `${where}: runAsNonRoot`);
          assert.equal(
            context.allowPrivilegeEscalation,
            false,
            `${where}: allowPrivilegeEscalation`,
          );
          assert.equal(context.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
          assert.deepEqual(context.capabilities, { drop: ['ALL'] }, `${where}: capabilities`);
          assert.deepEqual(context.seccompProfile, { type: 'RuntimeDefault' }, `${where}: seccomp`);
          assert.ok(
            container.volumeMounts?.some(
              (mount) => mount.name === 'tmp' && mount.mountPath === '/tmp',
            ),
            `${where}: /tmp not mounted`,
          );
        }
      }
    });

    it(`passwords only come from Secrets (${name} values)`, () => {
      const manifests = render(files);
      assert.ok(
        !manifests.some((manifest) => manifest.kind === 'Secret'),
        'the chart renders no Secret',
      );
      for (const workload of manifests.filter((manifest) => WORKLOAD_KINDS.has(manifest.kind))) {
        for (const container of containers(workload)) {
          for (const variable of container.env ?? []) {
            if (/(PASSWORD|SECRET)$/.test(variable.name)) {
              assert.ok(
                variable.valueFrom?.secretKeyRef,
                `${container.name}: ${variable.name} is inline`,
              );
            }
            if (variable.name === 'REDIS_URL' && variable.value?.includes('@')) {
              assert.match(variable.value, /^rediss?:\/\/[^:@]*:\$\(REDIS_PASSWORD\)@/);
            }
          }
        }
      }
    });
  }

  it('has no values key that takes a password inline', () => {
    for (const key of ['clickhouse.password', 'redis.password', 'kafka.sasl.password']) {
      const result = template([], [`${key}=${CANARY}`]);
      assert.notEqual(result.status, 0, `${key} was accepted`);
      assert.ok(!result.stdout.includes(CANARY));
    }
  });

  it('puts no secret value into manifests when credentials come from existing Secrets', () => {
    const text = template(['values-production-example.yaml']).stdout;
    for (const forbidden of [/password:\s*\S/i, /requirepass/i, /:\/\/[^$\s:]+:[^$\s@]+@/]) {
      assert.doesNotMatch(text, forbidden);
    }
  });
});
