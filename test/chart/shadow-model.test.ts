import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { loadClickHouseConfig, loadServiceConfig } from '../../src/config/config.js';
import {
  containers,
  only,
  podSpec,
  render,
  resolvedEnv,
  template,
  type Container,
  type Manifest,
} from './support.js';
import { validateManifest } from './validate.js';

/**
 * model.shadow: a candidate model scored beside the live one (MODEL_SHADOW_PATH), from a
 * path (the image or a volume of your own) or a ConfigMap; off by default. The migration Job
 * gets MODEL_SHADOW_PATH only when it is on, to create the shadow table.
 */

const SHADOW_DIR = '/etc/realtime-offers/shadow-model';
const SHA = 'c'.repeat(64);
const STORES = {
  KAFKA_BROKERS: 'kafka:9092',
  CLICKHOUSE_URL: 'http://clickhouse:8123',
  REDIS_URL: 'redis://redis:6379',
};

interface Volume {
  readonly name: string;
  readonly configMap?: { name: string; items?: { key: string; path: string }[] };
}

function parts(manifests: readonly Manifest[]) {
  const spec = podSpec(only(manifests, 'Deployment'));
  const consumer = (spec.containers as Container[]).find((c) => c.name === 'consumer');
  assert.ok(consumer, 'the consumer container');
  const [migrate] = containers(only(manifests, 'Job'));
  assert.ok(migrate, 'the migration container');
  return {
    env: resolvedEnv(consumer),
    migrateEnv: resolvedEnv(migrate),
    volume: ((spec.volumes ?? []) as Volume[]).find((v) => v.name === 'shadow-model'),
    mount: (consumer.volumeMounts ?? []).find((m) => m.name === 'shadow-model'),
  };
}

describe('chart: model.shadow', () => {
  it('is off by default: an empty MODEL_SHADOW_PATH, no volume, nothing for the migration Job', () => {
    const { env, migrateEnv, volume, mount } = parts(render([]));
    assert.equal(env.MODEL_SHADOW_PATH, '');
    assert.equal(env.MODEL_SHADOW_SHA256, '');
    assert.equal(loadServiceConfig({ ...env, ...STORES }).model.shadow, undefined);
    assert.equal(migrateEnv.MODEL_SHADOW_PATH, undefined);
    assert.equal(volume, undefined);
    assert.equal(mount, undefined);
  });

  it('path: the consumer scores the file as the shadow; the migration Job creates its table', () => {
    const manifests = render(
      [],
      ['model.shadow.path=/models/candidate.onnx', `model.shadow.sha256=${SHA}`],
    );
    const { env, migrateEnv, volume } = parts(manifests);
    const config = loadServiceConfig({ ...env, ...STORES });
    assert.deepEqual(config.model.shadow, { path: '/models/candidate.onnx', sha256: SHA });
    assert.equal(config.clickhouse.shadowTable, 'personal_offer_shadow');
    assert.equal(migrateEnv.MODEL_SHADOW_PATH, '/models/candidate.onnx');
    assert.equal(
      loadClickHouseConfig({ ...migrateEnv, CLICKHOUSE_PASSWORD: '' }).shadowTable,
      'personal_offer_shadow',
    );
    assert.equal(volume, undefined);
    assert.deepEqual(manifests.flatMap(validateManifest), []);
  });

  it('configMap: mounts the one key read-only beside the live model, and reads it there', () => {
    const manifests = render(
      [],
      [
        'model.source=configMap',
        'model.configMap.name=offers-model',
        'model.shadow.configMap.name=offers-candidate',
        'model.shadow.configMap.key=candidate-1.5.0.onnx',
        'model.shadow.path=/ignored.onnx',
      ],
    );
    const { env, migrateEnv, volume, mount } = parts(manifests);
    assert.deepEqual(volume?.configMap, {
      name: 'offers-candidate',
      items: [{ key: 'candidate-1.5.0.onnx', path: 'candidate-1.5.0.onnx' }],
    });
    assert.deepEqual(mount, { name: 'shadow-model', mountPath: SHADOW_DIR, readOnly: true });
    assert.equal(env.MODEL_SHADOW_PATH, `${SHADOW_DIR}/candidate-1.5.0.onnx`);
    assert.notEqual(env.MODEL_PATH, env.MODEL_SHADOW_PATH);
    assert.equal(migrateEnv.MODEL_SHADOW_PATH, env.MODEL_SHADOW_PATH);
    assert.deepEqual(manifests.flatMap(validateManifest), []);
  });

  it('refuses a relative path and a SHA-256 that is not 64 hex digits', () => {
    for (const set of ['model.shadow.path=models/candidate.onnx', 'model.shadow.sha256=abc']) {
      const result = template([], [set]);
      assert.notEqual(result.status, 0, `helm template accepted --set ${set}`);
      assert.match(result.stderr, /\/model\/shadow\/(path|sha256)/);
    }
  });
});
