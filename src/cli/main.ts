#!/usr/bin/env node
import { Command, CommanderError, InvalidArgumentError } from 'commander';

import { loadClickHouseConfig, loadServiceConfig, loadTracingConfig } from '../config/config.js';
import { errorMessage, isOfferError } from '../errors.js';
import { startOfferService } from '../service/offer-service.js';
import { SERVICE_VERSION } from '../service/version.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { startTracing } from '../telemetry/tracing.js';
import { logFatal } from './fatal.js';
import { migrateCommand } from './migrate.js';
import { parseReplayTime, replayCommand, type ReplayCommandOptions } from './replay.js';
import { smokeCommand } from './smoke.js';
import {
  lagCommand,
  sendCommand,
  topicsCommand,
  type SendCommandOptions,
} from './kafka-commands.js';

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
    logFatal('cannot start', error);
    return 1;
  }
}

/** `replay`: re-scores a time range (src/cli/replay.ts). */
function replayCommandOf(program: Command, exit: (code: number) => void): void {
  program
    .command('replay')
    .description(
      're-score the records of a time range of the input topic with the configured model into ' +
        'the same sinks, through a consumer group of its own (the live group is left alone); ' +
        'exits 0 once every partition reached the end of the range',
    )
    .requiredOption(
      '--from <time>',
      'start of the range, inclusive: ISO 8601 with its zone, a date, or epoch ms',
      parseReplayTime,
    )
    .requiredOption(
      '--to <time>',
      'end of the range, exclusive (a future time: the end of each partition at start)',
      parseReplayTime,
    )
    .option(
      '--group <id>',
      'consumer group of the replay (default <KAFKA_GROUP_ID>-replay-<from>-<to>)',
    )
    .option('--progress-interval <s>', 'seconds between progress lines', wholeNumber(1), 5)
    .action(async (options: ReplayCommandOptions, command: Command) => {
      exit(await replayCommand(options, (message) => command.error(`error: ${message}`)));
    });
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
        'missing, apply safe changes (a column, the TTL), refuse the rest naming each difference ' +
        '(exit 1; 75 when ClickHouse did not answer and a retry may succeed)',
    )
    .option('--dry-run', 'print the plan (and what would be refused) without changing anything')
    .action(async (options: { dryRun?: boolean }) => {
      exit(await migrateCommand(loadClickHouseConfig(), { dryRun: options.dryRun === true }));
    });

  replayCommandOf(program, exit);

  program
    .command('topics')
    .description('create the input and dead-letter topics if missing (KAFKA_*)')
    .option('--partitions <n>', 'partitions of the input topic', wholeNumber(1, 10_000), 12)
    .action(async (options: { partitions: number }) => {
      await topicsCommand(options.partitions);
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
    .action(async (options: SendCommandOptions) => {
      await sendCommand(options);
    });

  program
    .command('lag')
    .description("print the consumer group's lag per partition and in total (KAFKA_*)")
    .option('--wait', 'wait until the lag is zero; exit 1 at the timeout')
    .option('--timeout <s>', 'seconds to wait with --wait', wholeNumber(1), 120)
    .action(async (options: { wait?: boolean; timeout: number }) => {
      exit(await lagCommand(options.wait === true, options.timeout));
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
