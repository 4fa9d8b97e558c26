import { trace } from '@opentelemetry/api';

import type { ServiceConfig } from '../config/config.js';
import { errorMessage } from '../errors.js';
import type { TopicAdmin } from '../kafka/kafka-adapter.js';
import { createBatchProcessor } from '../pipeline/batch-processor.js';
import { createPipelineObserver } from '../pipeline/chunk-observer.js';
import {
  planReplay,
  replayBatchHandler,
  ReplayProgress,
  type PartitionRange,
} from '../pipeline/replay-range.js';
import { SinkHealth } from '../pipeline/sink-health.js';
import type { Logger } from '../telemetry/logger.js';
import { createMetrics, type Metrics } from '../telemetry/metrics.js';
import { TRACER_NAME } from '../telemetry/semconv.js';
import type { Tracing } from '../telemetry/tracing.js';
import { createShutdown } from './lifecycle.js';
import { openParts, startupChecks, type Parts } from './parts.js';
import { networkPolicyHint, runStartupChecks, StartupWindow } from './startup.js';

/** What to replay: the records with timestamps in [fromMs, toMs), through `groupId`. */
export interface ReplayRequest {
  readonly fromMs: number;
  readonly toMs: number;
  /** The replay's own consumer group; never the live one (KAFKA_GROUP_ID). */
  readonly groupId: string;
  /** How often a progress line is logged. */
  readonly progressIntervalMs: number;
}

export interface PartitionReplay {
  readonly partition: number;
  /** First offset replayed. */
  readonly start: string;
  /** First offset not replayed (the first record at or after `to`, or the end at start). */
  readonly stop: string;
  readonly scored: number;
  readonly deadLettered: number;
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

/** Counts, per partition, the offers and dead letters every sink acknowledged. */
class ReplayCounts {
  readonly #scored = new Map<number, number>();
  readonly #deadLettered = new Map<number, number>();

  add(partition: number, scored: number, deadLettered: number): void {
    this.#scored.set(partition, (this.#scored.get(partition) ?? 0) + scored);
    this.#deadLettered.set(partition, (this.#deadLettered.get(partition) ?? 0) + deadLettered);
  }

