#!/usr/bin/env node
import { trace } from '@opentelemetry/api';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { pino } from 'pino';

import {
  loadClickHouseConfig,
  loadKafkaConfig,
  loadServiceConfig,
  loadTracingConfig,
  type KafkaConnectionConfig,
} from '../config/config.js';
import { errorMessage, isOfferError } from '../errors.js';
import { createKafkaClients, readGroupPositions } from '../kafka/kafka-adapter.js';
import { startOfferService } from '../service/offer-service.js';
import { SERVICE_VERSION } from '../service/version.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { TRACER_NAME } from '../telemetry/semconv.js';
import { startTracing } from '../telemetry/tracing.js';
import { migrateCommand } from './migrate.js';
import { sendRegistrations } from './send.js';
import { smokeCommand } from './smoke.js';

/** An option's value as a whole number within [min, max], or a usage error naming the option. */
function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER): (raw: string) => number {
  return (raw) => {
    const parsed = Number(raw);
    if (raw.trim() === '' || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `from ${min} to ${max}`;
      throw new InvalidArgumentError(
        `must be a whole number ${range}; got ${JSON.stringify(raw)}.`,
      );
    }
    return parsed;
  };
}

/** The service. Its logs are JSON lines, and so is the line that says why it cannot start. */
async function consume(): Promise<number> {
  let logger: Logger | undefined;
  try {
    const config = loadServiceConfig();
    logger = createLogger(config.logLevel);
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
    return await service.stopped;
  } catch (error) {
    // On stderr, written synchronously: the process exits right after.
    const fatal = createLogger('fatal', undefined, pino.destination({ dest: 2, sync: true }));
    fatal.fatal(
      {
        ...(isOfferError(error) ? { code: error.code } : {}),
        ...(error instanceof Error && error.cause !== undefined
          ? { cause: errorMessage(error.cause) }
          : {}),
      },
      `cannot start: ${errorMessage(error)}`,
    );
    return 1;
  }
}

