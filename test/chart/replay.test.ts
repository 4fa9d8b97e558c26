import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { loadServiceConfig } from '../../src/config/config.js';
import {
  all,
  at,
  containers,
  lint,
  only,
  podSpec,
  render,
  resolvedEnv,
  template,
  VALUES_FILES,
  type Container,
  type Manifest,
} from './support.js';
import { crdValidator, CRD_FOLDERS } from './crds.js';
import { validateManifest } from './validate.js';

/** replay.*: the replay Job re-scores a time range with the consumer's settings. */

const RANGE = ['replay.enabled=true', 'replay.from=2026-01-01T00:00:00Z', 'replay.to=2026-01-02'];

function replayJob(manifests: readonly Manifest[]): Manifest {
  const jobs = all(manifests, 'Job').filter(
    (job) => job.metadata.labels?.['app.kubernetes.io/component'] === 'replay',
  );
  const [job] = jobs;
  assert.ok(job !== undefined && jobs.length === 1, `one replay Job, found ${jobs.length}`);
  return job;
}

function container(manifest: Manifest, name: string): Container {
  const found = containers(manifest).find((candidate) => candidate.name === name);
  assert.ok(found, `container ${name} of ${manifest.kind}/${manifest.metadata.name}`);
  return found;
}

function failure(sets: readonly string[]): string {
  const result = template([], sets);
  assert.notEqual(result.status, 0, `helm template accepted ${sets.join(' ')}`);
  return result.stderr;
}