  of(range: PartitionRange): PartitionReplay {
    return {
      partition: range.partition,
      start: range.start.toString(),
      stop: range.stop.toString(),
      scored: this.#scored.get(range.partition) ?? 0,
      deadLettered: this.#deadLettered.get(range.partition) ?? 0,
    };
  }
}

/** Looks the range up per partition and points the replay group at its start. */
async function prepareGroup(
  admin: TopicAdmin,
  topic: string,
  request: ReplayRequest,
): Promise<ReplayProgress> {
  const starts = await admin.offsetsAtTime(topic, request.fromMs);
  const stops = await admin.offsetsAtTime(topic, request.toMs);
  const ranges = planReplay(starts, stops);
  // Set on every run: a rerun of the same range starts from its beginning again.
  await admin.setGroupOffsets(
    request.groupId,
    topic,
    new Map(ranges.map((range) => [range.partition, range.start.toString()])),
  );
  return new ReplayProgress(ranges);
}

/**
 * Re-scores the records of a time range of the input topic with the configured model into
 * the same sinks, through the service's own processor (decoding, dead letters, retries,
 * version guard), as a consumer group of its own. It starts where the range starts on every
 * partition and ends once every partition reached the offset where the range ends; the live
 * group's offsets are never read or written.
 */
export async function startReplay(
  liveConfig: ServiceConfig,
  request: ReplayRequest,
  logger: Logger,
  tracing: Tracing,
): Promise<RunningReplay> {
  const config: ServiceConfig = {
    ...liveConfig,
    // Dead letters name the replay's group; the same chunk of offsets as the live consumer's
    // must not be taken for a retried insert and dropped by a deduplicating ClickHouse.
    kafka: { ...liveConfig.kafka, groupId: request.groupId },
    clickhouse: { ...liveConfig.clickhouse, deduplicationToken: false },
  };
  const { topic, groupId } = config.kafka;
  const metrics = createMetrics(tracing.stats);
  const parts = await openParts(config, logger, metrics);
  let admin: TopicAdmin | undefined;
  let progress: ReplayProgress;
  try {
    const window = new StartupWindow(
      config.startupTimeoutMs,
      logger,
      {},
      config.networkPolicy ? networkPolicyHint : undefined,
    );
    await runStartupChecks(window, startupChecks(config, parts, logger), () => undefined);
    admin = await parts.kafka.admin();
    progress = await prepareGroup(admin, topic, request);
  } catch (error) {
    await admin?.disconnect().catch(() => undefined);
    await closeParts(parts);
    throw error;
  }
  logger.info(
    {
      topic,
      groupId,
      from: new Date(request.fromMs).toISOString(),
      to: new Date(request.toMs).toISOString(),
      modelVersion: parts.scorer.modelVersion,
      partitions: progress.ranges.map(({ partition, start, stop }) => ({
        partition,
        start: start.toString(),
        stop: stop.toString(),
      })),
      ...progress.totals(),
    },
    'replay planned',
  );
  return runReplay({ config, request, parts, admin, progress, logger, tracing, metrics });
}

async function closeParts(parts: Parts): Promise<void> {
  parts.clickhouse.flushNow();
  await Promise.allSettled([
    parts.producer.disconnect(),
    parts.redis.close(),
    parts.clickhouse.close(),
    parts.scorer.close(),
  ]);
}

/** What a planned replay runs with: its parts are open and checked, its group points at the start. */
interface PlannedReplay {
  readonly config: ServiceConfig;
  readonly request: ReplayRequest;
  readonly parts: Parts;
  readonly admin: TopicAdmin;
  readonly progress: ReplayProgress;
  readonly logger: Logger;
  readonly tracing: Tracing;
  readonly metrics: Metrics;
}

/** Wires consumer -> range filter -> processor, and stops once every partition is done. */
async function runReplay(planned: PlannedReplay): Promise<RunningReplay> {
  const { config, request, parts, admin, progress, logger, tracing, metrics } = planned;
  const { topic, groupId } = config.kafka;
  const counts = new ReplayCounts();
  // A stop the parts ask for (the end of the range, a failure), carried out by the shutdown below.
  const stopRequest = new AbortController();
  const requestStop = (reason: string, exitCode = 0): void => {
    stopRequest.abort({ reason, exitCode });
  };
  const consumer = parts.kafka.consumer(config.kafka, {
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
  });
  const health = new SinkHealth({
    metrics,
    logger,
    onPause: () => {
      consumer.pauseFetching();
    },
    onResume: () => {
      consumer.resumeFetching();
    },
  });
  const processor = createBatchProcessor({
    scorer: parts.scorer,
    sinks: { clickhouse: parts.clickhouse, redis: parts.redis, deadLetters: parts.deadLetters },
    retry: { ...config.sinkRetry, health, metrics },
    settings: {
      messageMaxBytes: config.messageMaxBytes,
      batchMaxMessages: config.batchMaxMessages,
      alignChunksToOffsets: config.clickhouse.cluster !== '',
    },
    observer: createPipelineObserver({
      metrics,
      logger,
      ...(tracing.enabled ? { tracer: trace.getTracer(TRACER_NAME) } : {}),
      groupId,
      onAcknowledged: (partition, scored, deadLettered) => {
        counts.add(partition, scored, deadLettered);
      },
    }),
    onFatal: (error) => {
      logger.fatal({ err: errorMessage(error) }, 'unrecoverable failure; stopping the replay');
      requestStop('fatal error', 1);
    },
  });

  const ticker = setInterval(() => {
    // The committed offsets also cover what the handler never sees: a partition whose last
    // records before its stop are control records is committed past them by the consumer.
    admin
      .committedOffsets(groupId, topic)
      .then((committed) => {
        for (const [partition, offset] of committed) {
          if (offset !== '-1') progress.advance(partition, BigInt(offset));
        }
        if (progress.complete) requestStop('replay complete');
      })
      .catch((error: unknown) => {
        logger.debug({ err: errorMessage(error) }, 'reading the replay group offsets failed');
      });
  }, 1_000);
  const progressTicker = setInterval(() => {
    logger.info({ groupId, ...progress.totals() }, 'replay progress');
  }, request.progressIntervalMs);

  const shutdown = createShutdown({
    graceMs: config.shutdownGraceMs,
    logger,
    onStopping: () => {
      clearInterval(ticker);
      clearInterval(progressTicker);
    },
    steps: {
      drain: () => consumer.stop(),
      flush: () => {
        parts.clickhouse.flushNow();
      },
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

  const outcome = shutdown.stopped.then((code) => {
    const partitions = progress.ranges.map((range) => counts.of(range));
    return {
      ...progress.totals(),
      exitCode: code === 0 && progress.complete ? 0 : 1,
      complete: progress.complete,
      scored: partitions.reduce((sum, p) => sum + p.scored, 0),
      deadLettered: partitions.reduce((sum, p) => sum + p.deadLettered, 0),
      partitions,
    };
  });
  return {
    outcome,
    stop: (reason) => void shutdown.stop(reason, 1),
  };
}
