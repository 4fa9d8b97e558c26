import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { ENVIRONMENT_VARIABLES } from '../../src/config/config.js';

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

/** Variables named in the first cell of a README table row: `| \`NAME\`, \`OTHER\` | ...`. */
const DOCUMENTED = new Set(
  [...README.matchAll(/^\|([^|\n]*)\|/gm)].flatMap((row) =>
    [...(row[1] ?? '').matchAll(/`([A-Z][A-Z0-9]*_[A-Z0-9_]+)`/g)].map((match) => match[1] ?? ''),
  ),
);

describe('configuration documentation', () => {
  it('every variable the service reads has a row in a README table', () => {
    const missing = ENVIRONMENT_VARIABLES.filter((name) => !DOCUMENTED.has(name));
    assert.deepEqual(missing, []);
  });

  it('every variable in a README table is one the service reads', () => {
    // Read by the OpenTelemetry SDK and by Node themselves, not by the service's config.
    const readByOthers = new Set([
      'OTEL_EXPORTER_OTLP_HEADERS',
      'OTEL_RESOURCE_ATTRIBUTES',
      'NODE_OPTIONS',
    ]);
    const unknown = [...DOCUMENTED].filter(
      (name) => !ENVIRONMENT_VARIABLES.includes(name) && !readByOthers.has(name),
    );
    assert.deepEqual(unknown, []);
  });
});
