import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { createClient } from '@clickhouse/client';
import { Redis } from 'ioredis';

import { createKafkaClients } from '../../../src/kafka/kafka-adapter.js';
import { migrate } from '../../../src/sinks/clickhouse-migration.js';
import { createLogger } from '../../../src/telemetry/logger.js';
import { REPO_ROOT } from '../../dev/paths.js';
import { generationSettings, loadRunOptions, runReport } from './load-plan.js';
import { runLoad } from './load-run.js';
import {
  endpointsFromVars,
  LocalConsumer,
  servicePids,
  startLocalServices,
  type ServiceEndpoints,
} from './local-services.js';
import { MetricsScraper } from './metrics-scraper.js';
import { defaultFirstUserId, type LoadTestOptions } from './options.js';
import { ProcessMeter } from './proc-stats.js';
import { progressLine, ProgressWriter } from './progress.js';
import type { LoadReport } from './report-model.js';
import { gitCommit, serviceSettings } from './run-settings.js';

type Env = Readonly<Record<string, string | undefined>>;

/** Topic, group, table and key prefix of a run: fresh ones, or the environment's. */
export interface RunNames {
  readonly topic: string;
  readonly dlqTopic: string;
  readonly groupId: string;
  readonly database: string;
  readonly table: string;
  readonly keyPrefix: string;
  /** True when the names are this run's own: created at the start, removed at the end. */
  readonly owned: boolean;
}

export function runNames(env: Env, id: string): RunNames {
  const topic = env.KAFKA_TOPIC;
  if (topic !== undefined && topic !== '') {
    return {
      topic,
      dlqTopic: env.KAFKA_DLQ_TOPIC ?? `${topic}.dlq`,
      groupId: env.KAFKA_GROUP_ID ?? 'realtime-offers',
      database: env.CLICKHOUSE_DATABASE ?? 'default',
      table: env.CLICKHOUSE_TABLE ?? 'personal_offer',
      keyPrefix: env.REDIS_KEY_PREFIX ?? '',
      owned: false,
    };
  }
  return {
    topic: `loadtest-${id}`,
    dlqTopic: `loadtest-${id}.dlq`,
    groupId: `loadtest-${id}`,
    database: 'default',
    table: `personal_offer_loadtest_${id}`,
    keyPrefix: `loadtest-${id}:`,
    owned: true,
  };
}

async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5_000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

/**
 * Local mode: services from the environment or scripts/infra/up.sh, a fresh topic/table/key
 * prefix (unless KAFKA_TOPIC is set), N consumer processes, then the measured run.
 */
