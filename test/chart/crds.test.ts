import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';

import { CRD_FOLDERS, crdDir } from './crds.js';

describe('the operators CRD folder', () => {
  it('pins one folder per operator version', () => {
    assert.deepEqual(
      CRD_FOLDERS.map((folder) => folder.replace(/-v?[0-9.]+$/, '')),
      ['strimzi', 'keda', 'altinity', 'prometheus-operator'],
    );
  });

  it('is found through CRD_DIR, and its absence names the variable and the pinned folders', (t) => {
    const empty = mkdtempSync(path.join(tmpdir(), 'crds-'));
    const before = process.env.CRD_DIR;
    t.after(() => {
      rmSync(empty, { recursive: true, force: true });
      if (before === undefined) delete process.env.CRD_DIR;
      else process.env.CRD_DIR = before;
    });
    process.env.CRD_DIR = empty;
    assert.throws(
      () => crdDir(),
      (error: Error) =>
        error.message.includes(`no CRDs at ${empty}`) &&
        error.message.includes('set CRD_DIR') &&
        CRD_FOLDERS.every((folder) => error.message.includes(folder)),
    );
  });
});
