import { createClient } from '@clickhouse/client';
import { Redis } from 'ioredis';

import { loadClickHouseConfig, loadKafkaConfig } from '../../../src/config/config.js';
import { createKafkaClients } from '../../../src/kafka/kafka-adapter.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { formatEvent, type GeneratorEvent } from './events.js';
import { generationSettings, loadRunOptions } from './load-plan.js';
import { runLoad } from './load-run.js';
import { defaultFirstUserId, type LoadTestOptions } from './options.js';
import { machineInfo } from './proc-stats.js';
import { progressLine, ProgressWriter } from './progress.js';
import { serviceSettings } from './run-settings.js';

type Env = Readonly<Record<string, string | undefined>>;

/**
 * Generate mode: what the Kubernetes Job runs. The services, topic, group, table and key
 * prefix are the consumers' own (the Job gets the Deployment's environment); every second
 * one JSON line goes to stdout for the process that follows the Job's log.
 */
export async function runGenerateMode(
  options: LoadTestOptions,
  env: Env,
  signal: AbortSignal,
): Promise<void> {
  const emit = (event: GeneratorEvent): void => {
    process.stdout.write(`${formatEvent(event)}\n`);
  };
  const kafkaConfig = loadKafkaConfig(env);
  const redisUrl = env.REDIS_URL;
  if (redisUrl === undefined || redisUrl === '') throw new Error('REDIS_URL is not set');
  const keyPrefix = env.REDIS_KEY_PREFIX ?? '';
  const clickhouseConfig =
    env.CLICKHOUSE_URL === undefined || env.CLICKHOUSE_URL === ''
      ? undefined
      : loadClickHouseConfig(env);

  // The whole connection config, so that whatever the service's config carries (TLS, SASL)
  // applies to the generator too.
  const kafka = createKafkaClients(
    { ...kafkaConfig, clientId: `${kafkaConfig.clientId}-load-test` },
    createLogger('error'),
  );
  const admin = await kafka.admin();
  const producer = kafka.producer();
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  const clickhouse =
    clickhouseConfig === undefined
      ? undefined
      : createClient({
          url: clickhouseConfig.url,
          username: clickhouseConfig.user,
          password: clickhouseConfig.password,
          request_timeout: clickhouseConfig.requestTimeoutMs,
        });
  const progress = new ProgressWriter(process.stderr, 10);
  try {
    await producer.connect();
    const partitions = (await admin.endOffsets(kafkaConfig.topic)).size;
    const generation = options.generation;
    const firstUserId = generation.firstUserId ?? defaultFirstUserId(Date.now());
    const result = await runLoad(
      { admin, producer, redis },
      {
        topic: kafkaConfig.topic,
        groupId: kafkaConfig.groupId,
        keyPrefix,
        ...(clickhouse === undefined || clickhouseConfig === undefined
          ? {}
          : {
              clickhouse: {
                client: clickhouse,
                database: clickhouseConfig.database,
                table: clickhouseConfig.table,
              },
            }),
      },
      loadRunOptions(kafkaConfig.topic, generation, firstUserId),
      {
        signal,
        onStart: (startedAtMs) => {
          emit({
            loadtest: 'start',
            startedAtMs,
            startedAt: new Date(startedAtMs).toISOString(),
            machine: machineInfo(),
            settings: {
              mode: 'kubernetes',
              topic: kafkaConfig.topic,
              groupId: kafkaConfig.groupId,
              partitions,
              ...generationSettings(generation, firstUserId),
              consumers: null,
              consumerEnv: {},
              // The Job runs with the Deployment's environment: the consumers' own settings.
              serviceSettings: serviceSettings(env),
              consumerReadyMs: [],
              clickhousePollMs: clickhouse === undefined ? 0 : generation.clickhousePollMs,
            },
            // The process following the Job adds the Deployment's image.
            versions: {
              service: null,
              model: null,
              serviceNode: null,
              image: null,
              gitCommit: null,
            },
          });
        },
        onSample: (sample, latencies, clickhouseLatencies) => {
          emit({ loadtest: 'sample', sample, latencies, clickhouseLatencies });
          if (options.progress) progress.update(progressLine(sample), sample.t);
        },
      },
    );
    progress.done();
    if (result.probes.clickhouseError !== null) {
      process.stderr.write(`[load-test] ClickHouse probe: ${result.probes.clickhouseError}\n`);
    }
    emit({
      loadtest: 'end',
      productionSeconds: result.productionSeconds,
      probes: result.probes,
      consumerLatencyMs: result.consumerLatencyMs,
      lastSendError: result.lastSendError,
    });
  } catch (error) {
    emit({ loadtest: 'error', message: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    redis.disconnect();
    await clickhouse?.close();
  }
}
