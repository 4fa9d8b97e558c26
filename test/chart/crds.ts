import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';

import { readEnvFile, REPO, type Manifest } from './support.js';

/** The pinned operators' CRD folders (CRD_FOLDERS of scripts/kind/versions.env). */
export const CRD_FOLDERS: readonly string[] = (
  readEnvFile(path.join(REPO, 'scripts/kind/versions.env')).CRD_FOLDERS ?? ''
)
  .split(',')
  .filter((folder) => folder !== '');

/**
 * The folder of the operators' real CustomResourceDefinitions, read at test time and never
 * copied into the project: `CRD_DIR`, default ../shared/crds beside the repository, as
 * scripts/cluster/lib.sh reads it for make test-cluster. Throws naming the variable and the
 * pinned folders when one of them is missing.
 */
export function crdDir(): string {
  const fromEnv = process.env.CRD_DIR;
  const dir = path.resolve(
    REPO,
    fromEnv !== undefined && fromEnv !== '' ? fromEnv : '../shared/crds',
  );
  const missing = CRD_FOLDERS.filter((folder) => !existsSync(path.join(dir, folder)));
  if (missing.length > 0) {
    throw new Error(
      `no CRDs at ${dir} (missing ${missing.join(', ')}): set CRD_DIR to the folder holding the operators' CRDs (${CRD_FOLDERS.join(', ')}; default ../shared/crds beside the repository)`,
    );
  }
  return dir;
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
  const dir = path.join(crdDir(), folder);
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
