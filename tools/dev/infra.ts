import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { parseEnvFile } from './local-env.js';
import { INFRA_SCRIPTS_DIR, REPO_ROOT } from './paths.js';

/**
 * The one driver of scripts/infra: Kafka, Redis and ClickHouse on this machine, in a state dir
 * of their own (INFRA_DIR), started, stopped and crashed through the project's scripts.
 */

/** Upper bound for one script run; a first run on a fresh machine installs Debian packages. */
const SCRIPT_TIMEOUT_MS = 20 * 60_000;

/**
 * Runs scripts/infra/`script` with INFRA_DIR=`dir` and returns its standard output. The scripts
 * need the caller's PATH and HOME (Java, Maven, package caches), so the environment is
 * inherited, then `env`. INFRA_VERBOSE=1 echoes the scripts' standard error.
 */
export function runInfraScript(
  script: string,
  args: readonly string[],
  dir: string,
  env: Readonly<Record<string, string>> = {},
): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      'bash',
      [join(INFRA_SCRIPTS_DIR, script), ...args],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, ...env, INFRA_DIR: dir },
        timeout: SCRIPT_TIMEOUT_MS,
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (process.env.INFRA_VERBOSE === '1' && stderr !== '') process.stderr.write(stderr);
        if (error) {
          const tail = stderr.split('\n').slice(-60).join('\n');
          reject(
            new Error(
              `scripts/infra/${[script, ...args].join(' ')} failed: ${error.message}\n${tail}`,
            ),
          );
          return;
        }
        resolvePromise(stdout);
      },
    );
  });
}

/** Every KEY=VALUE of `dir`/env, which scripts/infra/up.sh writes (starts nothing). */
export async function readEnvVars(dir: string): Promise<Record<string, string>> {
  return parseEnvFile(await readFile(join(dir, 'env'), 'utf8'));
}

/**
 * The local services of one state dir. `env` is given to every script (INFRA_REDIS_MODE,
 * INFRA_CLICKHOUSE_MODE, INFRA_KAFKA_NODES of a first start). `Name` is a service of
 * scripts/infra/service.sh: `kafka` (every node), `kafka-2`, `redis`, `clickhouse`, ...
 */
export class LocalInfra<Name extends string = string> {
  readonly dir: string;
  readonly #env: Readonly<Record<string, string>>;

  constructor(dir: string, env: Readonly<Record<string, string>> = {}) {
    this.dir = dir;
    this.#env = env;
  }

  /**
   * Installs what is missing and starts what is not running (a stopped service comes back on
   * its old port); fast when everything is up already. Returns the env file's variables.
   */
  async upVars(): Promise<Record<string, string>> {
    await this.#run('up.sh');
    return readEnvVars(this.dir);
  }

  /** SIGKILL: the service crashes. */
  async kill(service: Name): Promise<void> {
    await this.#run('service.sh', ['kill', service]);
  }

  /** SIGTERM, SIGKILL after the infra's stop timeout; its port and data dir are kept. */
  async stop(service: Name): Promise<void> {
    await this.#run('service.sh', ['stop', service]);
  }

  /** Starts it again on its previous port and waits until it answers (no-op if running). */
  async start(service: Name): Promise<void> {
    await this.#run('service.sh', ['start', service]);
  }

  /** Stops every service and deletes their data (scripts/infra/down.sh). */
  async down(): Promise<void> {
    await this.#run('down.sh');
  }

  async #run(script: string, args: readonly string[] = []): Promise<void> {
    await runInfraScript(script, args, this.dir, this.#env);
  }
}
