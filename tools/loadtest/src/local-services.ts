import { execFile, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { launchConsumer } from '../../dev/consumer.js';
import { LocalInfra } from '../../dev/infra.js';
import { REPO_ROOT } from '../../dev/paths.js';
import type { WatchedProcess } from './proc-stats.js';

/**
 * Local Kafka, Redis and ClickHouse through the project's own scripts (scripts/infra), and
 * consumer processes started the way an orchestrator starts them, for the load test in
 * local mode and the pipeline benchmark.
 */

export interface ServiceEndpoints {
  readonly kafkaBrokers: readonly string[];
  /** One URL, or with `redisMode` cluster the comma-separated URLs of the cluster's nodes. */
  readonly redisUrl: string;
  readonly redisMode: 'standalone' | 'cluster';
  readonly clickhouseUrl: string;
  readonly clickhouseUser: string;
  readonly clickhousePassword: string;
}

export function endpointsFromVars(
  vars: Readonly<Record<string, string | undefined>>,
): ServiceEndpoints {
  const need = (key: string): string => {
    const value = vars[key];
    if (value === undefined || value === '') throw new Error(`${key} is not set`);
    return value;
  };
  return {
    kafkaBrokers: need('KAFKA_BROKERS')
      .split(',')
      .map((broker) => broker.trim())
      .filter((broker) => broker !== ''),
    redisUrl: need('REDIS_URL'),
    redisMode: vars.REDIS_MODE === 'cluster' ? 'cluster' : 'standalone',
    clickhouseUrl: need('CLICKHOUSE_URL'),
    clickhouseUser: vars.CLICKHOUSE_USER ?? 'default',
    clickhousePassword: vars.CLICKHOUSE_PASSWORD ?? '',
  };
}

/**
 * Starts (or finds running) the local services in `infraDir` with scripts/infra/up.sh and
 * returns their addresses. A first run on a fresh machine installs packages, hence the
 * generous timeout.
 */
export async function startLocalServices(
  infraDir: string,
  env: Readonly<Record<string, string>> = {},
): Promise<ServiceEndpoints> {
  return endpointsFromVars(await new LocalInfra(infraDir, env).upVars());
}

/**
 * Pids of the services of a state dir, from the pid files scripts/infra writes; the nodes of
 * a Redis Cluster (INFRA_REDIS_MODE=cluster) are `redis-server 1` .. `redis-server 6`.
 */
export async function servicePids(infraDir: string): Promise<WatchedProcess[]> {
  const found: WatchedProcess[] = [];
  const redisNodes = Array.from(
    { length: 6 },
    (_, index) => [`redis-${index + 1}`, `redis-server ${index + 1}`] as const,
  );
  for (const [service, name] of [
    ['kafka', 'kafka (java)'],
    ['clickhouse', 'clickhouse-server'],
    ['redis', 'redis-server'],
    ...redisNodes,
  ] as const) {
    try {
      const pid = Number((await readFile(join(infraDir, service, 'pid'), 'utf8')).trim());
      if (Number.isSafeInteger(pid) && pid > 0) found.push({ name, pid });
    } catch {
      // Not started from this state dir (services given by address): not watched.
    }
  }
  return found;
}

/**
 * Compiles the service (tsconfig.build.json) into `outDir` and returns its `cli/main.js`, so
 * that measurements run the JavaScript a production image runs, without tsx in the process.
 */
export async function compileService(outDir: string): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    execFile(
      process.execPath,
      [
        join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
        '-p',
        join(REPO_ROOT, 'tsconfig.build.json'),
        '--outDir',
        outDir,
        '--sourceMap',
        'false',
      ],
      { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout) => {
        // tsc emits even with type errors elsewhere in the tree; only a missing file matters.
        if (error && !stdout.includes('error TS'))
          reject(new Error(`tsc failed: ${error.message}`));
        else resolve();
      },
    );
  });
  return join(outDir, 'cli', 'main.js');
}

export interface ConsumerStartOptions {
  readonly name: string;
  readonly env: Readonly<Record<string, string>>;
  /** Extra Node.js flags, e.g. `--cpu-prof`. */
  readonly nodeFlags?: readonly string[];
  /** The consumer's stdout and stderr are appended here. */
  readonly logFile?: string;
  /** A compiled `cli/main.js` to run instead of the CLI next to this module. */
  readonly compiledCli?: string;
  /** Node.js arguments of another consumer program (same /readyz contract) instead of `consume`. */
  readonly program?: readonly string[];
}

/** One `consume` process with its own HTTP port. */
export class LocalConsumer {
  readonly name: string;
  readonly httpPort: number;
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  readonly #startedAt: number;
  readonly #log: WriteStream | undefined;
  #tail = '';
  #readyAfterMs: number | undefined;

  private constructor(name: string, child: ChildProcess, httpPort: number, logFile?: string) {
    this.name = name;
    this.#child = child;
    this.httpPort = httpPort;
    this.#startedAt = performance.now();
    this.#log = logFile === undefined ? undefined : createWriteStream(logFile, { flags: 'a' });
    const keep = (chunk: Buffer): void => {
      this.#log?.write(chunk);
      this.#tail = (this.#tail + chunk.toString()).slice(-8_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    this.#exited = once(child, 'exit').then(([code]) => {
      this.#log?.end();
      return code as number | null;
    });
  }

  static async start(options: ConsumerStartOptions): Promise<LocalConsumer> {
    const { child, httpPort } = await launchConsumer({
      env: options.env,
      logLevel: 'warn',
      ...(options.nodeFlags === undefined ? {} : { nodeFlags: options.nodeFlags }),
      ...(options.compiledCli === undefined ? {} : { compiledCli: options.compiledCli }),
      ...(options.program === undefined ? {} : { program: options.program }),
    });
    return new LocalConsumer(options.name, child, httpPort, options.logFile);
  }

  get pid(): number {
    const pid = this.#child.pid;
    if (pid === undefined) throw new Error(`consumer ${this.name} did not start`);
    return pid;
  }

  get metricsUrl(): string {
    return `http://127.0.0.1:${this.httpPort}/metrics`;
  }

  get output(): string {
    return this.#tail;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  get exited(): Promise<number | null> {
    return this.#exited;
  }

  /** From spawn to the first 200 of /readyz (undefined until then). */
  get readyAfterMs(): number | undefined {
    return this.#readyAfterMs;
  }

  /** Polls /readyz every 20 ms, so time-to-ready is measured to about that precision. */
  async waitReady(timeoutMs = 60_000): Promise<number> {
    const state = { exited: false };
    void this.#exited.then(() => (state.exited = true));
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (state.exited) throw new Error(`consumer ${this.name} exited:\n${this.#tail}`);
      try {
        const response = await fetch(`http://127.0.0.1:${this.httpPort}/readyz`, {
          signal: AbortSignal.timeout(1_000),
        });
        await response.text();
        if (response.status === 200) {
          this.#readyAfterMs = performance.now() - this.#startedAt;
          return this.#readyAfterMs;
        }
      } catch {
        // Not listening yet.
      }
      await sleep(20);
    }
    throw new Error(`consumer ${this.name} not ready after ${timeoutMs} ms:\n${this.#tail}`);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill(signal);
    return this.#exited;
  }
}
