// Stamps a copy of the chart for a release (make release, make publish): version and
// appVersion, the image's repository and digest in values.yaml (the `realtime-offers.image`
// helper then renders repository@digest), and Artifact Hub's images and changes annotations,
// the changes read from the version's CHANGELOG.md section. The source chart is never touched.
// Usage: node --import tsx scripts/release/stamp-chart.ts --chart DIR --version X.Y.Z
//          --repository REGISTRY/realtime-offers --digest sha256:... --changelog CHANGELOG.md
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { parseDocument, stringify } from 'yaml';

export interface ReleaseStamp {
  readonly version: string;
  readonly repository: string;
  readonly digest: string;
  readonly changelog: string;
}

export interface Change {
  readonly kind: string;
  readonly description: string;
}

/** Keep a Changelog's headings and the kinds Artifact Hub knows them by. */
const KINDS: Readonly<Record<string, string>> = {
  Added: 'added',
  Changed: 'changed',
  Deprecated: 'deprecated',
  Removed: 'removed',
  Fixed: 'fixed',
  Security: 'security',
};

/** The body of `## [version] - date` in a Keep a Changelog file, up to the next version. */
export function changelogSection(changelog: string, version: string): string {
  const lines = changelog.split('\n');
  const start = lines.findIndex((line) => line.startsWith(`## [${version}] - `));
  if (start < 0) throw new Error(`CHANGELOG.md has no section "## [${version}] - YYYY-MM-DD"`);
  const end = lines.findIndex((line, at) => at > start && line.startsWith('## '));
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The entries of a section under its Added/Changed/... headings; other parts (Upgrading) are not changes. */
export function artifactHubChanges(section: string): Change[] {
  const changes: Change[] = [];
  let kind: string | undefined;
  let current: string[] | undefined;
  const flush = () => {
    if (kind !== undefined && current !== undefined) {
      changes.push({ kind, description: current.join(' ').replace(/\s+/g, ' ').trim() });
    }
    current = undefined;
  };
  for (const line of section.split('\n')) {
    const heading = /^### (.+)$/.exec(line);
    if (heading) {
      flush();
      kind = KINDS[heading[1]?.trim() ?? ''];
    } else if (line.startsWith('- ')) {
      flush();
      current = [line.slice(2)];
    } else if (current !== undefined && /^\s+\S/.test(line)) {
      current.push(line.trim());
    } else if (line.trim() !== '') {
      flush();
    }
  }
  flush();
  return changes;
}

/** Rewrites Chart.yaml and values.yaml of the chart copy in `chartDir`. */
export function stampChart(chartDir: string, stamp: ReleaseStamp): void {
  if (!/^sha256:[0-9a-f]{64}$/.test(stamp.digest)) {
    throw new Error(`not an image digest: ${stamp.digest}`);
  }
  const changes = artifactHubChanges(changelogSection(stamp.changelog, stamp.version));
  if (changes.length === 0) throw new Error(`CHANGELOG.md lists no changes for ${stamp.version}`);
  const chartFile = path.join(chartDir, 'Chart.yaml');
  const chart = parseDocument(readFileSync(chartFile, 'utf8'));
  chart.set('version', stamp.version);
  chart.set('appVersion', stamp.version);
  const image = `${stamp.repository}@${stamp.digest}`;
  chart.setIn(
    ['annotations', 'artifacthub.io/images'],
    stringify([{ name: 'realtime-offers', image }]),
  );
  chart.setIn(['annotations', 'artifacthub.io/changes'], stringify(changes));
  chart.setIn(['annotations', 'artifacthub.io/prerelease'], String(stamp.version.includes('-')));
  writeFileSync(chartFile, chart.toString());

  const valuesFile = path.join(chartDir, 'values.yaml');
  const values = parseDocument(readFileSync(valuesFile, 'utf8'));
  values.setIn(['image', 'repository'], stamp.repository);
  values.setIn(['image', 'digest'], stamp.digest);
  writeFileSync(valuesFile, values.toString());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      chart: { type: 'string' },
      version: { type: 'string' },
      repository: { type: 'string' },
      digest: { type: 'string' },
      changelog: { type: 'string' },
    },
  });
  const { chart, version, repository, digest, changelog } = values;
  if (!chart || !version || !repository || !digest || !changelog) {
    throw new Error(
      'usage: stamp-chart.ts --chart DIR --version X.Y.Z --repository REPO --digest sha256:... --changelog FILE',
    );
  }
  stampChart(chart, { version, repository, digest, changelog: readFileSync(changelog, 'utf8') });
  console.error(`[release] chart ${version}: image ${repository}@${digest}`);
}
