import { parseArgs } from 'node:util';

import { parseThreshold, THRESHOLD_METRICS, type Threshold } from './thresholds.js';

/** Words joined into lines of at most `width` characters, each line indented. */
function wrap(words: readonly string[], indent: string, width: number): string {
  const lines: string[] = [];
  let line = '';
  for (const word of words) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines.map((entry) => `${indent}${entry}`).join('\n');
}

/** Command-line options of the load test (`npm run load-test -- --mode ...`). */

export const MODES = ['local', 'kubernetes', 'generate', 'check'] as const;
export type Mode = (typeof MODES)[number];

export interface GenerationOptions {
  /** Messages per second; 0 = as fast as the brokers acknowledge. */
  readonly rate: number;
  readonly durationSeconds: number | undefined;
  readonly count: number | undefined;
  readonly seed: number;
  /** First user id; undefined picks one from the clock so runs do not share ids. */
  readonly firstUserId: number | undefined;
  readonly batchSize: number;
  readonly inFlight: number;
  readonly probesPerSecond: number;
  readonly probePollMs: number;
  /** ClickHouse poll interval of the sampled users; 0 = no ClickHouse probe. */
  readonly clickhousePollMs: number;
  /** Every Nth message is invalid, to be dead-lettered (0: none). */
  readonly invalidEvery: number;
  readonly drainTimeoutSeconds: number;
}

export interface LocalOptions {
  readonly partitions: number;
  readonly consumers: number;
  readonly consumerEnv: Readonly<Record<string, string>>;
  readonly metricsUrls: readonly string[];
  readonly keepData: boolean;
}

export interface KubernetesOptions {
  readonly context: string | undefined;
  readonly namespace: string | undefined;
  /** Undefined: the only Deployment labelled as the service's consumer. */
  readonly deployment: string | undefined;
  readonly scaledObject: string | undefined;
  readonly container: string | undefined;
  /** Undefined: derived from the Deployment's image (see loadTestImage). */
  readonly image: string | undefined;
  /** Undefined: the image's entrypoint, the compiled load test. */
  readonly jobCommand: readonly string[] | undefined;
  readonly observeAfterSeconds: number;
  readonly keepJob: boolean;
  readonly jobCpu: string;
  readonly jobMemory: string;
  readonly jobMemoryLimit: string;
  readonly jobEnv: Readonly<Record<string, string>>;
}

export interface LoadTestOptions {
  readonly mode: Mode;
  readonly generation: GenerationOptions;
  readonly local: LocalOptions;
  readonly kubernetes: KubernetesOptions;
  readonly outDir: string | undefined;
  readonly progress: boolean;
  /** Pass/fail criteria (--threshold); the run exits 1 when one fails. */
  readonly thresholds: readonly Threshold[];
  /** --mode check: the report.json whose thresholds are evaluated. */
  readonly reportFile: string | undefined;
}

