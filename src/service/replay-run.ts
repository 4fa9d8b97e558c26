import type { ServiceConfig } from '../config/config.js';
import { errorMessage } from '../errors.js';
import type {
  BatchHandler,
  ConsumerEvents,
  RegistrationConsumer,
  TopicAdmin,
} from '../kafka/kafka-adapter.js';
import {
  replayBatchHandler,
  ReplayCounts,
  type PartitionReplay,
  type ReplayProgress,
} from '../pipeline/replay-range.js';
import type { Logger } from '../telemetry/logger.js';
import type { Metrics } from '../telemetry/metrics.js';
import type { Tracing } from '../telemetry/tracing.js';
import { createShutdown } from './lifecycle.js';
import { clickhouseFlush, closeShadow, partsProcessor, type Parts } from './parts.js';

// The replay's last phase: wire consumer -> range filter -> processor, follow the progress,
// stop once every partition reached the end of the range (replay.ts opens and plans).

/** What to replay: the records with timestamps in [fromMs, toMs), through `groupId`. */
export interface ReplayRequest {
  readonly fromMs: number;
  readonly toMs: number;
  /** The replay's own consumer group; never the live one (KAFKA_GROUP_ID). */
  readonly groupId: string;
  /** How often a progress line is logged. */
  readonly progressIntervalMs: number;
}

export interface ReplayOutcome {
  /** 0 when every partition reached its stop offset; 1 otherwise (the sinks keep what was written). */
  readonly exitCode: number;
  readonly complete: boolean;
  /** Offsets of the range done, and in all (control records count as offsets). */
  readonly done: number;
  readonly total: number;
  readonly scored: number;
  readonly deadLettered: number;
  readonly partitions: readonly PartitionReplay[];
}

export interface RunningReplay {
  readonly outcome: Promise<ReplayOutcome>;
  /** Stops before the end (a signal): in-flight batches finish, the outcome says incomplete. */
  stop(reason: string): void;
}

export async function closeParts(parts: Parts): Promise<void> {
  clickhouseFlush(parts)();
  await Promise.allSettled([
    parts.producer.disconnect(),
    parts.redis.close(),
    parts.clickhouse.close(),
    parts.scorer.close(),
    closeShadow(parts),
  ]);
}

/** What a planned replay runs with: its parts are open and checked, its group points at the start. */
export interface PlannedReplay {
  readonly config: ServiceConfig;
  readonly request: ReplayRequest;
  readonly parts: Parts;
  readonly admin: TopicAdmin;
  readonly progress: ReplayProgress;
  readonly logger: Logger;
  readonly tracing: Tracing;
  readonly metrics: Metrics;
}

/** The consumer's batch processor, with the replay's group and its own counts. */
function replayProcessor(
  { config, parts, logger, tracing, metrics }: PlannedReplay,
  consumer: RegistrationConsumer,
  events: {
    onAcknowledged: (partition: number, scored: number, deadLettered: number) => void;
    onFatal: () => void;
  },
): BatchHandler {
  return partsProcessor(config, parts, {
    metrics,
    logger,
    tracing,
    consumer,
    onAcknowledged: events.onAcknowledged,
    onFatal: (error) => {
      logger.fatal({ err: errorMessage(error) }, 'unrecoverable failure; stopping the replay');
      events.onFatal();
    },
  }).processor;
}

/**
 * Follows the replay group's committed offsets (every second) and logs progress lines; calls
 * `onComplete` once every partition reached its stop. Returns what stops following.
 */
