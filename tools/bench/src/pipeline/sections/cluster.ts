import { Bench } from '../bench.js';
import { repeatDrain, type DrainResult } from '../drain.js';
import { fixed, int, log, table } from '../format.js';
import { type BenchReport, redisCpu, usPerMessage } from '../report.js';
import { INFRA_DIR, MESSAGES } from '../options.js';

/**
 * Cluster: the default drain with a Redis Cluster (its own services) beside the single Redis
 * (`singleNode`, the drain section's median, else drained here).
 */
export async function clusterSection(
  bench: Bench,
  topic: string,
  report: BenchReport,
  drained?: DrainResult,
): Promise<void> {
  const singleNode = drained ?? (await repeatDrain(bench, topic, 'defaults', 1, {})).median;
  const clusterDir = `${INFRA_DIR}-redis-cluster`;
  const clusterBench = await Bench.start(bench.compiledCli, clusterDir, {
    INFRA_REDIS_MODE: 'cluster',
  });
  let cluster: DrainResult;
  try {
    await clusterBench.connect();
    const clusterTopic = await clusterBench.topic();
    log(`preloading ${int(MESSAGES)} messages into ${clusterTopic} (${clusterDir})`);
    await clusterBench.preload(clusterTopic, MESSAGES);
    cluster = (await repeatDrain(clusterBench, clusterTopic, 'Redis Cluster', 1, {})).median;
  } finally {
    await clusterBench.close();
  }
  report.output.cluster = { singleNode, cluster };
  const row = (name: string, result: DrainResult): string[] => {
    const consumer = result.cpu['consumer-1'] ?? Number.NaN;
    const redis = redisCpu(result);
    return [
      name,
      int(result.rate),
      int(consumer),
      fixed(usPerMessage(consumer, result.rate)),
      int(redis),
      fixed(usPerMessage(redis, result.rate)),
      fixed(result.stageMs.redis),
    ];
  };
  report.markdown.push(
    `### Redis: one node and a Redis Cluster (one consumer, default settings, same drain)\n\n${table(
      [
        'Redis',
        'msgs/s',
        'consumer CPU %',
        'consumer CPU µs/msg',
        'redis CPU % (all nodes)',
        'redis CPU µs/msg',
        'redis ms/chunk',
      ],
      [row('one node', singleNode), row('cluster, 3 primaries + 3 replicas', cluster)],
    )}\n\nThe cluster runs with its own Kafka and ClickHouse (${clusterDir}); its writes are one script call per hash slot in one pipeline per primary, and its CPU includes the replicas applying the replication stream.`,
  );
  await report.save();
}
