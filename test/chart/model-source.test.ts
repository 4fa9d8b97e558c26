import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { parse } from 'yaml';

import { loadServiceConfig } from '../../src/config/config.js';
import {
  at,
  CHART,
  containers,
  lint,
  only,
  podSpec,
  render,
  REPO,
  resolvedEnv,
  template,
  type Container,
  type Manifest,
} from './support.js';
import { validateManifest } from './validate.js';

/**
 * model.source: the model file from the service's image (the default), a ConfigMap, a
 * PersistentVolumeClaim, a model image copied by an init container, or a model image mounted
 * as an image volume; model.sha256 as MODEL_SHA256; a new model rolls the pods.
 */

const MODEL_DIR = '/etc/realtime-offers/model';
const SHA_A = 'a'.repeat(64);
const SHA_B = '0123456789abcdef'.repeat(4);

const SOURCES: Readonly<Record<string, readonly string[]>> = {
  configMap: ['model.source=configMap', 'model.configMap.name=offers-model'],
  persistentVolumeClaim: [
    'model.source=persistentVolumeClaim',
    'model.persistentVolumeClaim.claimName=models',
    'model.persistentVolumeClaim.subPath=offers/1.4.0',
  ],
  ociImage: [
    'model.source=ociImage',
    'model.image.repository=data/offers-model',
    'model.image.tag=1.4.0',
  ],
  imageVolume: [
    'model.source=imageVolume',
    'model.image.repository=data/offers-model',
    'model.image.tag=1.4.0',
  ],
};

function sourceSets(source: string): readonly string[] {
  const sets = SOURCES[source];
  assert.ok(sets, `no values for source ${source}`);
  return sets;
}

interface Volume {
  readonly name: string;
  readonly configMap?: { name: string; items?: { key: string; path: string }[] };
  readonly persistentVolumeClaim?: { claimName: string; readOnly?: boolean };
  readonly emptyDir?: { sizeLimit?: string };
  readonly image?: { reference: string; pullPolicy?: string };
}

interface Mount {
  readonly name: string;
  readonly mountPath: string;
  readonly readOnly?: boolean;
  readonly subPath?: string;
}

interface Consumer {
  readonly deployment: Manifest;
  readonly consumer: Container;
  readonly inits: Container[];
  readonly env: Record<string, string>;
  readonly modelVolume?: Volume;
  readonly modelMount?: Mount;
  readonly annotations: Record<string, string>;
}

function consumerOf(manifests: readonly Manifest[]): Consumer {
  const deployment = only(manifests, 'Deployment');
  const spec = podSpec(deployment);
  const consumer = (spec.containers as Container[]).find((c) => c.name === 'consumer');
  assert.ok(consumer, 'the consumer container');
  const volumes = (spec.volumes ?? []) as Volume[];
  const mounts: readonly Mount[] = consumer.volumeMounts ?? [];
  return {
    deployment,
    consumer,
    inits: (spec.initContainers ?? []) as Container[],
    env: resolvedEnv(consumer),
    modelVolume: volumes.find((volume) => volume.name === 'model'),
    modelMount: mounts.find((mount) => mount.name === 'model'),
    annotations:
      (at(deployment, 'spec', 'template', 'metadata', 'annotations') as
        Record<string, string> | undefined) ?? {},
  };
}

const rendered = (sets: readonly string[]) => consumerOf(render([], sets));

function refused(sets: readonly string[], message: RegExp, flags: readonly string[] = []): void {
  const result = template([], sets, flags);
  assert.notEqual(result.status, 0, `helm template accepted --set ${sets.join(',')}`);
  assert.match(result.stderr, message);
}

