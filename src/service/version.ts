import { readFileSync } from 'node:fs';

/** The service's version, from its package.json (beside src/ or dist/ alike). */
export const SERVICE_VERSION: string = (() => {
  try {
    const text = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    const { version } = JSON.parse(text) as { version?: unknown };
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
})();
