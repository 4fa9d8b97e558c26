import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { freePort } from './local-env.js';
import { REPO_ROOT } from './paths.js';

/**
 * The one launcher of the service's CLI as a child process: `consume` the way an orchestrator
 * runs it (its own HTTP port on 127.0.0.1), and any other command to completion.
 */

/**
 * Node.js arguments that run the service's CLI: a compiled `cli/main.js` when given, else the
 * TypeScript source through tsx (or, compiled, the JavaScript at the same relative place).
 */
export function cliCommand(compiledCli?: string): string[] {
  if (compiledCli !== undefined) return [compiledCli];
  const fromSource = import.meta.url.endsWith('.ts');
  const cli = fileURLToPath(
    new URL(`../../src/cli/main.${fromSource ? 'ts' : 'js'}`, import.meta.url),
  );
  return fromSource ? ['--import', 'tsx', cli] : [cli];
}

/** Starts one CLI command in the repository with the caller's environment, then `env`. */
export function spawnCli(
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  nodeFlags: readonly string[] = [],
): ChildProcess {
  return spawn(process.execPath, [...nodeFlags, ...cliCommand(), ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface ConsumerLaunch {
  readonly env: Readonly<Record<string, string>>;
  /** LOG_LEVEL unless `env` sets one. */
  readonly logLevel: string;
  /** A port to keep (a replica that restarts, as a pod's container does); else a free one. */
  readonly httpPort?: number;
  /** Extra Node.js flags, e.g. `--cpu-prof`. */
  readonly nodeFlags?: readonly string[];
  /** A compiled `cli/main.js` to run instead of the CLI of this repository. */
  readonly compiledCli?: string;
  /** Node.js arguments of another consumer program (same /readyz contract) instead of `consume`. */
  readonly program?: readonly string[];
}

/** A started consumer: its process and the port of its /readyz and /metrics. */
export interface LaunchedConsumer {
  readonly child: ChildProcess;
  readonly httpPort: number;
}

/** Starts `consume` (or `program`) with HTTP_HOST 127.0.0.1 and its own HTTP_PORT. */
export async function launchConsumer(launch: ConsumerLaunch): Promise<LaunchedConsumer> {
  const httpPort = launch.httpPort ?? (await freePort());
  const child = spawn(
    process.execPath,
    [
      ...(launch.nodeFlags ?? []),
      ...(launch.program ?? [...cliCommand(launch.compiledCli), 'consume']),
    ],
    {
      cwd: REPO_ROOT,
      // Inherited first (PATH, HOME, NODE_OPTIONS of the caller), then the run's settings.
      env: {
        ...process.env,
        LOG_LEVEL: launch.logLevel,
        ...launch.env,
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(httpPort),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return { child, httpPort };
}