describe('chart: model.source', () => {
  it('image (the default) reads the model baked into the service image, as before', () => {
    const { env, modelVolume, modelMount, inits, annotations } = rendered([]);
    assert.equal(env.MODEL_PATH, '/app/model/offer_model.onnx');
    assert.equal(env.MODEL_SHA256, '');
    assert.equal(modelVolume, undefined);
    assert.equal(modelMount, undefined);
    assert.deepEqual(inits, []);
    assert.equal(annotations['checksum/model'], undefined);
    assert.equal(
      rendered(['model.path=/models/custom.onnx']).env.MODEL_PATH,
      '/models/custom.onnx',
      'model.path still points the image source anywhere (extraVolumes)',
    );
  });

  it('configMap mounts the one key read-only and reads it from the mount', () => {
    const { env, modelVolume, modelMount } = rendered([
      ...sourceSets('configMap'),
      'model.configMap.key=model-1.4.0.onnx',
    ]);
    assert.deepEqual(modelVolume?.configMap, {
      name: 'offers-model',
      items: [{ key: 'model-1.4.0.onnx', path: 'model-1.4.0.onnx' }],
    });
    assert.deepEqual(modelMount, { name: 'model', mountPath: MODEL_DIR, readOnly: true });
    assert.equal(env.MODEL_PATH, `${MODEL_DIR}/model-1.4.0.onnx`);
  });

  it('persistentVolumeClaim mounts the claim read-only, at its subPath', () => {
    const { env, modelVolume, modelMount } = rendered(sourceSets('persistentVolumeClaim'));
    assert.deepEqual(modelVolume?.persistentVolumeClaim, { claimName: 'models', readOnly: true });
    assert.deepEqual(modelMount, {
      name: 'model',
      mountPath: MODEL_DIR,
      readOnly: true,
      subPath: 'offers/1.4.0',
    });
    assert.equal(env.MODEL_PATH, `${MODEL_DIR}/offer_model.onnx`);
    const atRoot = rendered([
      'model.source=persistentVolumeClaim',
      'model.persistentVolumeClaim.claimName=models',
      'model.persistentVolumeClaim.file=v2/offers.onnx',
    ]);
    assert.equal(atRoot.modelMount?.subPath, undefined);
    assert.equal(atRoot.env.MODEL_PATH, `${MODEL_DIR}/v2/offers.onnx`);
  });

  it('ociImage copies the file from the model image into an emptyDir before the consumer starts', () => {
    const { env, inits, modelVolume, modelMount } = rendered([
      ...sourceSets('ociImage'),
      'model.image.file=/models/offers.onnx',
    ]);
    const [copy, ...others] = inits;
    assert.ok(copy, 'an init container');
    assert.deepEqual(others, []);
    assert.equal(copy.image, 'data/offers-model:1.4.0');
    assert.deepEqual((copy as { command?: string[] }).command, [
      'cp',
      '/models/offers.onnx',
      `${MODEL_DIR}/offers.onnx`,
    ]);
    assert.ok(
      (copy.volumeMounts ?? []).some((m) => m.name === 'model' && m.mountPath === MODEL_DIR),
      'the init container writes into the model volume',
    );
    assert.deepEqual(
      copy.securityContext,
      rendered([]).consumer.securityContext,
      'the restricted context of every container',
    );
    assert.deepEqual(modelVolume?.emptyDir, { sizeLimit: '256Mi' });
    assert.equal(modelMount?.readOnly, true, 'the consumer only reads the copy');
    assert.equal(env.MODEL_PATH, `${MODEL_DIR}/offers.onnx`);
  });

  it("ociImage's reference honours global.imageRegistry and a digest, like the service's image", () => {
    const digest = `sha256:${SHA_B}`;
    const image = (sets: readonly string[]) =>
      rendered([...sourceSets('ociImage'), ...sets]).inits[0]?.image;
    assert.equal(
      image(['model.image.registry=registry.example.com/data']),
      'registry.example.com/data/data/offers-model:1.4.0',
    );
    assert.equal(
      image([
        'model.image.registry=registry.example.com',
        'global.imageRegistry=mirror.example.com:5000',
      ]),
      'mirror.example.com:5000/data/offers-model:1.4.0',
    );
    assert.equal(image([`model.image.digest=${digest}`]), `data/offers-model@${digest}`);
  });

  it('ociImage keeps the initContainers of the values, after the copy', () => {
    const { inits } = rendered([
      ...sourceSets('ociImage'),
      'initContainers[0].name=wait',
      'initContainers[0].image=busybox:1.37',
    ]);
    assert.deepEqual(
      inits.map((container) => container.name),
      ['model', 'wait'],
    );
  });

  it('imageVolume mounts the model image read-only on Kubernetes 1.31 or later', () => {
    const { env, inits, modelVolume, modelMount } = rendered([
      ...sourceSets('imageVolume'),
      'model.image.pullPolicy=Always',
    ]);
    assert.deepEqual(modelVolume?.image, {
      reference: 'data/offers-model:1.4.0',
      pullPolicy: 'Always',
    });
    assert.deepEqual(modelMount, { name: 'model', mountPath: MODEL_DIR, readOnly: true });
    assert.equal(env.MODEL_PATH, `${MODEL_DIR}/model/offer_model.onnx`);
    assert.deepEqual(inits, [], 'no copy: the kubelet mounts the image');
    const oldest = template([], sourceSets('imageVolume'), ['--kube-version', '1.31.0']);
    assert.equal(oldest.status, 0, oldest.stderr);
  });

  it('imageVolume is refused at render on a cluster older than 1.31, naming the way out', () => {
    for (const version of ['1.30.9', 'v1.29.4-eks-1234']) {
      refused(
        sourceSets('imageVolume'),
        /imageVolume needs Kubernetes 1\.31 or later.*this cluster is v1\.(30|29).*model\.source ociImage/,
        ['--kube-version', version],
      );
    }
  });

  for (const source of Object.keys(SOURCES)) {
    it(`${source}: lints strictly, validates, and the service accepts its environment`, () => {
      const sets = [...sourceSets(source), `model.sha256=${SHA_A}`];
      const linted = lint([], sets);
      assert.equal(linted.status, 0, linted.stdout + linted.stderr);
      const manifests = render([], sets);
      assert.deepEqual(manifests.flatMap(validateManifest), []);
      const { env } = consumerOf(manifests);
      const config = loadServiceConfig({
        ...env,
        CLICKHOUSE_PASSWORD: '',
      });
      assert.equal(config.model.path, env.MODEL_PATH);
      assert.ok(env.MODEL_PATH?.startsWith(`${MODEL_DIR}/`), env.MODEL_PATH);
    });
  }
});

