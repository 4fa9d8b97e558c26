import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { parse } from 'yaml';

import { at, CHART, REPO } from './support.js';

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

/** Instructions of the Dockerfile, continuation lines joined and comments dropped. */
function instructions(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    current += line.replace(/\\\s*$/, ' ');
    if (!/\\\s*$/.test(line)) {
      if (current.trim() !== '') logical.push(current.trim());
      current = '';
    }
  }
  return logical.map((line) => {
    const [keyword = '', ...rest] = line.split(/\s+/);
    return { keyword: keyword.toUpperCase(), args: rest.join(' ') };
  });
}

const DOCKERFILE = readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');
const ALL = instructions(DOCKERFILE);
const lastFrom = ALL.map((instruction) => instruction.keyword).lastIndexOf('FROM');
const FINAL = ALL.slice(lastFrom);
const last = (keyword: string) =>
  FINAL.filter((instruction) => instruction.keyword === keyword).at(-1)?.args;

describe('Dockerfile', () => {
  it('is multi-stage and starts the compiled service', () => {
    assert.ok(ALL.filter((instruction) => instruction.keyword === 'FROM').length >= 2);
    const entrypoint = JSON.parse(last('ENTRYPOINT') ?? '[]') as string[];
    assert.ok(
      entrypoint.some((part) => part.endsWith('dist/cli/main.js')),
      entrypoint.join(' '),
    );
    assert.ok(entrypoint[0]?.endsWith('/node'), 'node runs the compiled JavaScript, not tsx');
    assert.deepEqual(JSON.parse(last('CMD') ?? '[]'), ['consume']);
    assert.equal(last('STOPSIGNAL'), 'SIGTERM');
  });

  it('runs as a numeric non-root user', () => {
    const user = last('USER') ?? '';
    assert.match(user, /^\d+(:\d+)?$/, 'numeric, so runAsNonRoot can verify it');
    assert.notEqual(user.split(':')[0], '0');
    const podUser = at(
      parse(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')),
      'podSecurityContext',
      'runAsUser',
    );
    assert.equal(String(podUser), user.split(':')[0]);
  });

  it('installs production dependencies from the lock with .npmrc, and keeps linux/x64 onnxruntime only', () => {
    assert.match(DOCKERFILE, /COPY package\.json package-lock\.json \.npmrc/);
    assert.match(DOCKERFILE, /npm install --omit=dev/);
    assert.match(DOCKERFILE, /onnxruntime-node\/bin[\s\S]*linux\/x64/);
    assert.match(readFileSync(path.join(REPO, '.npmrc'), 'utf8'), /onnxruntime-node-install=skip/);
  });

  it("bakes the model where the chart's MODEL_PATH points", () => {
    const modelPath = at(
      parse(readFileSync(path.join(CHART, 'values.yaml'), 'utf8')),
      'model',
      'path',
    );
    const workdir = last('WORKDIR');
    const copy = FINAL.find(
      (instruction) =>
        instruction.keyword === 'COPY' && instruction.args.includes('offer_model.onnx'),
    );
    assert.ok(copy && workdir);
    const target = copy.args.split(/\s+/).at(-1) ?? '';
    assert.equal(path.posix.resolve(workdir, target), modelPath);
  });

  it('sends only the build inputs to the Docker daemon', () => {
    const ignore = readFileSync(path.join(REPO, '.dockerignore'), 'utf8');
    assert.match(ignore, /^\*$/m);
    for (const kept of ['!package-lock.json', '!.npmrc', '!src/', '!model/offer_model.onnx']) {
      assert.ok(ignore.includes(kept), kept);
    }
  });

  it('passes hadolint', () => {
    const candidates = [path.join(REPO, '.cache/bin/hadolint'), 'hadolint'];
    const hadolint = candidates.find((candidate) =>
      candidate.includes('/')
        ? existsSync(candidate)
        : spawnSync(candidate, ['--version']).status === 0,
    );
    assert.ok(
      hadolint !== undefined,
      'hadolint is not installed: run scripts/tools/install-hadolint.sh (make deps does)',
    );
    const result = spawnSync(hadolint, ['Dockerfile'], { cwd: REPO, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });
});
