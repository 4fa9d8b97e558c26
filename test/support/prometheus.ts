import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { parse, stringify } from 'yaml';

import { freePort, waitFor } from './service.js';

/** A real Prometheus (Debian's `prometheus` package, installed by `make deps`) for tests. */

/** promtool or prometheus from PATH; a clear error naming the package otherwise. */
export function prometheusTool(name: 'prometheus' | 'promtool'): string {
  const found = spawnSync(name, ['--version'], { encoding: 'utf8' });
  if (found.error !== undefined || found.status !== 0) {
    throw new Error(
      `${name} not found on PATH: run 'make deps' (scripts/infra/install.sh installs Debian's prometheus package, which has both prometheus and promtool)`,
    );
  }
  return name;
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { s: 1, m: 60, h: 3600, d: 86_400 };

function scaled(duration: string, divisor: number): string {
  const match = /^([0-9]+)([smhd])$/.exec(duration);
  const unit = match?.[2];
  if (match?.[1] === undefined || unit === undefined) {
    throw new Error(`unsupported duration ${duration}: write rule durations as <n><s|m|h|d>`);
  }
  const seconds = (Number(match[1]) * (UNIT_SECONDS[unit] ?? 0)) / divisor;
  if (!Number.isInteger(seconds) || seconds < 1) {
    throw new Error(`${duration} / ${divisor} is not a whole number of seconds`);
  }
  return `${seconds}s`;
}

interface RuleFile {
  groups: { name: string; rules: { alert?: string; expr: string; for?: string }[] }[];
}

/**
 * The rule file with every duration divided by `divisor`: each rule's `for:`, each range
 * selector `[...]` and each `offset` of its expression (so 10m becomes 20s with 30), nothing
 * else. The alerts keep their logic and thresholds, on a clock that runs `divisor` times
 * faster. `divisors` gives an alert a clock of its own (one comparing with a day before needs
 * a faster one for a test to hold that day).
 */
export function scaleRuleDurations(
  text: string,
  divisor: number,
  divisors: Readonly<Record<string, number>> = {},
): string {
  const file = parse(text) as RuleFile;
  for (const group of file.groups) {
    for (const rule of group.rules) {
      const by = (rule.alert === undefined ? undefined : divisors[rule.alert]) ?? divisor;
      rule.expr = rule.expr
        .replace(/\[([0-9]+[smhd])\]/g, (_, range: string) => `[${scaled(range, by)}]`)
        .replace(/offset ([0-9]+[smhd])\b/g, (_, offset: string) => `offset ${scaled(offset, by)}`);
      if (rule.for !== undefined) rule.for = scaled(rule.for, by);
    }
  }
  return stringify(file);
}

export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

export interface ActiveAlert {
  readonly labels: Record<string, string>;
  readonly annotations: Record<string, string>;
  readonly state: 'pending' | 'firing';
  readonly value: string;
}

export interface PrometheusOptions {
  /** State dir: config, rules and the TSDB go here. */
  readonly dir: string;
  /** host:port of each target of the one scrape job. */
  readonly targets: readonly string[];
  readonly job: string;
  /** Labels every target gets, as the Prometheus Operator adds namespace. */
  readonly labels: Readonly<Record<string, string>>;
  /** Text of a rule file. */
  readonly rules: string;
  readonly intervalSeconds: number;
}

export class PrometheusProcess {
  readonly url: string;
  readonly #child: ChildProcess;
  readonly #exited: Promise<unknown>;
  #output = '';

  private constructor(child: ChildProcess, url: string) {
    this.#child = child;
    this.url = url;
    child.stdout?.on('data', (chunk: Buffer) => (this.#output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.#output += chunk.toString()));
    this.#exited = once(child, 'exit');
  }

  /** Starts Prometheus on a free loopback port and waits until it is ready. */
  static async start(options: PrometheusOptions): Promise<PrometheusProcess> {
    const binary = prometheusTool('prometheus');
    await rm(options.dir, { recursive: true, force: true });
    await mkdir(join(options.dir, 'data'), { recursive: true });
    const rulesFile = join(options.dir, 'rules.yaml');
    await writeFile(rulesFile, options.rules);
    const interval = `${options.intervalSeconds}s`;
    const config = {
      global: {
        scrape_interval: interval,
        scrape_timeout: interval,
        evaluation_interval: interval,
      },
      rule_files: [rulesFile],
      scrape_configs: [
        {
          job_name: options.job,
          static_configs: [{ targets: [...options.targets], labels: { ...options.labels } }],
        },
      ],
    };
    const configFile = join(options.dir, 'prometheus.yml');
    await writeFile(configFile, stringify(config));
    const port = await freePort();
    const child = spawn(
      binary,
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(options.dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const prometheus = new PrometheusProcess(child, `http://127.0.0.1:${port}`);
    let exited = false;
    void prometheus.#exited.then(() => (exited = true));
    await waitFor('Prometheus to be ready', async () => {
      if (exited) throw new Error(`prometheus exited:\n${prometheus.#output.slice(-3000)}`);
      return (await fetch(`${prometheus.url}/-/ready`)).ok;
    });
    return prometheus;
  }

  get output(): string {
    return this.#output;
  }

  async #api<T>(path: string): Promise<T> {
    const response = await fetch(`${this.url}/api/v1/${path}`);
    const body = (await response.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') {
      throw new Error(`Prometheus ${path}: ${body.error ?? response.status}`);
    }
    return body.data;
  }

  /** An instant query; fails on a query Prometheus rejects. */
  async query(expr: string): Promise<Sample[]> {
    const data = await this.#api<{ resultType: string; result: Sample[] }>(
      `query?query=${encodeURIComponent(expr)}`,
    );
    if (data.resultType !== 'vector') throw new Error(`${expr}: ${data.resultType}, not a vector`);
    return data.result;
  }

  /** Pending and firing alerts. */
  async alerts(): Promise<ActiveAlert[]> {
    return (await this.#api<{ alerts: ActiveAlert[] }>('alerts')).alerts;
  }

  async labelValues(label: string, match: string): Promise<string[]> {
    return this.#api<string[]>(`label/${label}/values?match[]=${encodeURIComponent(match)}`);
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill();
    await this.#exited;
  }
}