describe('chart: model.sha256 and rolling out a new model', () => {
  it('reaches the consumer as MODEL_SHA256, and neither the migration Job nor the helm test', () => {
    const manifests = render([], [`model.sha256=${SHA_A}`]);
    assert.equal(consumerOf(manifests).env.MODEL_SHA256, SHA_A);
    // migrate and smoke load no model (src/cli/migrate.ts, src/cli/smoke.ts).
    for (const kind of ['Job', 'Pod']) {
      for (const container of containers(only(manifests, kind))) {
        const names = (container.env ?? []).map((variable) => variable.name);
        assert.ok(!names.some((name) => name.startsWith('MODEL_')), `${kind}: ${names.join(',')}`);
        assert.ok(
          !(container.volumeMounts ?? []).some((mount) => mount.name === 'model'),
          `${kind} mounts no model`,
        );
      }
    }
  });

  for (const source of ['image', ...Object.keys(SOURCES)]) {
    it(`${source}: a new model.sha256 changes the pod template, so the pods roll`, () => {
      const sets = source === 'image' ? [] : sourceSets(source);
      const template = (sha: string) =>
        JSON.stringify(
          at(rendered([...sets, `model.sha256=${sha}`]).deployment, 'spec', 'template'),
        );
      assert.notEqual(template(SHA_A), template(SHA_B));
      assert.equal(template(SHA_A), template(SHA_A), 'rendering is stable otherwise');
    });
  }

  it('configMap: the pod template carries a checksum of the model, beside podAnnotations', () => {
    const checksum = (sets: readonly string[]) =>
      rendered([...sourceSets('configMap'), ...sets]).annotations['checksum/model'];
    const base = checksum([]);
    assert.match(base ?? '', /^[a-f0-9]{64}$/);
    assert.notEqual(checksum([`model.sha256=${SHA_A}`]), base);
    assert.notEqual(checksum(['model.configMap.name=offers-model-2']), base);
    assert.notEqual(checksum(['model.configMap.key=model-2.onnx']), base);
    const withOthers = rendered([...sourceSets('configMap'), 'podAnnotations.team=data']);
    assert.equal(withOthers.annotations.team, 'data');
    assert.equal(withOthers.annotations['checksum/model'], base);
    for (const source of ['persistentVolumeClaim', 'ociImage', 'imageVolume']) {
      assert.equal(rendered(sourceSets(source)).annotations['checksum/model'], undefined, source);
    }
  });

  it('ociImage and imageVolume: a new model image tag rolls the pods without a sha256', () => {
    for (const source of ['ociImage', 'imageVolume']) {
      const spec = (tag: string) =>
        JSON.stringify(
          at(
            rendered([...sourceSets(source), `model.image.tag=${tag}`]).deployment,
            'spec',
            'template',
          ),
        );
      assert.notEqual(spec('1.4.0'), spec('1.5.0'), source);
    }
  });

  it('make model-image puts the model where model.image.file expects it, beside a cp', () => {
    const script = readFileSync(path.join(REPO, 'scripts/images/model-image.sh'), 'utf8');
    const values = parse(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')) as {
      model: { image: { file: string } };
    };
    const installed = [...script.matchAll(/^install -m \d+ "\$\w+" "\$ctx\/rootfs(\/\S+)"$/gm)].map(
      (match) => match[1],
    );
    assert.deepEqual(installed, [values.model.image.file, '/bin/cp']);
    assert.match(
      script,
      new RegExp(`realtime-offers\\.model\\.path=${values.model.image.file}\\b`),
    );
    const copy = rendered(sourceSets('ociImage')).inits[0] as { command?: string[] } | undefined;
    assert.equal(copy?.command?.[0], 'cp', 'the init container runs the cp the image carries');
  });

  it('the model in the repository fits a ConfigMap (1 MiB for all its keys)', () => {
    const { size } = statSync(path.join(REPO, 'model/offer_model.onnx'));
    assert.ok(size < 1024 * 1024, `model/offer_model.onnx is ${size} bytes`);
  });
});

