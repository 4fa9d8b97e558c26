import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

import { launchConsumer, spawnCli } from '../../tools/dev/consumer.js';
import { freePort } from '../../tools/dev/local-env.js';

export { freePort };

/** Polls `check` until it returns true; fails with `what` after `timeoutMs`. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 60_000,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (error) {
      lastError = error;
    }
    await sleep(intervalMs);
  }
  const detail = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
}

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The message of the JSON line `consume` writes when it cannot start (level "fatal"), with
 * its cause; fails the test when the output has no such line, or a line that is not JSON.
 */
export function fatalMessage(output: string): string {
  const lines = output.split('\n').filter((line) => line.trim() !== '');
  for (const line of lines) {
    let entry: { level?: unknown; msg?: unknown; cause?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      throw new Error(`a line of the output is not JSON: ${line}`);
    }
    if (entry.level === 'fatal' && typeof entry.msg === 'string') {
      return typeof entry.cause === 'string' ? `${entry.msg} (cause: ${entry.cause})` : entry.msg;
    }
  }
  throw new Error(`no fatal line in the output:\n${output.slice(-2000)}`);
}

/** Runs one CLI command to completion. */
export async function runCli(
  args: readonly string[],
  env: Record<string, string>,
): Promise<CliResult> {
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** A CLI command running in the background (a producer during a test), stopped with `stop`. */
export class CliProcess {
  readonly exited: Promise<CliResult>;
  readonly #child: ChildProcess;

  constructor(args: readonly string[], env: Record<string, string>) {
    this.#child = spawnCli(args, env);
    let stdout = '';
    let stderr = '';
    this.#child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    this.#child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    this.exited = once(this.#child, 'exit').then(([code]) => ({
      code: code as number | null,
      stdout,
      stderr,
    }));
  }

  async stop(): Promise<CliResult> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill();
    return this.exited;
  }
}

/** The `consume` command as a child process, the way an orchestrator runs it. */
export class ConsumerProcess {
  readonly httpPort: number;
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  #output = '';

  private constructor(child: ChildProcess, httpPort: number) {
    this.#child = child;
    this.httpPort = httpPort;
    child.stdout?.on('data', (chunk: Buffer) => (this.#output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.#output += chunk.toString()));
    this.#exited = once(child, 'exit').then(([code]) => code as number | null);
  }

  /** `httpPort` keeps the address of a replica that restarts (as a pod's container does). */
  static async start(
    env: Record<string, string>,
    options: { httpPort?: number } = {},
  ): Promise<ConsumerProcess> {
    const { child, httpPort } = await launchConsumer({
      env,
      logLevel: 'info',
      ...(options.httpPort === undefined ? {} : { httpPort: options.httpPort }),
    });
    return new ConsumerProcess(child, httpPort);
  }

  get output(): string {
    return this.#output;
  }

  get exited(): Promise<number | null> {
    return this.#exited;
  }

  async readiness(): Promise<number> {
    const response = await fetch(`http://127.0.0.1:${this.httpPort}/readyz`);
    await response.text();
    return response.status;
  }

  async waitReady(timeoutMs = 60_000): Promise<void> {
    let exited = false;
    void this.#exited.then(() => (exited = true));
    await waitFor(
      'the consumer to report ready',
      async () => {
        if (exited) throw new Error(`the consumer exited:\n${this.#output.slice(-3000)}`);
        return (await this.readiness()) === 200;
      },
      timeoutMs,
    ).catch((error: unknown) => {
      throw new Error(
        `${(error as Error).message}\n--- consumer output ---\n${this.#output.slice(-3000)}`,
      );
    });
  }

  /** Sum of all samples of one Prometheus metric. */
  async metric(name: string): Promise<number> {
    const response = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`);
    const text = await response.text();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${name} `) || line.startsWith(`${name}{`))
        sum += Number(line.split(' ').at(-1));
    }
    return sum;
  }

  /** Sends a signal without waiting (SIGSTOP freezes the process, SIGCONT resumes it). */
  signal(signal: NodeJS.Signals): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill(signal);
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill(signal);
    return this.#exited;
  }

  /**
   * The exit code of a process expected to stop by itself; one still running after
   * `timeoutMs` is killed and the test fails with its output instead of waiting forever.
   */
  async waitExit(timeoutMs = 90_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'running'>((resolve) => {
      timer = setTimeout(() => {
        resolve('running');
      }, timeoutMs);
    });
    const outcome = await Promise.race([this.#exited, deadline]);
    clearTimeout(timer);
    if (outcome !== 'running') return outcome;
    await this.stop('SIGKILL');
    throw new Error(
      `the consumer was expected to exit but still ran after ${timeoutMs} ms:\n${this.#output.slice(-3000)}`,
    );
  }
}
