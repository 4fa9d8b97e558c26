import type { Bench } from '../bench.js';
import { repeatDrain, type DrainResult } from '../drain.js';
import { fixed, int, table } from '../format.js';
import { type BenchReport, DRAIN_HEAD, drainRow } from '../report.js';
import { MESSAGES, RAW_CONSUMER, REPEATS } from '../options.js';

/**
 * Drain: one consumer with the defaults against a plain kafkajs consumer (count and commit
 * only), the ceiling any kafkajs consumer has; returns the service's median drain.
 */
export async function drainSection(
  bench: Bench,
  topic: string,
  report: BenchReport,
): Promise<DrainResult> {
  const service = await repeatDrain(bench, topic, 'service (defaults)', 1, {});
  const raw = await repeatDrain(bench, topic, 'raw kafkajs (count + commit)', 1, {}, RAW_CONSUMER);
  report.output.drain = { service, raw };
  const headline = [service, raw].map(({ median: run, runs }) => {
    const rates = runs.map((entry) => entry.rate);
    const us = (name: string): string => fixed(run.cpuUsPerMessage[name], 2);
    return [
      run.label,
      int(run.rate),
      `${int(Math.min(...rates))}–${int(Math.max(...rates))}`,
      us('consumer-1'),
      us('kafka (java)'),
      us('redis-server'),
      us('clickhouse-server'),
      int(run.peakRssMb[0] ?? Number.NaN),
      int(run.otherCpu),
    ];
  });
  const ratio = service.median.rate / raw.median.rate;
  const cpuRatio =
    (service.median.cpuUsPerMessage['consumer-1'] ?? Number.NaN) /
    (raw.median.cpuUsPerMessage['consumer-1'] ?? Number.NaN);
  report.markdown.push(
    `### Drain of ${int(MESSAGES)} preloaded messages by one consumer (median of ${REPEATS})\n\n${table(
      [
        'consumer',
        'msgs/s',
        'range msgs/s',
        'consumer CPU µs/msg',
        'kafka µs/msg',
        'redis µs/msg',
        'clickhouse µs/msg',
        'peak RSS MB',
        'other CPU %',
      ],
      headline,
    )}\n\nservice / raw kafkajs: ${fixed(ratio, 2)} of the throughput, ${fixed(cpuRatio, 1)}× the CPU per message. ` +
      `CPU µs/msg = the process's CPU time (all its threads) during the drain / messages drained; ` +
      `"other CPU" is what the rest of the machine used meanwhile (percent of one core).`,
  );
  const threads = service.median.threads;
  report.markdown.push(
    `consumer threads during the service's median drain (% of one core): ${Object.entries(threads)
      .sort((a, b) => b[1] - a[1])
      .filter(([, value]) => value >= 1)
      .map(([name, value]) => `${name} ${Math.round(value)}`)
      .join(', ')}; mean chunk ${int(service.median.avgChunk)} messages; ` +
      `memory peaks (MB): ${Object.entries(service.median.memoryPeaksMb)
        .map(([part, value]) => `${part} ${int(value)}`)
        .join(', ')}; ` +
      `stage ms per chunk: ${Object.entries(service.median.stageMs)
        .map(([stage, value]) => `${stage} ${fixed(value)}`)
        .join(', ')}`,
  );
  report.markdown.push(
    `#### Every drain\n\n${table(DRAIN_HEAD, [...service.runs, ...raw.runs].map(drainRow))}`,
  );
  await report.save();
  return service.median;
}
