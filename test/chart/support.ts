import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

import { parseAllDocuments } from 'yaml';

/** Shared by the chart tests: find helm, render the chart, read manifests. */

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const CHART = path.join(REPO, 'charts/realtime-offers');

export type Manifest = Record<string, unknown> & {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
};

/**
 * The Kubernetes version the chart is rendered and linted for (`--kube-version`): the kind
 * node's, which make test-cluster's cluster runs too. Chart.yaml's kubeVersion is checked
 * against it, so no test depends on the version a helm binary assumes without a cluster.
 */
export const KUBE_VERSION = readEnvFile(
  path.join(REPO, 'scripts/cluster/versions.env'),
).K8S_VERSION;

/** The values files every rendering test runs with (default = values.yaml alone). */
export const VALUES_FILES: readonly { readonly name: string; readonly files: readonly string[] }[] =
  [
    { name: 'default', files: [] },
    { name: 'kind', files: ['values-kind.yaml'] },
    { name: 'production example', files: ['values-production-example.yaml'] },
    {
      name: 'ClickHouse cluster',
      files: ['values-production-example.yaml', 'values-clickhouse-cluster.yaml'],
    },
  ];

let helmPath: string | undefined;

/** helm from `make tools` (<repo>/.cache/bin/helm), else from PATH; a clear error otherwise. */
export function helmBinary(): string {
  if (helmPath !== undefined) return helmPath;
  const cached = path.join(REPO, '.cache/bin/helm');
  if (existsSync(cached)) return (helmPath = cached);
  if (spawnSync('helm', ['version', '--short'], { encoding: 'utf8' }).status === 0) {
    return (helmPath = 'helm');
  }
  throw new Error(
    `helm not found at ${cached} nor on PATH: run 'make tools' (scripts/tools/install-helm.sh builds the pinned helm)`,
  );
}

export interface HelmResult {
  readonly status: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function helm(args: readonly string[]): HelmResult {
  const result = spawnSync(helmBinary(), [...args], {
    cwd: CHART,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.error) throw result.error;
  return { status: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

function valuesArgs(files: readonly string[], sets: readonly string[]): string[] {
  return [...files.flatMap((file) => ['-f', file]), ...sets.flatMap((set) => ['--set', set])];
}

/**
 * `helm template` with the given values files, --set flags and any other flags (e.g.
 * --set-string, --api-versions); hooks and tests included.
 */
export function template(
  files: readonly string[],
  sets: readonly string[] = [],
  flags: readonly string[] = [],
): HelmResult {
  return helm([
    'template',
    'offers',
    '.',
    '--namespace',
    'offers',
    '--kube-version',
    kubeVersion(),
    ...valuesArgs(files, sets),
    ...flags,
  ]);
}

/** `helm lint --strict` with the given values files and --set flags. */
export function lint(files: readonly string[], sets: readonly string[] = []): HelmResult {
  return helm([
    'lint',
    '--strict',
    '.',
    '--kube-version',
    kubeVersion(),
    ...valuesArgs(files, sets),
  ]);
}

function kubeVersion(): string {
  if (KUBE_VERSION === undefined)
    throw new Error('K8S_VERSION missing in scripts/cluster/versions.env');
  return KUBE_VERSION;
}

export function parseManifests(text: string): Manifest[] {
  return parseAllDocuments(text)
    .map((document) => {
      if (document.errors.length > 0) throw new Error(document.errors.map(String).join('\n'));
      return document.toJS() as unknown;
    })
    .filter((value): value is Manifest => typeof value === 'object' && value !== null);
}

/** Renders and parses; fails with helm's message when rendering fails. */
export function render(files: readonly string[], sets: readonly string[] = []): Manifest[] {
  const result = template(files, sets);
  if (result.status !== 0) {
    throw new Error(`helm template ${files.join(' ')} ${sets.join(' ')} failed:\n${result.stderr}`);
  }
  return parseManifests(result.stdout);
}

export function readManifests(file: string): Manifest[] {
  return parseManifests(readFileSync(file, 'utf8'));
}

export function only(manifests: readonly Manifest[], kind: string): Manifest {
  const found = manifests.filter((manifest) => manifest.kind === kind);
  const [first] = found;
  if (first === undefined || found.length !== 1) {
    throw new Error(`expected one ${kind}, found ${found.length}`);
  }
  return first;
}

export function all(manifests: readonly Manifest[], kind: string): Manifest[] {
  return manifests.filter((manifest) => manifest.kind === kind);
}

/** Reads a nested property, e.g. at(obj, 'spec', 'template', 'spec'). */
export function at(value: unknown, ...keys: (string | number)[]): unknown {
  let current = value;
  for (const key of keys) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

export interface Container {
  readonly name: string;
  readonly image?: string;
  readonly args?: string[];
  readonly env?: EnvVar[];
  readonly securityContext?: Record<string, unknown>;
  readonly resources?: { requests?: Record<string, unknown>; limits?: Record<string, unknown> };
  readonly livenessProbe?: Record<string, unknown>;
  readonly readinessProbe?: Record<string, unknown>;
  readonly volumeMounts?: { name: string; mountPath: string }[];
}

export interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: {
    secretKeyRef?: { name: string; key: string };
    fieldRef?: { fieldPath: string };
  };
}

/** The pod spec of a Deployment, StatefulSet, Job or bare Pod. */
export function podSpec(manifest: Manifest): Record<string, unknown> {
  const spec =
    manifest.kind === 'Pod' ? at(manifest, 'spec') : at(manifest, 'spec', 'template', 'spec');
  if (typeof spec !== 'object' || spec === null) {
    throw new Error(`${manifest.kind}/${manifest.metadata.name} has no pod spec`);
  }
  return spec as Record<string, unknown>;
}

export function containers(manifest: Manifest): Container[] {
  const spec = podSpec(manifest);
  return [
    ...((spec.initContainers ?? []) as Container[]),
    ...((spec.containers ?? []) as Container[]),
  ];
}

export const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'Job', 'Pod']);

/**
 * The environment a container sees, as Kubernetes builds it: Secret and downward-API
 * values replaced by placeholders, and $(VAR) references expanded in declaration order.
 */
export function resolvedEnv(
  container: Container,
  secret = (name: string, key: string) => `secret-${name}-${key}`,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    let value: string;
    if (variable.valueFrom?.secretKeyRef) {
      value = secret(variable.valueFrom.secretKeyRef.name, variable.valueFrom.secretKeyRef.key);
    } else if (variable.valueFrom?.fieldRef) {
      value = `field-${variable.valueFrom.fieldRef.fieldPath}`;
    } else {
      value = (variable.value ?? '').replace(
        /\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
        (reference, name: string) => env[name] ?? reference,
      );
    }
    env[variable.name] = value;
  }
  return env;
}

/** Every ${KEY}=value line of a shell env file (scripts/kind/versions.env). */
export function readEnvFile(file: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined) values[match[1]] = match[2];
  }
  return values;
}