export async function runLocalMode(
  options: LoadTestOptions,
  env: Env,
  outDir: string,
  signal: AbortSignal,
): Promise<LoadReport> {
  const log = (line: string): void => {
    process.stderr.write(`[load-test] ${line}\n`);
  };
  const infraDir = resolve(env.INFRA_DIR ?? join(REPO_ROOT, '.infra'));
  const external = env.KAFKA_BROKERS !== undefined && env.KAFKA_BROKERS !== '';
  let endpoints: ServiceEndpoints;
  if (external) {
    endpoints = endpointsFromVars(env);
    log(`using the services in the environment (Kafka ${endpoints.kafkaBrokers.join(',')})`);
  } else {
    log(`starting local services in ${infraDir} (scripts/infra/up.sh)`);
    endpoints = await startLocalServices(infraDir);
  }
  const id = randomUUID().replaceAll('-', '').slice(0, 10);
  const names = runNames(env, id);
  const { partitions, consumers: consumerCount } = options.local;

  const kafka = createKafkaClients(
    { brokers: endpoints.kafkaBrokers, clientId: `load-test-${id}` },
    createLogger('error'),
  );
  const admin = await kafka.admin();
  const producer = kafka.producer();
  const redis = new Redis(endpoints.redisUrl, { maxRetriesPerRequest: 3 });
  const clickhouse = createClient({
    url: endpoints.clickhouseUrl,
    username: endpoints.clickhouseUser,
    password: endpoints.clickhousePassword,
  });
  const consumers: LocalConsumer[] = [];
  try {
    await admin.ensureTopics([
      { name: names.topic, partitions },
      { name: names.dlqTopic, partitions: 1 },
    ]);
    await migrate(clickhouse, {
      database: names.database,
      table: names.table,
      cluster: '',
      ttlDays: 0,
    });
    await producer.connect();
    const actualPartitions = (await admin.endOffsets(names.topic)).size;

    const consumerEnv: Record<string, string> = {
      KAFKA_BROKERS: endpoints.kafkaBrokers.join(','),
      KAFKA_TOPIC: names.topic,
      KAFKA_DLQ_TOPIC: names.dlqTopic,
      KAFKA_GROUP_ID: names.groupId,
      CLICKHOUSE_URL: endpoints.clickhouseUrl,
      CLICKHOUSE_USER: endpoints.clickhouseUser,
      CLICKHOUSE_PASSWORD: endpoints.clickhousePassword,
      CLICKHOUSE_DATABASE: names.database,
      CLICKHOUSE_TABLE: names.table,
      REDIS_URL: endpoints.redisUrl,
      REDIS_KEY_PREFIX: names.keyPrefix,
      ...options.local.consumerEnv,
    };
    await mkdir(outDir, { recursive: true });
    for (let index = 0; index < consumerCount; index += 1) {
      consumers.push(
        await LocalConsumer.start({
          name: `consumer-${index + 1}`,
          env: consumerEnv,
          logFile: join(outDir, `consumer-${index + 1}.log`),
        }),
      );
    }
    for (const consumer of consumers) {
      const readyMs = await consumer.waitReady();
      log(`${consumer.name} (pid ${consumer.pid}) ready after ${Math.round(readyMs)} ms`);
    }

    const meter = new ProcessMeter([
      ...consumers.map((consumer) => ({ name: consumer.name, pid: consumer.pid })),
      ...(external ? [] : await servicePids(infraDir)),
    ]);
    const metricsUrls = [
      ...consumers.map((consumer) => consumer.metricsUrl),
      ...options.local.metricsUrls,
    ];
    const scraper = new MetricsScraper(() => metricsUrls);
    const generation = options.generation;
    const firstUserId = generation.firstUserId ?? defaultFirstUserId(Date.now());
    const progress = new ProgressWriter(process.stderr);
    const startedAt = new Date().toISOString();
    log(
      `producing to ${names.topic} (${actualPartitions} partitions) at ${generation.rate > 0 ? `${generation.rate} msg/s` : 'max rate'}` +
        `${generation.durationSeconds === undefined ? '' : ` for ${generation.durationSeconds} s`}${generation.count === undefined ? '' : `, ${generation.count} messages`}`,
    );
    const result = await runLoad(
      { admin, producer, redis },
      {
        topic: names.topic,
        groupId: names.groupId,
        keyPrefix: names.keyPrefix,
        clickhouse: { client: clickhouse, database: names.database, table: names.table },
      },
      loadRunOptions(names.topic, generation, firstUserId),
      {
        scraper,
        processes: meter,
        signal,
        onSample: (sample) => {
          if (options.progress) progress.update(progressLine(sample), sample.t);
        },
      },
    );
    progress.done();
    if (result.probes.clickhouseError !== null) {
      log(`ClickHouse probe: ${result.probes.clickhouseError}`);
    }
    return runReport(result, {
      startedAt,
      settings: {
        mode: 'local',
        topic: names.topic,
        groupId: names.groupId,
        partitions: actualPartitions,
        ...generationSettings(generation, firstUserId),
        consumers: consumerCount,
        consumerEnv: options.local.consumerEnv,
        serviceSettings: serviceSettings({ ...env, ...consumerEnv }),
        consumerReadyMs: consumers.map((consumer) => Math.round(consumer.readyAfterMs ?? 0)),
      },
      gitCommit: await gitCommit(REPO_ROOT),
      thresholds: options.thresholds,
    });
  } finally {
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    if (names.owned && !options.local.keepData) {
      await admin.deleteTopics([names.topic, names.dlqTopic]).catch(() => undefined);
      await clickhouse
        .command({ query: `DROP TABLE IF EXISTS ${names.database}.${names.table}` })
        .catch(() => undefined);
      await deleteKeys(redis, names.keyPrefix).catch(() => undefined);
    }
    await producer.disconnect().catch(() => undefined);
    await admin.disconnect().catch(() => undefined);
    redis.disconnect();
    await clickhouse.close();
  }
}
