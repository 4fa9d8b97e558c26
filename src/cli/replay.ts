import { InvalidArgumentError } from 'commander';

import { loadServiceConfig, loadTracingConfig } from '../config/config.js';
import { startReplay } from '../service/replay.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { startTracing } from '../telemetry/tracing.js';
import { logFatal } from './fatal.js';

export interface ReplayCommandOptions {
  /** Start of the range, ms since the epoch (inclusive). */
  readonly from: number;
  /** End of the range, ms since the epoch (exclusive). */
  readonly to: number;
  /** The replay's consumer group; `replayGroupId` of the range when undefined. */
  readonly group?: string;
  /** Seconds between progress lines. */
  readonly progressInterval: number;
}

// A date (midnight UTC), or a date and time with its zone: a time without one would be read
// in the machine's zone, which differs between a laptop and a pod.
const ISO_TIME =
  /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/i;

/** Milliseconds of an ISO 8601 time, NaN when it is not one or names a day its month lacks. */
function isoTime(text: string): number {
  if (!ISO_TIME.test(text)) return NaN;
  const [year, month, day] = text.slice(0, 10).split('-').map(Number);
  // Date.parse takes February 30 for March 2.
  const date = new Date(Date.UTC(year ?? 0, (month ?? 0) - 1, day ?? 0));
  return date.getUTCDate() === day ? Date.parse(text) : NaN;
}

/** A `--from`/`--to` value: an ISO 8601 time with its zone (or a date), or epoch milliseconds. */
export function parseReplayTime(raw: string): number {
  const text = raw.trim();
  const ms = /^\d+$/.test(text) ? Number(text) : isoTime(text);
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new InvalidArgumentError(
      `must be an ISO 8601 time with its zone (2026-01-31T12:00:00Z, 2026-01-31T14:00:00+02:00), a date (2026-01-31, midnight UTC) or milliseconds since the epoch; got ${JSON.stringify(raw)}.`,
    );
  }
  return ms;
}

/**
 * The default group of a replay: the same range always gives the same group, so a rerun
 * finds (and resets) the group of the run before instead of leaving one more behind.
 */
export function replayGroupId(liveGroupId: string, fromMs: number, toMs: number): string {
  return `${liveGroupId}-replay-${fromMs}-${toMs}`;
}

/**
 * What makes a replay request unusable, or undefined: an empty range, or the live group,
 * whose offsets the replay would move.
 */
export function replayRequestProblem(
  options: Pick<ReplayCommandOptions, 'from' | 'to'>,
  groupId: string,
  liveGroupId: string,
): string | undefined {
  if (options.from >= options.to) {
    return `--from (${new Date(options.from).toISOString()}) must be before --to (${new Date(options.to).toISOString()})`;
  }
  if (groupId === liveGroupId) {
    return `--group ${groupId} is the live consumer group (KAFKA_GROUP_ID); a replay needs a group of its own (leave --group out for ${replayGroupId(liveGroupId, options.from, options.to)}), or it would move the live consumer's offsets`;
  }
  return undefined;
}

/**
 * `replay`: re-scores a time range of the input topic into the sinks, prints progress and a
 * final count as JSON lines, and exits 0 once every partition reached the end of the range.
 * `usage` reports an unusable request (exit 2).
 */
export async function replayCommand(
  options: ReplayCommandOptions,
  usage: (message: string) => never,
): Promise<number> {
  const config = loadServiceConfig();
  const liveGroupId = config.kafka.groupId;
  const groupId = options.group ?? replayGroupId(liveGroupId, options.from, options.to);
  const problem = replayRequestProblem(options, groupId, liveGroupId);
  if (problem !== undefined) usage(problem);

  let logger: Logger | undefined;
  try {
    logger = createLogger(config.logLevel);
    const tracing = startTracing(loadTracingConfig(), logger);
    const replay = await startReplay(
      config,
      {
        fromMs: options.from,
        toMs: options.to,
        groupId,
        progressIntervalMs: options.progressInterval * 1000,
      },
      logger,
      tracing,
    ).catch(async (error: unknown) => {
      await tracing.shutdown();
      throw error;
    });
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.once(signal, () => {
        replay.stop(signal);
      });
    }
    const outcome = await replay.outcome;
    const { exitCode, ...counts } = outcome;
    // Whatever LOG_LEVEL silences: the final count is what the command is run for.
    createLogger('info').info({ groupId, ...counts }, 'replay finished');
    return exitCode;
  } catch (error) {
    logFatal('replay failed', error);
    return 1;
  }
}