describe('chart: the replay Job', () => {
  it('is not rendered by default', () => {
    for (const { name, files } of VALUES_FILES) {
      const jobs = all(render(files), 'Job');
      assert.ok(
        jobs.every((job) => job.metadata.labels?.['app.kubernetes.io/component'] !== 'replay'),
        name,
      );
    }
  });

  for (const { name, files } of VALUES_FILES) {
    it(`${name}: runs replay with the consumer's environment, lints and validates`, () => {
      const linted = lint(files, RANGE);
      assert.equal(linted.status, 0, linted.stdout + linted.stderr);
      const manifests = render(files, RANGE);
      assert.deepEqual(manifests.flatMap(validateManifest), []);
      const job = replayJob(manifests);
      const replay = container(job, 'replay');
      assert.deepEqual(replay.args, [
        'replay',
        '--from',
        '2026-01-01T00:00:00Z',
        '--to',
        '2026-01-02',
        '--progress-interval',
        '5',
      ]);
      const consumer = container(only(manifests, 'Deployment'), 'consumer');
      const consumerEnv = resolvedEnv(consumer);
      const replayEnv = resolvedEnv(replay);
      const { HTTP_HOST: _host, HTTP_PORT: _port, ...shared } = consumerEnv;
      assert.deepEqual(replayEnv, shared, 'the same sinks, topic, group, model and TLS');
      // The service reads that environment as the consumer does (the TLS files are only in a pod).
      const withoutFiles = Object.entries(replayEnv).filter(([key]) => !key.endsWith('_FILE'));
      const config = loadServiceConfig({
        ...Object.fromEntries(withoutFiles),
        CLICKHOUSE_PASSWORD: '',
      });
      assert.equal(config.kafka.groupId, consumerEnv.KAFKA_GROUP_ID);
      // The consumer's TLS files and model are mounted where the variables say.
      const mounts = (container: Container) =>
        (container.volumeMounts ?? []).map(({ name, mountPath }) => `${name}:${mountPath}`).sort();
      assert.deepEqual(mounts(replay), mounts(consumer));
      const spec = podSpec(job);
      assert.equal(spec.restartPolicy, 'Never');
      assert.equal(spec.automountServiceAccountToken, false);
      assert.deepEqual(
        at(job, 'spec', 'template', 'metadata', 'labels', 'app.kubernetes.io/component'),
        'replay',
        'not selected by the consumer Service and PDB',
      );
    });
  }

  it('fails at once on a usage error (exit 2) and is kept a while after it ends', () => {
    const job = replayJob(render([], [...RANGE, 'replay.ttlSecondsAfterFinished=60']));
    assert.equal(at(job, 'spec', 'ttlSecondsAfterFinished'), 60);
    assert.equal(at(job, 'spec', 'backoffLimit'), 3);
    assert.deepEqual(at(job, 'spec', 'podFailurePolicy', 'rules', 0), {
      action: 'FailJob',
      onExitCodes: { containerName: 'replay', operator: 'In', values: [2] },
    });
  });

  it('passes an explicit group, and epoch milliseconds given as numbers', () => {
    const job = replayJob(
      render(
        [],
        [
          'replay.enabled=true',
          'replay.from=1767225600000',
          'replay.to=1767312000000',
          'replay.group=offers-backfill',
        ],
      ),
    );
    const args = container(job, 'replay').args ?? [];
    assert.deepEqual(args.slice(1, 7), [
      '--from',
      '1767225600000',
      '--to',
      '1767312000000',
      '--group',
      'offers-backfill',
    ]);
  });

  it('is another Job for another range or model, the same Job for the same ones', () => {
    const nameOf = (sets: readonly string[]) => replayJob(render([], sets)).metadata.name;
    const first = nameOf(RANGE);
    assert.match(first, /^[a-z0-9-]+-replay-[0-9a-f]{8}$/);
    assert.ok(first.length <= 63, first);
    assert.equal(nameOf(RANGE), first);
    assert.notEqual(nameOf([...RANGE, 'replay.to=2026-01-03']), first);
    assert.notEqual(nameOf([...RANGE, `model.sha256=${'a'.repeat(64)}`]), first);
    assert.notEqual(nameOf([...RANGE, 'replay.group=other']), first);
    const long = nameOf([...RANGE, `fullnameOverride=${'x'.repeat(63)}`]);
    assert.ok(long.length <= 63, long);
  });

  it("copies a model image's model like the consumer (model.source ociImage)", () => {
    const manifests = render(
      [],
      [
        ...RANGE,
        'model.source=ociImage',
        'model.image.repository=data/offers-model',
        'model.image.tag=1.4.0',
      ],
    );
    const job = replayJob(manifests);
    assert.ok(container(job, 'model').image?.includes('data/offers-model:1.4.0'));
    assert.equal(
      resolvedEnv(container(job, 'replay')).MODEL_PATH,
      resolvedEnv(container(only(manifests, 'Deployment'), 'consumer')).MODEL_PATH,
    );
  });

  it('refuses a missing or malformed range and the live group, naming the value', () => {
    assert.match(failure(['replay.enabled=true', 'replay.to=2026-01-02']), /needs replay\.from/);
    assert.match(failure(['replay.enabled=true', 'replay.from=2026-01-02']), /needs replay\.to/);
    assert.match(failure([...RANGE, 'replay.from=yesterday']), /replay\/from|replay\.from/);
    assert.match(failure([...RANGE, 'replay.to=2026-01-02T00:00:00']), /replay\/to|replay\.to/);
    assert.match(
      failure(['replay.enabled=true', 'replay.from=200', 'replay.to=100']),
      /replay\.from \(200\) must be before replay\.to \(100\)/,
    );
    assert.match(
      failure([...RANGE, 'replay.group=realtime-offers']),
      /replay\.group must differ from kafka\.groupId \(realtime-offers\)/,
    );
  });

  it("lets the chart's KafkaUser use the replay's group, and only with replay.enabled", () => {
    const strimzi = ['strimzi.user.enabled=true', 'kafka.sasl.enabled=true'];
    const folder = CRD_FOLDERS.find((name) => name.startsWith('strimzi'));
    assert.ok(folder, 'the pinned Strimzi CRDs');
    const validate = crdValidator(folder);
    const groupAcls = (sets: readonly string[]) => {
      const users = all(render([], sets), 'KafkaUser');
      const consumer = users.find((user) => !user.metadata.name.endsWith('-smoke'));
      assert.ok(consumer);
      assert.deepEqual(validate(consumer), []);
      const acls = (at(consumer, 'spec', 'authorization', 'acls') ?? []) as {
        resource: { type: string; name: string; patternType: string };
        operations: string[];
      }[];
      return acls
        .filter((acl) => acl.resource.type === 'group')
        .map(
          (acl) => `${acl.resource.patternType}:${acl.resource.name}:${acl.operations.join('+')}`,
        );
    };
    assert.deepEqual(groupAcls(strimzi), ['literal:realtime-offers:Read+Describe']);
    assert.deepEqual(groupAcls([...strimzi, ...RANGE]), [
      'literal:realtime-offers:Read+Describe',
      'prefix:realtime-offers-replay-:Read+Describe',
    ]);
    assert.deepEqual(groupAcls([...strimzi, ...RANGE, 'replay.group=offers-backfill']), [
      'literal:realtime-offers:Read+Describe',
      'literal:offers-backfill:Read+Describe',
    ]);
  });
});