export const USAGE = `usage: npm run load-test -- --mode local|kubernetes|generate|check [options]

modes:
  local        start Kafka/Redis/ClickHouse (scripts/infra/up.sh) unless KAFKA_BROKERS,
               REDIS_URL and CLICKHOUSE_URL are set, start consumer(s), produce, measure, report
  kubernetes   run the generator as a Job next to the Deployment (kubeconfig from the
               environment) and record replicas, HPA/ScaledObject and pod readiness
  generate     produce and measure against the services in the environment, printing one
               JSON line per second (what the Kubernetes Job runs)
  check        evaluate --threshold against an earlier run's report.json (--report FILE)

load:
  --rate R              messages per second, 0 = as fast as possible (default 5000)
  --duration S          seconds of production (default 60 unless --count is given)
  --count N             messages to produce (with --duration: whichever comes first)
  --seed S              seed of the registration generator (default 42)
  --first-id ID         first user id (default: from the clock, unique per run)
  --batch-size N        messages per produce request (default 1000)
  --in-flight N         produce requests in flight (default 4)
  --probes N            users per second whose offer is watched in Redis (default 100)
  --probe-poll-ms MS    Redis poll interval, the latency resolution (default 10)
  --clickhouse-poll-ms MS  ClickHouse poll interval of the same users (default 100; 0 = off)
  --invalid-every N     every Nth message is invalid and must be dead-lettered (default 0: none)
  --drain-timeout S     after production, wait this long for the lag to reach 0 (default 120)
local:
  --partitions N        partitions of the run's topic (default 12)
  --consumers N         consumer processes to start (default 1; 0 = measure running ones)
  --consumer-env K=V    extra consumer setting, repeatable (e.g. BATCH_MAX_MESSAGES=2000)
  --metrics-url URL     also scrape this /metrics endpoint, repeatable
  --keep-data           keep the run's topic, table and Redis keys
kubernetes:
  --context NAME        kubeconfig context (default: the current one)
  --namespace NS        namespace (default: the Deployment's)
  --deployment NAME     the service's Deployment (default: the only one labelled
                        app.kubernetes.io/name=realtime-offers, component=consumer)
  --scaled-object NAME  KEDA ScaledObject (default: the Deployment's name)
  --container NAME      container to copy environment and image from (default: first)
  --image IMAGE         the Job's image, built by \`make image-loadtest\` (default: the
                        container's, "-loadtest" after its name: realtime-offers:1.2.0 ->
                        realtime-offers-loadtest:1.2.0)
  --job-command CMD     command of the Job (default: the image's entrypoint, the load test)
  --job-env K=V         extra environment of the Job, repeatable (e.g. producer credentials)
  --observe-after S     keep recording after the generator ends, to see scale-down (default 180)
  --keep-job            do not delete the Job at the end
  --job-cpu Q --job-memory Q --job-memory-limit Q   Job resources (500m, 256Mi, 512Mi)
thresholds (exit 1 when one fails, 2 when one cannot be parsed):
  --threshold EXPR      <metric><operator><number>, repeatable, e.g. 'p99_latency_ms<500'
                        'dlq_rate<0.01' 'max_lag<10000'; operators < <= > >=; metrics
                        (README, "Thresholds"):
${wrap(Object.keys(THRESHOLD_METRICS), ' '.repeat(24), 92)}
  --report FILE         report.json to check (--mode check)
output:
  --out DIR             report folder (default reports/load-test-<timestamp>)
  --no-progress         no live progress line`;

function whole(values: Record<string, unknown>, name: string, fallback: number, min = 0): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const parsed = Number(raw);
  if (!Number.isSafeInteger(parsed) || parsed < min) {
    throw new Error(`--${name} must be a whole number >= ${min}; got ${JSON.stringify(raw)}`);
  }
  return parsed;
}

function optionalWhole(values: Record<string, unknown>, name: string, min = 0): number | undefined {
  return values[name] === undefined ? undefined : whole(values, name, 0, min);
}

function text(values: Record<string, unknown>, name: string): string | undefined {
  const raw = values[name];
  return typeof raw === 'string' && raw !== '' ? raw : undefined;
}

