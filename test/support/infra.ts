// Real local services (Kafka in KRaft mode, Redis, ClickHouse) for integration tests, managed by
// scripts/infra/*.sh. The services run detached, so they outlive a test file: the next file's
// startInfra() finds them up and returns in a fraction of a second. Stop them with stopInfra()
// or `scripts/infra/down.sh` (same INFRA_DIR).
//
// State dir: $INFRA_DIR if set (the Makefile and .ci/run set it), else <repo>/.infra/test.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseEnvFile } from '../../src/loadtest/local-services.js';

export { parseEnvFile };

export type ServiceName = 'kafka' | 'redis' | 'clickhouse';

export interface InfraEnv {
  kafkaBrokers: string[];
  redisUrl: string;
  clickhouseUrl: string;
  clickhouseUser: string;
  clickhousePassword: string;
  /** Absolute state dir of these services. */
  dir: string;
  /** Every KEY=VALUE of $dir/env (KAFKA_BROKERS, REDIS_URL, CLICKHOUSE_URL, ...). */
  vars: Record<string, string>;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const scriptsDir = join(repoRoot, 'scripts', 'infra');

/** Upper bound for one script run; a first run on a fresh machine installs Debian packages. */
const SCRIPT_TIMEOUT_MS = 20 * 60_000;

/** The state dir used by this process: $INFRA_DIR, else <repo>/.infra/test. */
export function infraDir(): string {
  const fromEnv = process.env.INFRA_DIR;
  return fromEnv !== undefined && fromEnv !== ''
    ? resolve(fromEnv)
    : join(repoRoot, '.infra', 'test');
}

function runScript(script: string, args: readonly string[] = []): Promise<string> {
  const dir = infraDir();
  return new Promise((resolvePromise, reject) => {
    execFile(
      'bash',
      [join(scriptsDir, script), ...args],
      {
        cwd: repoRoot,
        env: { ...process.env, INFRA_DIR: dir },
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

function required(vars: Record<string, string>, key: string, file: string): string {
  const value = vars[key];
  if (value === undefined || value === '') throw new Error(`${file} has no ${key}`);
  return value;
}

/** Reads $dir/env written by scripts/infra/up.sh (does not start anything). */
export async function readInfraEnv(dir: string = infraDir()): Promise<InfraEnv> {
  const file = join(dir, 'env');
  const vars = parseEnvFile(await readFile(file, 'utf8'));
  return {
    kafkaBrokers: required(vars, 'KAFKA_BROKERS', file)
      .split(',')
      .map((broker) => broker.trim())
      .filter((broker) => broker !== ''),
    redisUrl: required(vars, 'REDIS_URL', file),
    clickhouseUrl: required(vars, 'CLICKHOUSE_URL', file),
    clickhouseUser: vars.CLICKHOUSE_USER ?? 'default',
    clickhousePassword: vars.CLICKHOUSE_PASSWORD ?? '',
    dir,
    vars,
  };
}

let starting: Promise<InfraEnv> | undefined;

/**
 * Makes sure Kafka, Redis and ClickHouse are up in infraDir() and returns their addresses.
 * Installs what is missing and starts what is not running (a stopped service comes back on its
 * old port); fast (~0.2 s) when everything is already up.
 */
export function startInfra(): Promise<InfraEnv> {
  starting ??= runScript('up.sh')
    .then(() => readInfraEnv())
    .finally(() => {
      starting = undefined;
    });
  return starting;
}

/** Stops one service (SIGTERM, then SIGKILL); its port and data dir are kept for startService. */
export async function stopService(name: ServiceName): Promise<void> {
  await runScript('service.sh', ['stop', name]);
}

/** Starts one service again on its previous port and waits until it answers (no-op if running). */
export async function startService(name: ServiceName): Promise<void> {
  await runScript('service.sh', ['start', name]);
}

/** Stops every service and deletes their data (scripts/infra/down.sh). */
export async function stopInfra(): Promise<void> {
  await runScript('down.sh');
}
