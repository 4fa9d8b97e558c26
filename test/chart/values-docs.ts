import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { CHART, REPO } from './support.js';

/**
 * The chart's README.md and the descriptions in values.schema.json come from one source:
 * the `# --` comments of values.yaml, read by helm-docs (pinned in
 * scripts/tools/install-helm-docs.sh). `make chart-docs` writes both files; the chart tests
 * compare them with what this module generates, so a stale one fails `make test`.
 *
 * Usage: node --import tsx test/chart/values-docs.ts [--check]
 */

export const README = path.join(CHART, 'README.md');
export const SCHEMA = path.join(CHART, 'values.schema.json');
const README_TEMPLATE = path.join(CHART, 'README.md.gotmpl');
const DESCRIPTIONS_TEMPLATE = fileURLToPath(new URL('value-descriptions.gotmpl', import.meta.url));

export function helmDocsBinary(): string {
  const binary = path.join(REPO, '.cache/bin/helm-docs');
  if (!existsSync(binary)) {
    throw new Error(
      `helm-docs not found at ${binary}: run 'make tools' (scripts/tools/install-helm-docs.sh builds the pinned version)`,
    );
  }
  return binary;
}

/** helm-docs' output for one template, or an error with what helm-docs said. */
function helmDocs(template: string): string {
  // helm-docs falls back to its default template, silently, when a template file is missing.
  if (!existsSync(template)) throw new Error(`no helm-docs template at ${template}`);
  const result = spawnSync(
    helmDocsBinary(),
    [
      '--chart-search-root',
      CHART,
      '--dry-run',
      '--sort-values-order',
      'file',
      '--skip-version-footer',
      '--log-level',
      'warning',
      '--template-files',
      template,
    ],
    { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 },
  );
  if (result.error) throw result.error;
  // It reports unreadable values or templates as warnings and still exits 0.
  if (result.status !== 0 || result.stderr.trim() !== '' || result.stdout.trim() === '') {
    throw new Error(`helm-docs failed (exit ${result.status}):\n${result.stderr}`);
  }
  return result.stdout;
}

export function renderReadme(): string {
  return helmDocs(README_TEMPLATE);
}

export interface ValueDescription {
  readonly key: string;
  readonly description: string;
}

/** Every value helm-docs lists (documented ones, and undocumented leaves), in file order. */
export function valueDescriptions(): ValueDescription[] {
  return JSON.parse(helmDocs(DESCRIPTIONS_TEMPLATE)) as ValueDescription[];
}

export interface SchemaNode {
  type?: string | string[];
  description?: string;
  properties?: Record<string, SchemaNode>;
  [keyword: string]: unknown;
}

/** The node of a dotted values key (`kafka.sasl.enabled`), if the schema declares it. */
export function schemaNode(schema: SchemaNode, key: string): SchemaNode | undefined {
  let node: SchemaNode | undefined = schema;
  for (const part of key.split('.')) node = node?.properties?.[part];
  return node;
}

/** Every property of the schema, as [dotted key, node], parents before their children. */
export function schemaProperties(node: SchemaNode, prefix = ''): [string, SchemaNode][] {
  return Object.entries(node.properties ?? {}).flatMap(([name, child]) => {
    const key = prefix === '' ? name : `${prefix}.${name}`;
    return [[key, child] as [string, SchemaNode], ...schemaProperties(child, key)];
  });
}

/** `node` with `description` right after `type` (or first), replacing any previous one. */
function withDescription(node: SchemaNode, description: string): SchemaNode {
  const entries = Object.entries(node).filter(([keyword]) => keyword !== 'description');
  const at = entries.findIndex(([keyword]) => keyword === 'type') + 1;
  entries.splice(at, 0, ['description', description]);
  return Object.fromEntries(entries);
}

export interface DescribedSchema {
  readonly text: string;
  /** Values without a description, and documented values the schema lacks. */
  readonly problems: readonly string[];
}

/** The schema text with each property's description taken from values.yaml. */
export function describeSchema(
  schemaText: string,
  descriptions: readonly ValueDescription[],
): DescribedSchema {
  const byKey = new Map(descriptions.map(({ key, description }) => [key, description.trim()]));
  const problems: string[] = [];
  const original = JSON.parse(schemaText) as SchemaNode;
  for (const key of byKey.keys()) {
    if (schemaNode(original, key) === undefined) {
      problems.push(`values.yaml has ${key}, values.schema.json does not`);
    }
  }
  const describe = (node: SchemaNode, prefix: string): SchemaNode => {
    if (node.properties === undefined) return node;
    const properties = Object.fromEntries(
      Object.entries(node.properties).map(([name, child]) => {
        const key = prefix === '' ? name : `${prefix}.${name}`;
        const description = byKey.get(key) ?? '';
        if (description === '') {
          problems.push(
            `${key} has no description: write a "# --" comment above it in values.yaml, then run make chart-docs`,
          );
        }
        return [name, withDescription(describe(child, key), description)];
      }),
    );
    return { ...node, properties };
  };
  const schema = describe(original, '');
  return { text: `${JSON.stringify(schema, null, 2)}\n`, problems };
}

function main(check: boolean): number {
  const schema = describeSchema(readFileSync(SCHEMA, 'utf8'), valueDescriptions());
  if (schema.problems.length > 0) {
    process.stderr.write(`${schema.problems.join('\n')}\n`);
    return 1;
  }
  const generated: readonly (readonly [string, string])[] = [
    [README, renderReadme()],
    [SCHEMA, schema.text],
  ];
  const stale = generated.filter(
    ([file, text]) => !existsSync(file) || readFileSync(file, 'utf8') !== text,
  );
  if (check) {
    for (const [file] of stale) process.stderr.write(`${file} is stale: run make chart-docs\n`);
    return stale.length === 0 ? 0 : 1;
  }
  for (const [file, text] of stale) writeFileSync(file, text);
  const written = stale.map(([file]) => path.relative(REPO, file)).join(', ');
  process.stdout.write(stale.length === 0 ? 'chart docs up to date\n' : `wrote ${written}\n`);
  return 0;
}

if (
  process.argv[1] !== undefined &&
  path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)
) {
  process.exitCode = main(process.argv.includes('--check'));
}
