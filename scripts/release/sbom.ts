// The CycloneDX SBOM of the service's production dependencies, as the image installs them
// (npm sbom --omit dev, from the lock file), for make release. npm stamps each SBOM with a
// random serial number and the current time; here both derive from the release (the commit's
// time, a serial number hashed from the revision and the content), so one commit gives one file.
// Usage: node --import tsx scripts/release/sbom.ts --out FILE --created ISO-TIME --revision SHA
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

interface CycloneDx {
  readonly bomFormat?: string;
  readonly serialNumber?: string;
  readonly metadata?: Record<string, unknown>;
  readonly components?: readonly unknown[];
  readonly [key: string]: unknown;
}

/** A UUID (RFC 9562 layout, version 8: custom) made from a SHA-256 hex digest. */
function uuidFromHash(hex: string): string {
  const variant = ((parseInt(hex.charAt(16), 16) & 0x3) | 0x8).toString(16);
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${variant}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

/** The SBOM with its time and serial number fixed by the release instead of the clock. */
export function reproducible(sbom: CycloneDx, created: string, revision: string): CycloneDx {
  const { serialNumber: _serial, metadata = {}, ...rest } = sbom;
  const { timestamp: _time, ...meta } = metadata;
  const content = JSON.stringify({ ...rest, metadata: meta });
  const hash = createHash('sha256').update(`${revision}\n${content}`).digest('hex');
  return {
    ...rest,
    serialNumber: `urn:uuid:${uuidFromHash(hash)}`,
    metadata: { timestamp: created, ...meta },
  };
}

const { values } = parseArgs({
  options: {
    out: { type: 'string' },
    created: { type: 'string' },
    revision: { type: 'string' },
  },
});
const { out, created, revision } = values;
if (out === undefined || created === undefined || revision === undefined) {
  throw new Error('usage: sbom.ts --out FILE --created ISO-TIME --revision SHA');
}
const repo = path.resolve(import.meta.dirname, '../..');
// The root package only: the workspaces (tools/) never ship in the service's image.
const raw = execFileSync(
  'npm',
  [
    'sbom',
    '--omit',
    'dev',
    '--package-lock-only',
    '--workspaces=false',
    '--sbom-format',
    'cyclonedx',
    '--sbom-type',
    'application',
  ],
  { cwd: repo, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
);
const parsed = JSON.parse(raw) as CycloneDx;
if (parsed.bomFormat !== 'CycloneDX' || (parsed.components?.length ?? 0) === 0) {
  throw new Error('npm sbom printed no CycloneDX document with components');
}
// npm names the root component after the checkout's folder; the package's name is the product's.
const { name } = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as {
  name: string;
};
const root = (parsed.metadata?.component ?? {}) as Record<string, unknown>;
const sbom: CycloneDx = {
  ...parsed,
  metadata: { ...parsed.metadata, component: { ...root, name } },
};
writeFileSync(out, `${JSON.stringify(reproducible(sbom, created, revision), null, 2)}\n`);
console.error(`[release] SBOM: ${String(sbom.components?.length)} components in ${out}`);