/** The command line; `exit` receives a command's exit code when it is not 0. */
function commandLine(exit: (code: number) => void): Command {
  const program = new Command('realtime-offers')
    .description(
      'Streams user registrations from Kafka, scores them with the ONNX model and writes ' +
        'personal offers to ClickHouse and Redis.\nConfiguration comes from environment ' +
        'variables (see the README); options are per command.',
    )
    .version(
      `${SERVICE_VERSION} (Node.js ${process.versions.node})`,
      '-V, --version',
      'print the version and the Node.js it runs on',
    )
    .helpOption('-h, --help', 'print help; `realtime-offers <command> --help` for a command')
    .showHelpAfterError('(realtime-offers --help lists the commands and their use)')
    .exitOverride();

  program
    .command('consume')
    .description('run the service: Kafka -> model -> ClickHouse + Redis, until SIGTERM')
    .action(async () => {
      exit(await consume());
    });

  program
    .command('migrate')
    .description(
      'bring the ClickHouse database and table(s) to what CLICKHOUSE_* ask for: create what is ' +
        'missing, apply safe changes (a column, the TTL), refuse the rest naming each difference (exit 1)',
    )
    .option('--dry-run', 'print the plan (and what would be refused) without changing anything')
    .action(async (options: { dryRun?: boolean }) => {
      exit(await migrateCommand(loadClickHouseConfig(), { dryRun: options.dryRun === true }));
    });

  program
    .command('topics')
    .description('create the input and dead-letter topics if missing (KAFKA_*)')
    .option('--partitions <n>', 'partitions of the input topic', wholeNumber(1, 10_000), 12)
    .action(async (options: { partitions: number }) => {
      const config = loadKafkaConfig();
      const admin = await createKafkaClients(config, createLogger('warn')).admin();
      try {
        await admin.ensureTopics([
          { name: config.topic, partitions: options.partitions },
          { name: config.dlqTopic, partitions: Math.min(options.partitions, 3) },
        ]);
      } finally {
        await admin.disconnect();
      }
      console.log(`topics ${config.topic} and ${config.dlqTopic} are in place`);
    });

  program
    .command('send')
    .description('produce generated registrations to the input topic (KAFKA_*)')
    .option('--count <n>', 'registrations to send', wholeNumber(0), 1_000)
    .option(
      '--rate <r>',
      'messages per second; 0 = as fast as the broker takes them',
      wholeNumber(0),
      0,
    )
    .option('--first-id <id>', 'user id of the first registration', wholeNumber(1), 1)
    .option('--seed <s>', 'seed of the generated fields', wholeNumber(0), 42)
    .option('--invalid <k>', 'how many of them are invalid (dead-lettered)', wholeNumber(0), 0)
    .option('--no-progress', 'no progress bar')
    .action(
      async (options: {
        count: number;
        rate: number;
        firstId: number;
        seed: number;
        invalid: number;
        progress: boolean;
      }) => {
        const config = loadKafkaConfig();
        const logger = createLogger('warn');
        const tracing = startTracing(loadTracingConfig(), logger);
        const producer = createKafkaClients(config, logger).producer();
        await producer.connect();
        try {
          const result = await sendRegistrations(producer, {
            ...(tracing.enabled ? { tracer: trace.getTracer(TRACER_NAME) } : {}),
            topic: config.topic,
            count: options.count,
            rate: options.rate,
            firstUserId: options.firstId,
            seed: options.seed,
            invalid: options.invalid,
            progress: options.progress,
          });
          console.log(
            `sent ${result.sent} messages (${result.invalid} invalid) to ${config.topic} in ${result.seconds.toFixed(2)} s (${Math.round(result.sent / Math.max(result.seconds, 0.001))} msg/s)`,
          );
        } finally {
          await producer.disconnect();
          await tracing.shutdown();
        }
      },
    );

  program
    .command('lag')
    .description("print the consumer group's lag per partition and in total (KAFKA_*)")
    .option('--wait', 'wait until the lag is zero; exit 1 at the timeout')
    .option('--timeout <s>', 'seconds to wait with --wait', wholeNumber(1), 120)
    .action(async (options: { wait?: boolean; timeout: number }) => {
      const config = loadKafkaConfig();
      const deadline = Date.now() + options.timeout * 1000;
      for (;;) {
        const { total, lines } = await groupLag(config);
        if (options.wait !== true || total === 0) {
          for (const line of lines) console.log(line);
          console.log(`group ${config.groupId} on ${config.topic}: total lag ${total}`);
          return;
        }
        if (Date.now() > deadline) {
          for (const line of lines) console.log(line);
          console.error(`lag is still ${total} after the timeout`);
          exit(1);
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    });

  program
    .command('smoke')
    .description('send one registration and wait for its offer in Redis (the helm test)')
    .option('--timeout <s>', 'seconds to wait for the offer', wholeNumber(1), 60)
    .action(async (options: { timeout: number }) => {
      exit(await smokeCommand(options.timeout));
    });

  return program;
}

/** Runs one command line; resolves with its exit code. Usage errors exit 2. */
async function run(argv: readonly string[]): Promise<number> {
  let code = 0;
  const program = commandLine((exit) => {
    code = exit;
  });
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return 2;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    // Help and version printed as asked exit 0; an unknown command or option, a missing or
    // invalid value, is a usage error (commander has printed it, with the help hint).
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
  return code;
}

async function groupLag(
  config: KafkaConnectionConfig,
): Promise<{ total: number; lines: string[] }> {
  const admin = await createKafkaClients(config, createLogger('warn')).admin();
  try {
    if ((await admin.missingTopics([config.topic])).length > 0) {
      throw new Error(`topic ${config.topic} does not exist (KAFKA_TOPIC)`);
    }
    let total = 0;
    const lines: string[] = [];
    for (const position of await readGroupPositions(admin, config.groupId, config.topic)) {
      const { partition, end, committed, lag } = position;
      total += lag;
      lines.push(`partition ${partition}: end ${end}, committed ${committed}, lag ${lag}`);
    }
    return { total, lines };
  } finally {
    await admin.disconnect();
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
