// A small run of the load test, as its report model holds it: shared by the report's and the
// command's tests.
import { buildReport, type LoadSample, type LoadSettings } from '../src/report-model.js';
import { parseThreshold } from '../src/thresholds.js';

export const MACHINE = {
  cores: 2,
  cpuModel: 'Test CPU <fast>',
  memoryGiB: 8,
  node: 'v20.0.0',
  platform: 'linux x64',
  kernel: '6.1',
};

export const SETTINGS: LoadSettings = {
  mode: 'local',
  topic: 'loadtest-abc',
  groupId: 'loadtest-abc',
  partitions: 12,
  rate: 1_000,
  durationSeconds: 3,
  count: null,
  seed: 42,
  firstUserId: 1_000,
  batchSize: 1_000,
  inFlight: 4,
  invalidEvery: 100,
  consumers: 1,
  consumerEnv: { BATCH_MAX_MESSAGES: '2000' },
  serviceSettings: { BATCH_MAX_MESSAGES: 2_000, MODEL_WORKERS: 1 },
  consumerReadyMs: [1_234],
  probesPerSecond: 100,
  redisPollMs: 10,
  clickhousePollMs: 100,
  drainTimeoutSeconds: 120,
};

export const VERSIONS = {
  service: '0.1.0',
  model: 'offer-model-7',
  serviceNode: 'v20.0.0',
  image: null,
  gitCommit: 'abcdef123456',
};

function sample(t: number, produced: number, committed: number, lag: number): LoadSample {
  return {
    t,
    produced,
    produceRate: t === 1 ? null : 1_000,
    committed,
    commitRate: t === 1 ? null : 900,
    lag,
    lagByPartition: [lag, 0],
    redisLatencyMs: { count: 2, min: 5, mean: 10, p50: 10, p95: 14, p99: 15, max: 15 },
    clickhouseLatencyMs: { count: 2, min: 50, mean: 60, p50: 60, p95: 68, p99: 70, max: 70 },
    consumerLatencyMs: { count: 900, p50: 20, p95: 40, p99: 60 },
    errors: {
      deadLettered: { not_json: 10, missing_id: 0 },
      sinkRetries: { clickhouse: t === 2 ? 3 : 0, redis: 0 },
      sinkErrors: { clickhouse: t === 2 ? 3 : 0 },
      sinksDown: t === 2 ? ['clickhouse'] : [],
    },
    sendFailed: t >= 3 ? 5 : 0,
    replicas: 1,
    processes: [
      { name: 'consumer-1', cpuPercent: t * 10, rssMb: 100 + t },
      { name: 'kafka (java)', cpuPercent: null, rssMb: 300 },
    ],
  };
}

export const THIRD = sample(3, 3_000, 2_900, 100);
export const SAMPLES: LoadSample[] = [
  sample(1, 1_000, 800, 200),
  sample(2, 2_000, 1_800, 200),
  THIRD,
  sample(4, 3_000, 3_000, 0),
];

export const PROBES = {
  redis: { observed: 4, skipped: 0, timedOut: 0, pendingAtEnd: 0 },
  clickhouse: { observed: 2, skipped: 0, timedOut: 0, pendingAtEnd: 0 },
  clickhouseError: null,
};

export function report(thresholds: readonly string[] = []) {
  return buildReport({
    startedAt: '2026-11-24T10:00:00.000Z',
    machine: MACHINE,
    settings: SETTINGS,
    versions: VERSIONS,
    samples: SAMPLES,
    redisLatencies: [5, 10, 15, 20],
    clickhouseLatencies: [50, 70],
    probes: PROBES,
    consumerLatencyMs: { count: 3_000, p50: 20, p95: 40, p99: 60 },
    productionSeconds: 3,
    lastSendError: 'KafkaJSNumberOfRetriesExceeded',
    thresholds: thresholds.map(parseThreshold),
  });
}