function followProgress(
  { config, request, admin, progress, logger }: PlannedReplay,
  onComplete: () => void,
): () => void {
  const { topic, groupId } = config.kafka;
  const offsets = setInterval(() => {
    // The committed offsets also cover what the handler never sees: a partition whose last
    // records before its stop are control records is committed past them by the consumer.
    admin
      .committedOffsets(groupId, topic)
      .then((committed) => {
        for (const [partition, offset] of committed) {
          if (offset !== '-1') progress.advance(partition, BigInt(offset));
        }
        if (progress.complete) onComplete();
      })
      .catch((error: unknown) => {
        logger.debug({ err: errorMessage(error) }, 'reading the replay group offsets failed');
      });
  }, 1_000);
  const lines = setInterval(() => {
    logger.info({ groupId, ...progress.totals() }, 'replay progress');
  }, request.progressIntervalMs);
  return () => {
    clearInterval(offsets);
    clearInterval(lines);
  };
}

/** The replay consumer's group events: log lines, and a stop when it will not restart. */
function consumerEvents(
  logger: Logger,
  requestStop: (reason: string, exitCode: number) => void,
): ConsumerEvents {
  return {
    onGroupJoin: (memberId, partitions) => {
      logger.info({ memberId, partitions }, 'joined the replay group');
    },
    onCrash: (error, willRestart) => {
      if (willRestart) {
        logger.warn({ err: errorMessage(error) }, 'kafka consumer crashed; it restarts itself');
        return;
      }
      logger.fatal({ err: errorMessage(error) }, 'kafka consumer crashed and will not restart');
      requestStop('kafka consumer crashed', 1);
    },
  };
}

/** The final count, given the exit code of the stop. */
function outcomeOf(progress: ReplayProgress, counts: ReplayCounts, code: number): ReplayOutcome {
  const partitions = progress.ranges.map((range) => counts.of(range));
  return {
    ...progress.totals(),
    exitCode: code === 0 && progress.complete ? 0 : 1,
    complete: progress.complete,
    scored: partitions.reduce((sum, p) => sum + p.scored, 0),
    deadLettered: partitions.reduce((sum, p) => sum + p.deadLettered, 0),
    partitions,
  };
}

/** Wires consumer -> range filter -> processor, and stops once every partition is done. */
export async function runReplay(planned: PlannedReplay): Promise<RunningReplay> {
  const { config, parts, admin, progress, logger, tracing } = planned;
  const counts = new ReplayCounts();
  // A stop the parts ask for (the end of the range, a failure), carried out by the shutdown below.
  const stopRequest = new AbortController();
  const requestStop = (reason: string, exitCode = 0): void => {
    stopRequest.abort({ reason, exitCode });
  };
  const consumer = parts.kafka.consumer(config.kafka, consumerEvents(logger, requestStop));
  const processor = replayProcessor(planned, consumer, {
    onAcknowledged: (partition, scored, deadLettered) => {
      counts.add(partition, scored, deadLettered);
    },
    onFatal: () => {
      requestStop('fatal error', 1);
    },
  });
  const stopFollowing = followProgress(planned, () => {
    requestStop('replay complete');
  });

  const shutdown = createShutdown({
    graceMs: config.shutdownGraceMs,
    logger,
    onStopping: stopFollowing,
    steps: {
      drain: () => consumer.stop(),
      flush: clickhouseFlush(parts),
      close: [() => closeParts(parts), () => admin.disconnect()],
      flushTelemetry: () => tracing.shutdown(),
    },
  });

  stopRequest.signal.addEventListener(
    'abort',
    () => {
      const { reason, exitCode } = stopRequest.signal.reason as {
        reason: string;
        exitCode: number;
      };
      void shutdown.stop(reason, exitCode);
    },
    { once: true },
  );
  const handler = replayBatchHandler(progress, processor, {
    pausePartitions: (partitions) => {
      consumer.pausePartitions(partitions);
      if (progress.complete) requestStop('replay complete');
    },
  });
  if (progress.complete) {
    void shutdown.stop('nothing to replay');
  } else {
    await consumer.start(handler).catch(async (error: unknown) => {
      await shutdown.stop('the consumer did not start', 1);
      throw error;
    });
  }

  const outcome = shutdown.stopped.then((code) => outcomeOf(progress, counts, code));
  return {
    outcome,
    stop: (reason) => void shutdown.stop(reason, 1),
  };
}
