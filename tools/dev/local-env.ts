import { once } from 'node:events';
import { createServer } from 'node:net';

/**
 * Helpers for running the service's dependencies and processes on this machine, shared by
 * the tests (test/support) and the tools (load test, benchmarks). Development only: the
 * service never reads the state dir's env file nor picks its own port.
 */

/** Parses the KEY=VALUE file that scripts/infra/up.sh writes (comments and quotes allowed). */
export function parseEnvFile(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    if (
      value.length >= 2 &&
      (value.startsWith('"') || value.startsWith("'")) &&
      value.endsWith(value.charAt(0))
    ) {
      value = value.slice(1, -1);
    }
    vars[line.slice(0, eq).trim()] = value;
  }
  return vars;
}

/** A TCP port on 127.0.0.1 that was free a moment ago, for a process started next. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no free port');
  return address.port;
}
