import { execFile } from 'node:child_process';

import { loadServiceConfig } from '../../../src/config/config.js';
import { errorMessage } from '../../../src/errors.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * The service's settings that shape throughput and latency, as its own config module
 * resolves them from `env` (defaults included), named by their environment variables.
 */
export function serviceSettings(env: Env): Record<string, string | number | boolean> {
  let config;
  try {
    config = loadServiceConfig(env);
  } catch (error) {
    // The consumers validate the same variables and stop naming them; here only say so.
    return { CONFIG_ERROR: errorMessage(error).split('\n').slice(0, 3).join(' ') };
  }
  return {
    BATCH_MAX_MESSAGES: config.batchMaxMessages,
    KAFKA_PARTITIONS_CONCURRENCY: config.kafka.partitionsConcurrency,
    KAFKA_MAX_BYTES_PER_PARTITION: config.kafka.maxBytesPerPartition,
    KAFKA_SESSION_TIMEOUT_MS: config.kafka.sessionTimeoutMs,
    CLICKHOUSE_INSERT_WINDOW_MS: config.clickhouse.windowMs,
    CLICKHOUSE_INSERT_MAX_ROWS: config.clickhouse.maxRows,
    REDIS_MODE: config.redis.mode,
    REDIS_WAIT_REPLICAS: config.redis.waitReplicas,
    MODEL_WORKERS: config.model.workers,
    MODEL_THREADS: config.model.threads,
    SINK_RETRY_INITIAL_MS: config.sinkRetry.initialMs,
    SINK_RETRY_MAX_MS: config.sinkRetry.maxMs,
  };
}

/** The checkout's commit (`-dirty` when files differ from it); null outside a git checkout. */
export async function gitCommit(cwd: string): Promise<string | null> {
  const run = (args: readonly string[]): Promise<string | null> =>
    new Promise((resolve) => {
      execFile('git', [...args], { cwd, timeout: 5_000 }, (error, stdout) => {
        resolve(error ? null : stdout.trim());
      });
    });
  const commit = await run(['rev-parse', '--short=12', 'HEAD']);
  if (commit === null || commit === '') return null;
  const status = await run(['status', '--porcelain', '--untracked-files=no']);
  return status === null || status === '' ? commit : `${commit}-dirty`;
}
