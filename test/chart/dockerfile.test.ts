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
const last = (keyword: string, stage: readonly Instruction[] = FINAL) =>
  stage.filter((instruction) => instruction.keyword === keyword).at(-1)?.args;

/** Stages by name (`FROM image AS name`), each from its FROM to the next. */
const STAGES = new Map<string, Instruction[]>();
for (const [index, instruction] of ALL.entries()) {
  if (instruction.keyword !== 'FROM') continue;
  const name = /\sAS\s+(\S+)$/i.exec(instruction.args)?.[1];
  const end = ALL.findIndex((next, at) => at > index && next.keyword === 'FROM');
  if (name !== undefined) STAGES.set(name, ALL.slice(index, end < 0 ? undefined : end));
}

/** The stages a stage is built from: its FROM and its COPY --from, transitively. */
function stagesBehind(stage: readonly Instruction[]): Set<string> {
  const found = new Set<string>();
  const visit = (instructions: readonly Instruction[]): void => {
    for (const { keyword, args } of instructions) {
      const from = keyword === 'FROM' ? args.split(/\s+/)[0] : /--from=(\S+)/.exec(args)?.[1];
      const named = from === undefined ? undefined : STAGES.get(from);
      if (from !== undefined && named !== undefined && !found.has(from)) {
        found.add(from);
        visit(named);
      }
    }
  };
  visit(stage);
  return found;
}

/** Sources of the COPY instructions that read the build context (no --from). */
const contextSources = (instructions: readonly Instruction[]): string[] =>
  instructions
    .filter(({ keyword, args }) => keyword === 'COPY' && !args.includes('--from='))
    .flatMap(({ args }) =>
      args
        .split(/\s+/)
        .filter((part) => !part.startsWith('--'))
        .slice(0, -1),
    );

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

  it('builds and runs on the Node.js of .node-version, the one the tests run on', () => {
    const pinned = readFileSync(path.join(REPO, '.node-version'), 'utf8').trim();
    const arg = ALL.find(
      ({ keyword, args }) => keyword === 'ARG' && args.startsWith('NODE_VERSION='),
    );
    assert.equal(arg?.args, `NODE_VERSION=${pinned}`, 'the Dockerfile pins .node-version');
    // The build stages run the official image of that version; the runtime stages run the
    // same binary, copied from the build stage, not a base image's own Node.
    assert.match(DOCKERFILE, /^ARG NODE_IMAGE=node:\$\{NODE_VERSION\}-/m);
    for (const stage of [FINAL, STAGES.get('loadtest') ?? []]) {
      assert.ok(
        stage.some(
          ({ keyword, args }) =>
            keyword === 'COPY' &&
            /--from=deps\b.*\/usr\/local\/bin\/node \/nodejs\/bin\/node$/.test(args),
        ),
        'a runtime stage copies the build stage node',
      );
    }
    assert.equal(process.versions.node, pinned, 'the tests run on the pinned Node (make test)');
    assert.equal(
      process.versions.node.split('.')[0],
      arg.args.replace('NODE_VERSION=', '').split('.')[0],
      "the image's Node major is the test runtime's",
    );
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

  it("installs production dependencies from the lock with .npmrc, and keeps onnxruntime for the image's architecture only", () => {
    assert.match(DOCKERFILE, /COPY package\.json package-lock\.json \.npmrc/);
    assert.match(DOCKERFILE, /npm install --omit=dev/);
    // The architecture comes from the stage's Node (x64 or arm64), never a fixed linux/x64.
    assert.match(DOCKERFILE, /arch="\$\(node -p process\.arch\)"/);
    assert.match(DOCKERFILE, /! -path "\*\/linux\/\$arch"/);
    assert.match(DOCKERFILE, /linux\/"\$arch"\/onnxruntime_binding\.node/);
    assert.doesNotMatch(DOCKERFILE.replace(/^#.*$/gm, ''), /linux\/x64/);
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

  it('sends only the build inputs to the Docker daemon, and every one a COPY reads', () => {
    const ignore = readFileSync(path.join(REPO, '.dockerignore'), 'utf8');
    assert.match(ignore, /^\*$/m);
    const kept = ignore
      .split('\n')
      .filter((line) => line.startsWith('!'))
      .map((line) => line.slice(1));
    const inContext = (source: string): boolean =>
      kept.some(
        (entry) =>
          entry === source ||
          entry === `${source}/` ||
          (entry.endsWith('/') && source.startsWith(entry)),
      );
    for (const source of contextSources(ALL)) {
      assert.ok(inContext(source), `COPY ${source}, but .dockerignore leaves it out`);
    }
  });

  it('keeps the load test and its Kubernetes client out of the service image', () => {
    const behind = stagesBehind(FINAL);
    assert.ok(!behind.has('loadtest-deps') && !behind.has('loadtest-build'), [...behind].join());
    const serviceStages = [FINAL, ...[...behind].map((name) => STAGES.get(name) ?? [])];
    for (const source of serviceStages.flatMap(contextSources)) {
      assert.ok(!source.startsWith('tools'), `the service image is built from ${source}`);
    }
  });

  it('builds the load test as its own target, run as the same non-root user', () => {
    const loadtest = STAGES.get('loadtest');
    assert.ok(loadtest, 'a stage named loadtest (docker build --target loadtest)');
    const entrypoint = JSON.parse(last('ENTRYPOINT', loadtest) ?? '[]') as string[];
    assert.ok(entrypoint[0]?.endsWith('/node'), 'node runs the compiled JavaScript, not tsx');
    // tools/loadtest/tsconfig.build.json mirrors the repository from its rootDir into dist/.
    const build = JSON.parse(
      readFileSync(path.join(REPO, 'tools/loadtest/tsconfig.build.json'), 'utf8'),
    ) as { compilerOptions: { rootDir: string } };
    const rootDir = path.join(REPO, 'tools/loadtest', build.compilerOptions.rootDir);
    const main = path.relative(rootDir, path.join(REPO, 'tools/loadtest/src/main.ts'));
    assert.equal(entrypoint[1], `/app/dist/${main.replace(/\.ts$/, '.js')}`);
    assert.ok(existsSync(path.join(REPO, 'tools/loadtest/src/main.ts')));
    assert.equal(last('USER', loadtest), last('USER'));
  });

  it("labels both images with their OCI title, description and package.json's license", () => {
    const license = (
      JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { license: string }
    ).license;
    const labels = (stage: readonly Instruction[]): Map<string, string> =>
      new Map(
        [
          ...stage
            .filter(({ keyword }) => keyword === 'LABEL')
            .flatMap(({ args }) => [...args.matchAll(/([a-z.]+)="([^"]*)"/g)]),
        ].map((match) => [match[1] ?? '', match[2] ?? '']),
      );
    for (const [name, stage] of [
      ['realtime-offers', FINAL],
      ['realtime-offers-loadtest', STAGES.get('loadtest') ?? []],
    ] as const) {
      const found = labels(stage);
      assert.equal(found.get('org.opencontainers.image.title'), name);
      assert.ok((found.get('org.opencontainers.image.description') ?? '').length > 20, name);
      assert.equal(found.get('org.opencontainers.image.licenses'), license, name);
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
      'hadolint is not installed: run scripts/tools/install-hadolint.sh (make tools does)',
    );
    const result = spawnSync(hadolint, ['Dockerfile'], { cwd: REPO, encoding: 'utf8' });
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });
});
