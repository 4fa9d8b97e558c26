#!/usr/bin/env node
import { parseArgs } from 'node:util';

import { trace } from '@opentelemetry/api';

import {
  loadClickHouseConfig,
  loadKafkaConfig,
  loadServiceConfig,
  loadTracingConfig,
  type KafkaConnectionConfig,
} from '../config/config.js';
import { errorMessage, isOfferError } from '../errors.js';
import { createKafkaClients } from '../kafka/kafka-adapter.js';
import { startOfferService } from '../service/offer-service.js';
import { migrate } from '../sinks/clickhouse-schema.js';
import { createClickHouseClient, toClickHouseFailure } from '../sinks/clickhouse-sink.js';
import { createLogger } from '../telemetry/logger.js';
import { TRACER_NAME } from '../telemetry/semconv.js';
import { startTracing } from '../telemetry/tracing.js';
import { sendRegistrations } from './send.js';
import { smokeCommand } from './smoke.js';

const USAGE = `usage: realtime-offers <command> [options]

commands:
  consume                      run the service: Kafka -> model -> ClickHouse + Redis
  migrate                      create the ClickHouse database/table if missing
  topics [--partitions N]      create the input and dead-letter topics if missing (default 12)
  send [--count N] [--rate R] [--first-id ID] [--seed S] [--invalid K] [--no-progress]
                               produce N registrations (default 1000) at R msgs/s (0 = max)
  lag [--wait] [--timeout S]   print the consumer group's lag; --wait until it is zero
  smoke [--timeout S]          send one registration, wait for its offer in Redis (default 60 s)

Configuration comes from environment variables; see the README.`;

function integerOption(values: Record<string, unknown>, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const parsed = Number(raw);
  if (!Number.isSafeInteger(parsed) || parsed < 0) {
    throw new Error(`--${name} must be a whole number >= 0; got ${JSON.stringify(raw)}`);
  }
  return parsed;
}

async function groupLag(
  config: KafkaConnectionConfig,
): Promise<{ total: number; lines: string[] }> {
  const admin = await createKafkaClients(config, createLogger('warn')).admin();
  try {
    const [ends, committed] = await Promise.all([
      admin.endOffsets(config.topic),
      admin.committedOffsets(config.groupId, config.topic),
    ]);
    let total = 0;
    const lines: string[] = [];
    for (const [partition, end] of [...ends].sort(([a], [b]) => a - b)) {
      const done = committed.get(partition) ?? '-1';
      const lag = Number(end) - Math.max(0, Number(done));
      total += lag;
      lines.push(`partition ${partition}: end ${end}, committed ${done}, lag ${lag}`);
    }
    return { total, lines };
  } finally {
    await admin.disconnect();
  }
}

async function run(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'consume': {
      const config = loadServiceConfig();
      const logger = createLogger(config.logLevel);
      const tracing = startTracing(loadTracingConfig(), logger);
      const service = await startOfferService(config, logger, tracing).catch(
        async (error: unknown) => {
          await tracing.shutdown();
          throw error;
        },
      );
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        process.once(signal, () => void service.stop(signal));
      }
      return service.stopped;
    }
    case 'migrate': {
      const config = loadClickHouseConfig();
      const client = createClickHouseClient(config);
      try {
        await migrate(client, config.database, config.table).catch((error: unknown) => {
          throw toClickHouseFailure(error, 'migration');
        });
      } finally {
        await client.close();
      }
      console.log(`table ${config.database}.${config.table} is in place`);
      return 0;
    }
    case 'topics': {
      const { values } = parseArgs({
        args: [...rest],
        options: { partitions: { type: 'string' } },
      });
      const partitions = integerOption(values, 'partitions', 12);
      const config = loadKafkaConfig();
      const admin = await createKafkaClients(config, createLogger('warn')).admin();
      try {
        await admin.ensureTopics([
          { name: config.topic, partitions },
          { name: config.dlqTopic, partitions: Math.min(partitions, 3) },
        ]);
      } finally {
        await admin.disconnect();
      }
      console.log(`topics ${config.topic} and ${config.dlqTopic} are in place`);
      return 0;
    }
    case 'send': {
      const { values } = parseArgs({
        args: [...rest],
        options: {
          count: { type: 'string' },
          rate: { type: 'string' },
          'first-id': { type: 'string' },
          seed: { type: 'string' },
          invalid: { type: 'string' },
          'no-progress': { type: 'boolean' },
        },
      });
      const config = loadKafkaConfig();
      const logger = createLogger('warn');
      const tracing = startTracing(loadTracingConfig(), logger);
      const producer = createKafkaClients(config, logger).producer();
      await producer.connect();
      try {
        const result = await sendRegistrations(producer, {
          ...(tracing.enabled ? { tracer: trace.getTracer(TRACER_NAME) } : {}),
          topic: config.topic,
          count: integerOption(values, 'count', 1_000),
          rate: integerOption(values, 'rate', 0),
          firstUserId: Math.max(1, integerOption(values, 'first-id', 1)),
          seed: integerOption(values, 'seed', 42),
          invalid: integerOption(values, 'invalid', 0),
          progress: values['no-progress'] !== true,
        });
        console.log(
          `sent ${result.sent} messages (${result.invalid} invalid) to ${config.topic} in ${result.seconds.toFixed(2)} s (${Math.round(result.sent / Math.max(result.seconds, 0.001))} msg/s)`,
        );
      } finally {
        await producer.disconnect();
        await tracing.shutdown();
      }
      return 0;
    }
    case 'lag': {
      const { values } = parseArgs({
        args: [...rest],
        options: { wait: { type: 'boolean' }, timeout: { type: 'string' } },
      });
      const config = loadKafkaConfig();
      const deadline = Date.now() + integerOption(values, 'timeout', 120) * 1000;
      for (;;) {
        const { total, lines } = await groupLag(config);
        if (values.wait !== true || total === 0) {
          for (const line of lines) console.log(line);
          console.log(`group ${config.groupId} on ${config.topic}: total lag ${total}`);
          return total === 0 || values.wait !== true ? 0 : 1;
        }
        if (Date.now() > deadline) {
          for (const line of lines) console.log(line);
          console.error(`lag is still ${total} after the timeout`);
          return 1;
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    case 'smoke':
      return smokeCommand(rest);
    case undefined:
    case 'help':
    case '--help':
      console.log(USAGE);
      return command === undefined ? 2 : 0;
    default:
      console.error(`unknown command ${JSON.stringify(command)}\n\n${USAGE}`);
      return 2;
  }
}

run(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Pending client timers must not keep a finished command alive.
    setTimeout(() => process.exit(code), 1_000).unref();
  },
  (error: unknown) => {
    if (isOfferError(error, 'CONFIG_INVALID')) console.error(error.message);
    else console.error(`error: ${errorMessage(error)}`);
    process.exit(1);
  },
);
