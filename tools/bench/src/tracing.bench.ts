/**
 * Throughput of one consumer with tracing off and with tracing at ratio 0.01 (the
 * production setting), on the same preloaded messages.
 *
 *   npm run bench:tracing            (BENCH_MESSAGES=100000 BENCH_ROUNDS=3 by default)
 *
 * Messages are produced once with trace context in their headers (the sender traces at
 * ratio 0.01, so 1 % carry a sampled parent); each round drains them with a fresh
 * consumer group, alternating the two settings so drift on the machine hits both alike.
 */
import os from 'node:os';

import { startInfra } from '../../../test/support/infra.js';
import { OtlpReceiver } from '../../../test/support/otlp-receiver.js';
import { PipelineFixture } from '../../../test/support/pipeline-fixture.js';
import { ConsumerProcess, runCli, waitFor } from '../../../test/support/service.js';
import { exitOnHelp } from './usage.js';

exitOnHelp(`usage: npm run bench:tracing

environment:
  INFRA_DIR        the services' state dir (default .infra/test)
  BENCH_MESSAGES   preloaded messages (default 100000)
  BENCH_ROUNDS     drains per setting, the median is reported (default 3)`);

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const RATIO = 0.01;

interface Round {
  readonly setting: string;
  readonly seconds: number;
  readonly rate: number;
}

async function drain(
  fixture: PipelineFixture,
  round: number,
  extraEnv: Record<string, string>,
): Promise<number> {
  const groupId = `${fixture.groupId}-${round}`;
  const consumer = await ConsumerProcess.start(
    fixture.env({ ...extraEnv, KAFKA_GROUP_ID: groupId, LOG_LEVEL: 'warn' }),
  );
  try {
    await consumer.waitReady();
    // Timed from readiness, so start-up (model load, group join) is not counted.
    const started = performance.now();
    await waitFor(
      `${MESSAGES} offers`,
      async () => (await consumer.metric('offers_scored_total')) >= MESSAGES,
      600_000,
      50,
    );
    return (performance.now() - started) / 1000;
  } finally {
    await consumer.stop('SIGTERM');
  }
}

const infra = await startInfra();
const receiver = await OtlpReceiver.start();
const fixture = new PipelineFixture(infra);
await fixture.setUp(12);
try {
  const tracing = {
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: String(RATIO),
  };
  const sent = await runCli(
    ['send', '--count', String(MESSAGES), '--no-progress'],
    fixture.env(tracing),
  );
  if (sent.code !== 0) throw new Error(`send failed: ${sent.stderr}`);
  const rounds: Round[] = [];
  for (let round = 0; round < ROUNDS * 2; round += 1) {
    const traced = round % 2 === 1;
    const seconds = await drain(fixture, round, traced ? tracing : {});
    rounds.push({ setting: traced ? `ratio ${RATIO}` : 'off', seconds, rate: MESSAGES / seconds });
  }
  const median = (values: number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  };
  const off = median(rounds.filter((r) => r.setting === 'off').map((r) => r.rate));
  const on = median(rounds.filter((r) => r.setting !== 'off').map((r) => r.rate));
  console.log(
    `machine: ${os.cpus().length} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}; ${MESSAGES} messages, 12 partitions`,
  );
  console.log('| round | tracing | seconds | msgs/s |');
  console.log('| --- | --- | --- | --- |');
  for (const [index, round] of rounds.entries()) {
    console.log(
      `| ${index + 1} | ${round.setting} | ${round.seconds.toFixed(2)} | ${Math.round(round.rate)} |`,
    );
  }
  console.log(
    `median msgs/s: off ${Math.round(off)}, ratio ${RATIO} ${Math.round(on)} (${(((on - off) / off) * 100).toFixed(1)} %)`,
  );
  console.log(`spans received by the collector: ${receiver.spans.length}`);
} finally {
  await fixture.tearDown();
  await receiver.close();
}
