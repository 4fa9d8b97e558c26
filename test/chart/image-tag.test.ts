import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { only, parseManifests, REPO, template } from './support.js';

/** The files that install the chart with an image tag from the command line. */
const INSTALLERS = [
  'scripts/kind/up.sh',
  ...readdirSync(path.join(REPO, 'scripts/cluster')).map((file) => `scripts/cluster/${file}`),
  ...readdirSync(path.join(REPO, 'test/cluster')).map((file) => `test/cluster/${file}`),
];

/** The flag scripts/kind/up.sh gives image.tag with (`--set` or `--set-string`). */
function kindUpTagFlag(): string {
  const script = readFileSync(path.join(REPO, 'scripts/kind/up.sh'), 'utf8');
  const flag = /(--set(?:-string)?)\s+"image\.tag=\$image_tag"/.exec(script)?.[1];
  assert.ok(flag !== undefined, 'scripts/kind/up.sh sets image.tag from $image_tag');
  return flag;
}

function renderedImage(
  flag: string,
  tag: string,
): { status: number; image?: string; stderr: string } {
  const result = template(['values-kind.yaml'], [], [flag, `image.tag=${tag}`]);
  if (result.status !== 0) return { status: result.status, stderr: result.stderr };
  const deployment = only(parseManifests(result.stdout), 'Deployment') as unknown as {
    spec: { template: { spec: { containers: { image: string }[] } } };
  };
  return {
    status: 0,
    image: deployment.spec.template.spec.containers[0]?.image,
    stderr: result.stderr,
  };
}

describe('image tags that are image ids', () => {
  // The first 12 hex digits of an image id can all be decimal digits, and may start with 0.
  for (const tag of ['229989923213', '012345678901']) {
    it(`installs tag ${tag} as that exact string, the way make kind-up does`, () => {
      const rendered = renderedImage(kindUpTagFlag(), tag);
      assert.equal(rendered.status, 0, rendered.stderr);
      assert.equal(rendered.image, `realtime-offers:${tag}`);
    });
  }

  it('is refused by the schema when given with a plain --set (the failure --set-string avoids)', () => {
    const rendered = renderedImage('--set', '229989923213');
    assert.notEqual(rendered.status, 0);
    assert.match(rendered.stderr, /image\/tag.*want string|got number/);
  });

  it('is never given with a plain --set by the scripts and tests that install the chart', () => {
    const plainSet = /--set['"]?[\s,]+['"`]?image\.tag=/;
    const offenders = INSTALLERS.filter((file) =>
      plainSet.test(readFileSync(path.join(REPO, file), 'utf8')),
    );
    assert.deepEqual(offenders, []);
  });
});
