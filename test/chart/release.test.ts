import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';

import { parse } from 'yaml';

import {
  artifactHubChanges,
  changelogSection,
  stampChart,
} from '../../scripts/release/stamp-chart.js';
import {
  all,
  CHART,
  containers,
  helm,
  KUBE_VERSION,
  parseManifests,
  readEnvFile,
  REPO,
  WORKLOAD_KINDS,
} from './support.js';

/** What make release adds to the chart (scripts/release/stamp-chart.ts), and the files a release needs. */
const packageJson = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
  version: string;
  license: string;
};
const CHANGELOG = readFileSync(path.join(REPO, 'CHANGELOG.md'), 'utf8');
const DIGEST = `sha256:${'0123456789abcdef'.repeat(4)}`;
const REPOSITORY = '10.244.0.1:5000/realtime-offers';

describe('release: CHANGELOG.md and LICENSE', () => {
  it("has a Keep a Changelog section for package.json's version, with changes and an Upgrading part", () => {
    assert.match(CHANGELOG, /^## \[Unreleased\]$/m);
    const section = changelogSection(CHANGELOG, packageJson.version);
    assert.match(section, /^### Upgrading$/m);
    const changes = artifactHubChanges(section);
    assert.ok(changes.length > 0);
    for (const change of changes) {
      assert.ok(
        ['added', 'changed', 'deprecated', 'removed', 'fixed', 'security'].includes(change.kind),
      );
      assert.doesNotMatch(change.description, /\n|^\s|\s$/);
    }
  });

  it('reads the entries under their headings, joins wrapped lines and leaves Upgrading out', () => {
    const section = changelogSection(
      [
        '## [Unreleased]',
        '## [1.2.0] - 2027-01-02',
        '### Added',
        '- one thing',
        '  wrapped',
        '- another',
        '### Fixed',
        '- a bug',
        '### Upgrading',
        '- not a change',
        '## [1.1.0] - 2026-12-30',
        '### Removed',
        '- older',
      ].join('\n'),
      '1.2.0',
    );
    assert.deepEqual(artifactHubChanges(section), [
      { kind: 'added', description: 'one thing wrapped' },
      { kind: 'added', description: 'another' },
      { kind: 'fixed', description: 'a bug' },
    ]);
    assert.throws(() => changelogSection(CHANGELOG, '9.9.9'), /no section "## \[9\.9\.9\]/);
  });

  it("is licensed under Apache-2.0 as package.json and Chart.yaml say, with the license's text", () => {
    assert.equal(packageJson.license, 'Apache-2.0');
    const license = readFileSync(path.join(REPO, 'LICENSE'), 'utf8');
    assert.match(license, /^\s+Apache License\n\s+Version 2\.0, January 2004\n/);
    assert.match(license, /END OF TERMS AND CONDITIONS/);
  });
});

describe('release: the stamped chart', () => {
  const stage = mkdtempSync(path.join(tmpdir(), 'offers-release-'));
  const chart = path.join(stage, 'realtime-offers');
  after(() => {
    rmSync(stage, { recursive: true, force: true });
  });
  cpSync(CHART, chart, { recursive: true });
  const version = '1.2.3-rc.1';
  stampChart(chart, {
    version,
    repository: REPOSITORY,
    digest: DIGEST,
    changelog: CHANGELOG.replace(`## [${packageJson.version}] - `, `## [${version}] - `),
  });

  it('names the version, the image by digest and the changes for Artifact Hub', () => {
    const chartYaml = parse(readFileSync(path.join(chart, 'Chart.yaml'), 'utf8')) as {
      version: string;
      appVersion: string;
      annotations: Record<string, string>;
    };
    assert.equal(chartYaml.version, version);
    assert.equal(chartYaml.appVersion, version);
    assert.deepEqual(parse(chartYaml.annotations['artifacthub.io/images'] ?? ''), [
      { name: 'realtime-offers', image: `${REPOSITORY}@${DIGEST}` },
    ]);
    const changes = parse(chartYaml.annotations['artifacthub.io/changes'] ?? '') as unknown[];
    assert.deepEqual(changes, artifactHubChanges(changelogSection(CHANGELOG, packageJson.version)));
    assert.equal(chartYaml.annotations['artifacthub.io/prerelease'], 'true');
    assert.equal(chartYaml.annotations['artifacthub.io/license'], packageJson.license);
    // The source chart is untouched.
    assert.equal(
      (parse(readFileSync(path.join(CHART, 'Chart.yaml'), 'utf8')) as { version: string }).version,
      packageJson.version,
    );
  });

  it('keeps the comments of values.yaml, which `helm show values` prints', () => {
    const values = readFileSync(path.join(chart, 'values.yaml'), 'utf8');
    assert.match(
      values,
      /# -- Image digest \(sha256:\.\.\.\); when set it wins[^\n]*\n(\s*#[^\n]*\n)*\s+digest: /,
    );
    assert.equal(
      (parse(values) as { image: { digest: string; repository: string; tag: string } }).image
        .digest,
      DIGEST,
    );
  });

  it('lints, and every container of every workload, hooks and tests included, runs the image by digest', () => {
    const linted = helm(['lint', '--strict', chart, '--kube-version', KUBE_VERSION ?? '']);
    assert.equal(linted.status, 0, linted.stdout + linted.stderr);
    const render = (...sets: string[]) => {
      const rendered = helm([
        'template',
        'offers',
        chart,
        '--kube-version',
        KUBE_VERSION ?? '',
        ...sets,
      ]);
      assert.equal(rendered.status, 0, rendered.stderr);
      return parseManifests(rendered.stdout).filter((m) => WORKLOAD_KINDS.has(m.kind));
    };
    const workloads = render();
    assert.deepEqual([...new Set(workloads.map((m) => m.kind))].sort(), [
      'Deployment',
      'Job',
      'Pod',
    ]);
    // A tag given at install time changes nothing while the digest is set.
    for (const workload of [...workloads, ...render('--set-string', 'image.tag=20261206')]) {
      for (const container of containers(workload)) {
        assert.equal(container.image, `${REPOSITORY}@${DIGEST}`, workload.metadata.name);
      }
    }
    for (const deployment of all(workloads, 'Deployment')) {
      assert.equal(deployment.metadata.labels?.['app.kubernetes.io/version'], version);
    }
  });

  it('refuses a digest that is not sha256:<64 hex>', () => {
    assert.throws(() => {
      stampChart(chart, {
        version,
        repository: REPOSITORY,
        digest: 'sha256:abc',
        changelog: CHANGELOG,
      });
    }, /not an image digest/);
  });
});

describe('release: scripts/release', () => {
  it('names its images and chart path in release.env, and the cluster test pins the registry it runs', () => {
    const env = readEnvFile(path.join(REPO, 'scripts/release/release.env'));
    assert.equal(env.SERVICE_IMAGE_NAME, 'realtime-offers');
    assert.equal(env.LOADTEST_IMAGE_NAME, 'realtime-offers-loadtest');
    assert.equal(env.CHART_PATH, 'charts');
    assert.match(
      readEnvFile(path.join(REPO, 'scripts/cluster/versions.env')).DISTRIBUTION_VERSION ?? '',
      /^v3\.\d+\.\d+$/,
    );
  });
});
