/**
 * End-to-end pipeline benchmark against real local Kafka, Redis and ClickHouse
 * (scripts/infra), with the real model, the consumer run as its own process:
 *
 *   drain      max throughput of one consumer: N preloaded messages, time to zero lag, CPU
 *              microseconds per message of the consumer and of Kafka, Redis and ClickHouse;
 *              and the same drain by a plain kafkajs consumer (count and commit only) with
 *              the same settings, the ceiling the service is compared with
 *   settings   the same drain with other consumer settings (fetch size, concurrency, chunk
 *              size, ClickHouse window, model threads, V8 heap) and their peak RSS
 *   scaling    the drain with 1, 2 and 4 consumers on 12 partitions, CPU of every process
 *   sustained  production and consumption at the same time, as fast as possible
 *   latency    end-to-end latency at 1,000 and 5,000 msg/s (Redis probe and the histogram)
 *   profile    a drain under `node --cpu-prof`: top self-time functions of the hot path
 *   cluster    the default drain with Redis as a Redis Cluster (3 primaries + 3 replicas, its
 *              own services in <INFRA_DIR>-redis-cluster) beside the single Redis: msgs/s and
 *              CPU per message of the consumer and of Redis (all nodes)
 *
 * Before the sections, the model line (model-cost.ts): the model's µs per row at batch 1,000
 * with one intra-op thread, shipped and previous release side by side.
 *
 * Commands and environment: USAGE in pipeline/options.ts (`npm run bench -- --help`). Prints markdown tables;
 * writes bench.md, bench.json and the CPU profile into the folder.
 *
 * The consumers run compiled (tsconfig.build.json into .cache/bench-dist), as the image
 * runs them: tsx in the process would add its own memory and start-up time.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { compileService, machineInfo } from 'realtime-offers-loadtest';

import { REPO_ROOT } from '../../dev/paths.js';
import { Bench } from './pipeline/bench.js';
import type { DrainResult } from './pipeline/drain.js';
import { fixed, int, log } from './pipeline/format.js';
import { BenchReport } from './pipeline/report.js';
import { clusterSection } from './pipeline/sections/cluster.js';
import { drainSection } from './pipeline/sections/drain.js';
import { latencySection } from './pipeline/sections/latency.js';
import { profileSection } from './pipeline/sections/profile.js';
import { scalingSection } from './pipeline/sections/scaling.js';
import { settingsSection } from './pipeline/sections/settings.js';
import { sustainedSection } from './pipeline/sections/sustained.js';
import {
  MESSAGES,
  OUT,
  PARTITIONS,
  REPEATS,
  SECTIONS,
  USAGE,
  USE_TSX,
} from './pipeline/options.js';
import { compareModelCost, modelCostLines } from './model-cost.js';
import { exitOnHelp } from './usage.js';

exitOnHelp(USAGE);

async function main(): Promise<void> {
  await mkdir(OUT, { recursive: true });
  const report = new BenchReport(OUT, {
    machine: machineInfo(),
    messages: MESSAGES,
    partitions: PARTITIONS,
    repeats: REPEATS,
    useTsx: USE_TSX,
  });

  let compiledCli: string | undefined;
  if (!USE_TSX) {
    log('compiling the service into .cache/bench-dist');
    compiledCli = await compileService(join(REPO_ROOT, '.cache', 'bench-dist'));
  }
  report.output.consumerRuns = USE_TSX ? 'tsx (TypeScript source)' : 'compiled JavaScript';
  log('measuring the model, shipped and previous release');
  const modelCost = await compareModelCost();
  report.output.model = modelCost;
  report.markdown.push(modelCostLines(modelCost).join('\n'));
  const bench = await Bench.start(compiledCli);
  try {
    const needsPreload = ['drain', 'settings', 'scaling', 'profile', 'cluster'].some((s) =>
      SECTIONS.has(s),
    );
    const topic = needsPreload ? await bench.topic() : '';
    let singleNode: DrainResult | undefined;
    if (needsPreload) {
      log(`preloading ${int(MESSAGES)} messages into ${topic}`);
      const preload = await bench.preload(topic, MESSAGES);
      report.output.preload = preload;
      report.markdown.push(
        `preload: ${int(MESSAGES)} messages in ${fixed(preload.seconds, 2)} s (${int(preload.rate)} msgs/s produced)`,
      );
    }
    if (SECTIONS.has('drain')) singleNode = await drainSection(bench, topic, report);
    if (SECTIONS.has('settings')) await settingsSection(bench, topic, report);
    if (SECTIONS.has('scaling')) await scalingSection(bench, topic, report);
    if (SECTIONS.has('sustained')) await sustainedSection(bench, report);
    if (SECTIONS.has('latency')) await latencySection(bench, report);
    if (SECTIONS.has('profile')) await profileSection(bench, topic, report);
    if (SECTIONS.has('cluster')) await clusterSection(bench, topic, report, singleNode);
  } finally {
    await bench.close();
  }
  console.log(report.markdown.join('\n\n'));
  console.log(`\nraw data: ${report.jsonFile}`);
}

main().then(
  () => {
    // Client timers (Kafka reconnects, keep-alive sockets) must not keep the run alive.
    setTimeout(() => process.exit(0), 1_000).unref();
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
