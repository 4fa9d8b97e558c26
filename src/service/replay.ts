import type { ServiceConfig } from '../config/config.js';
import type { TopicAdmin } from '../kafka/kafka-adapter.js';
import { planReplay, ReplayProgress } from '../pipeline/replay-range.js';
import type { Logger } from '../telemetry/logger.js';
import { createMetrics } from '../telemetry/metrics.js';
import type { Tracing } from '../telemetry/tracing.js';
import { openParts, startupChecks } from './parts.js';
import { closeParts, runReplay, type ReplayRequest, type RunningReplay } from './replay-run.js';
import { networkPolicyHint, runStartupChecks, StartupWindow } from './startup.js';

export type { ReplayOutcome, ReplayRequest, RunningReplay } from './replay-run.js';

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
  const metrics = createMetrics(tracing.stats, { shadow: config.model.shadow !== undefined });
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
