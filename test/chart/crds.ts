import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';

import { REPO, type Manifest } from './support.js';

/**
 * Validation against the operators' real CustomResourceDefinitions, read at test time from
 * the shared CRD folder (never copied into the project): `CLUSTER_CRD_DIR`, else
 * `shared/crds` beside the checkout or one of its parents, else /work/shared/crds, as
 * scripts/cluster/lib.sh (find_crd_dir) finds it for make test-cluster.
 */
export function findCrdDir(): string {
  const fromEnv = process.env.CLUSTER_CRD_DIR;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  for (let dir = REPO; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, '..', 'shared', 'crds');
    if (existsSync(candidate)) return path.resolve(candidate);
    if (path.dirname(dir) === dir) return '/work/shared/crds';
  }
}

type Schema = Record<string, unknown>;

/**
 * The API server's reading of an OpenAPI v3 schema as JSON Schema: a field not declared
 * where `properties` are listed is an error (strict field validation), unless the schema
 * preserves unknown fields; int-or-string and nullable as Kubernetes defines them.
 */
function asApiServer(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(asApiServer);
  if (typeof schema !== 'object' || schema === null) return schema;
  const source = schema as Schema;
  const result: Schema = {};
  for (const [keyword, value] of Object.entries(source)) {
    if (keyword.startsWith('x-kubernetes-') || keyword === 'nullable') continue;
    if (keyword === 'properties' || keyword === 'patternProperties') {
      result[keyword] = Object.fromEntries(
        Object.entries(value as Schema).map(([name, child]) => [name, asApiServer(child)]),
      );
    } else if (['items', 'additionalProperties', 'not'].includes(keyword)) {
      result[keyword] = asApiServer(value);
    } else if (['anyOf', 'allOf', 'oneOf'].includes(keyword)) {
      result[keyword] = asApiServer(value);
    } else result[keyword] = value;
  }
  if (source['x-kubernetes-int-or-string'] === true) {
    delete result.type;
    result.anyOf = [{ type: 'integer' }, { type: 'string' }];
  }
  if (source.nullable === true && typeof result.type === 'string') {
    result.type = [result.type, 'null'];
  }
  if (
    source.properties !== undefined &&
    source.additionalProperties === undefined &&
    source['x-kubernetes-preserve-unknown-fields'] !== true
  ) {
    result.additionalProperties = false;
  }
  return result;
}

interface Crd {
  spec: {
    group: string;
    names: { kind: string };
    versions: { name: string; schema?: { openAPIV3Schema?: Schema } }[];
  };
}

/** A validator for every kind and version the CRDs in `<crd dir>/<folder>` define. */
export function crdValidator(folder: string): (manifest: Manifest) => string[] {
  const dir = path.join(findCrdDir(), folder);
  if (!existsSync(dir)) {
    throw new Error(`no CRDs at ${dir}: set CLUSTER_CRD_DIR to the folder holding ${folder}/`);
  }
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const validators = new Map<string, ValidateFunction>();
  for (const file of readdirSync(dir).filter((name) => /\.ya?ml$/.test(name))) {
    const documents = parseAllDocuments(readFileSync(path.join(dir, file), 'utf8'), {
      merge: true,
    });
    for (const document of [documents].flat()) {
      const crd = document.toJS({ maxAliasCount: -1 }) as Crd | null;
      if (crd?.spec.versions === undefined) continue;
      for (const version of crd.spec.versions) {
        const schema = version.schema?.openAPIV3Schema;
        if (schema === undefined) continue;
        // Every object has apiVersion, kind and metadata, declared in the schema or not.
        const root = asApiServer(schema) as Schema;
        root.properties = {
          apiVersion: { type: 'string' },
          kind: { type: 'string' },
          metadata: { type: 'object' },
          ...(root.properties as Schema | undefined),
        };
        validators.set(
          `${crd.spec.group}/${version.name}/${crd.spec.names.kind}`,
          ajv.compile(root),
        );
      }
    }
  }
  return (manifest) => {
    const key = `${manifest.apiVersion}/${manifest.kind}`;
    const name = manifest.metadata.name;
    const validate = validators.get(key);
    if (validate === undefined) return [`${key}: no CRD in ${dir}`];
    if (validate(manifest)) return [];
    return (validate.errors ?? []).map(
      (error) =>
        `${key} ${name}${error.instancePath}: ${error.message ?? ''} ${JSON.stringify(error.params)}`,
    );
  };
}