describe('chart: model values refused', () => {
  // helm lint reports a template's `fail` only as [INFO] (lint mode), so it exits 0 on the
  // render-time guards; the schema's refusals fail it too.
  const REFUSED: readonly {
    what: string;
    sets: readonly string[];
    message: RegExp;
    schema?: true;
  }[] = [
    {
      what: 'a configMap source without a ConfigMap name',
      sets: ['model.source=configMap'],
      message: /model\.source configMap needs model\.configMap\.name/,
    },
    {
      what: 'a persistentVolumeClaim source without a claim',
      sets: ['model.source=persistentVolumeClaim'],
      message: /model\.source persistentVolumeClaim needs model\.persistentVolumeClaim\.claimName/,
    },
    {
      what: 'an ociImage source without a repository',
      sets: ['model.source=ociImage', 'model.image.tag=1.4.0'],
      message: /model\.source ociImage needs model\.image\.repository/,
    },
    {
      what: 'an imageVolume source without a tag or digest',
      sets: ['model.source=imageVolume', 'model.image.repository=data/offers-model'],
      message: /model\.source imageVolume needs model\.image\.tag or model\.image\.digest/,
    },
    // The schema's refusals.
    {
      what: 'an unknown source',
      sets: ['model.source=s3'],
      schema: true,
      message: /'\/model\/source': value must be one of 'image', 'configMap'/,
    },
    {
      what: 'a sha256 in upper case',
      sets: [`model.sha256=${SHA_A.toUpperCase()}`],
      schema: true,
      message: /'\/model\/sha256'.*does not match pattern/,
    },
    {
      what: 'a sha256 too short',
      sets: [`model.sha256=${SHA_A.slice(1)}`],
      schema: true,
      message: /'\/model\/sha256'.*does not match pattern/,
    },
    {
      what: 'a sha256 with its algorithm prefix',
      sets: [`model.sha256=sha256:${SHA_A}`],
      schema: true,
      message: /'\/model\/sha256'.*does not match pattern/,
    },
    {
      what: 'a relative file in the model image',
      sets: [...sourceSets('ociImage'), 'model.image.file=offer_model.onnx'],
      schema: true,
      message: /'\/model\/image\/file'/,
    },
    {
      what: 'a model image digest without its algorithm',
      sets: [...sourceSets('ociImage'), `model.image.digest=${SHA_A}`],
      schema: true,
      message: /'\/model\/image\/digest'/,
    },
    {
      what: 'an unknown model key',
      sets: ['model.url=s3://models/offers.onnx'],
      schema: true,
      message: /'\/model': additional properties 'url'/,
    },
  ];
  for (const { what, sets, message, schema } of REFUSED) {
    it(`refuses ${what}`, () => {
      refused(sets, message);
      if (schema) assert.notEqual(lint([], sets).status, 0, 'helm lint accepted it');
    });
  }
});