export function parseKeyValues(pairs: readonly string[], option: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error(`--${option} takes KEY=VALUE; got ${JSON.stringify(pair)}`);
    result[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return result;
}

export function parseOptions(argv: readonly string[]): LoadTestOptions {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      mode: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      count: { type: 'string' },
      seed: { type: 'string' },
      'first-id': { type: 'string' },
      'batch-size': { type: 'string' },
      'in-flight': { type: 'string' },
      probes: { type: 'string' },
      'probe-poll-ms': { type: 'string' },
      'clickhouse-poll-ms': { type: 'string' },
      'invalid-every': { type: 'string' },
      threshold: { type: 'string', multiple: true },
      report: { type: 'string' },
      'drain-timeout': { type: 'string' },
      partitions: { type: 'string' },
      consumers: { type: 'string' },
      'consumer-env': { type: 'string', multiple: true },
      'metrics-url': { type: 'string', multiple: true },
      'keep-data': { type: 'boolean' },
      context: { type: 'string' },
      namespace: { type: 'string' },
      deployment: { type: 'string' },
      'scaled-object': { type: 'string' },
      container: { type: 'string' },
      image: { type: 'string' },
      'job-command': { type: 'string' },
      'observe-after': { type: 'string' },
      'keep-job': { type: 'boolean' },
      'job-cpu': { type: 'string' },
      'job-memory': { type: 'string' },
      'job-memory-limit': { type: 'string' },
      'job-env': { type: 'string', multiple: true },
      out: { type: 'string' },
      'no-progress': { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  if (values.help === true) throw new UsageRequested();
  const mode = values.mode;
  if (mode === undefined || !(MODES as readonly string[]).includes(mode)) {
    throw new Error(`--mode must be one of ${MODES.join(', ')}; got ${JSON.stringify(mode)}`);
  }
  if (mode === 'check' && text(values, 'report') === undefined) {
    throw new Error('--mode check needs --report FILE (a report.json of an earlier run)');
  }
  const count = optionalWhole(values, 'count', 1);
  const duration = optionalWhole(values, 'duration', 1);
  return {
    mode: mode as Mode,
    generation: {
      rate: whole(values, 'rate', 5_000),
      durationSeconds: duration ?? (count === undefined ? 60 : undefined),
      count,
      seed: whole(values, 'seed', 42),
      firstUserId: optionalWhole(values, 'first-id', 1),
      batchSize: whole(values, 'batch-size', 1_000, 1),
      inFlight: whole(values, 'in-flight', 4, 1),
      probesPerSecond: whole(values, 'probes', 100),
      probePollMs: whole(values, 'probe-poll-ms', 10, 1),
      clickhousePollMs: whole(values, 'clickhouse-poll-ms', 100),
      invalidEvery: whole(values, 'invalid-every', 0),
      drainTimeoutSeconds: whole(values, 'drain-timeout', 120),
    },
    local: {
      partitions: whole(values, 'partitions', 12, 1),
      consumers: whole(values, 'consumers', 1),
      consumerEnv: parseKeyValues(values['consumer-env'] ?? [], 'consumer-env'),
      metricsUrls: values['metrics-url'] ?? [],
      keepData: values['keep-data'] === true,
    },
    kubernetes: {
      context: text(values, 'context'),
      namespace: text(values, 'namespace'),
      deployment: text(values, 'deployment'),
      scaledObject: text(values, 'scaled-object'),
      container: text(values, 'container'),
      image: text(values, 'image'),
      jobCommand: text(values, 'job-command')
        ?.split(' ')
        .filter((part) => part !== ''),
      observeAfterSeconds: whole(values, 'observe-after', 180),
      keepJob: values['keep-job'] === true,
      jobCpu: text(values, 'job-cpu') ?? '500m',
      jobMemory: text(values, 'job-memory') ?? '256Mi',
      jobMemoryLimit: text(values, 'job-memory-limit') ?? '512Mi',
      jobEnv: parseKeyValues(values['job-env'] ?? [], 'job-env'),
    },
    outDir: text(values, 'out'),
    progress: values['no-progress'] !== true,
    thresholds: (values.threshold ?? []).map(parseThreshold),
    reportFile: text(values, 'report'),
  };
}

/** Thrown for --help: the caller prints the usage and exits 0. */
export class UsageRequested extends Error {
  constructor() {
    super('usage requested');
  }
}

/** The generation options as `--mode generate` arguments, for the Kubernetes Job. */
export function generateArgs(generation: GenerationOptions): string[] {
  const args = ['--mode', 'generate', '--rate', String(generation.rate)];
  if (generation.durationSeconds !== undefined) {
    args.push('--duration', String(generation.durationSeconds));
  }
  if (generation.count !== undefined) args.push('--count', String(generation.count));
  if (generation.firstUserId !== undefined) {
    args.push('--first-id', String(generation.firstUserId));
  }
  args.push(
    '--seed',
    String(generation.seed),
    '--batch-size',
    String(generation.batchSize),
    '--in-flight',
    String(generation.inFlight),
    '--probes',
    String(generation.probesPerSecond),
    '--probe-poll-ms',
    String(generation.probePollMs),
    '--clickhouse-poll-ms',
    String(generation.clickhousePollMs),
    '--invalid-every',
    String(generation.invalidEvery),
    '--drain-timeout',
    String(generation.drainTimeoutSeconds),
    '--no-progress',
  );
  return args;
}

/** Default first user id: the clock in µs-sized steps, so two runs do not share ids. */
export function defaultFirstUserId(nowMs: number): number {
  // 1,000 ids per millisecond keeps ids below 2^53 until the year 2255.
  return nowMs * 1_000;
}

/** `reports/load-test-20260101-120000` */
export function defaultOutDir(prefix: string, atMs: number): string {
  const stamp = new Date(atMs).toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `reports/${prefix}-${stamp}`;
}
