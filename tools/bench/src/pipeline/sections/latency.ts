import type { Bench } from '../bench.js';
import { fixed, int, table } from '../format.js';
import { load } from '../load.js';
import type { BenchReport } from '../report.js';
import { LATENCY_SECONDS, RECOMMENDED, SECTIONS } from '../options.js';

/** Latency: end-to-end latency at fixed rates, probed in Redis and from the consumer's histogram. */
export async function latencySection(bench: Bench, report: BenchReport): Promise<void> {
  const runs = [
    { rate: 1_000, seconds: LATENCY_SECONDS },
    { rate: 5_000, seconds: LATENCY_SECONDS },
  ];
  const results = [
    ...(await load(bench, 'defaults', {}, runs)),
    // The settings section's other variants, on request.
    ...(SECTIONS.has('settings') ? await load(bench, 'recommended', RECOMMENDED, runs) : []),
  ];
  report.output.latency = results;
  report.markdown.push(
    `### End-to-end latency at fixed rates (${LATENCY_SECONDS} s each, one consumer)\n\n${table(
      [
        'settings',
        'rate',
        'Redis p50 ms',
        'Redis p95 ms',
        'Redis p99 ms',
        'Redis max ms',
        'histogram p50 ms',
        'histogram p95 ms',
        'histogram p99 ms',
        'max lag',
        'consumer CPU %',
        'clickhouse CPU %',
        'CH inserts/s',
        'peak RSS MB',
      ],
      results.map((result) => {
        const redis = result.summary.redisLatencyMs;
        const clickhouse = result.summary.processes.find((p) => p.name === 'clickhouse-server');
        const histogram = result.summary.consumerLatencyMs;
        const consumer = result.summary.processes.find((p) => p.name === 'consumer-1');
        return [
          result.label,
          int(result.rate),
          fixed(redis?.p50),
          fixed(redis?.p95),
          fixed(redis?.p99),
          fixed(redis?.max),
          fixed(histogram?.p50),
          fixed(histogram?.p95),
          fixed(histogram?.p99),
          int(result.summary.maxLag),
          int(consumer?.avgCpuPercent ?? Number.NaN),
          int(clickhouse?.avgCpuPercent ?? Number.NaN),
          fixed(result.insertsPerSecond),
          int(consumer?.peakRssMb ?? Number.NaN),
        ];
      }),
    )}\n\nRedis = Kafka timestamp → offer readable in Redis for ~100 sampled users/s (10 ms polling); histogram = the consumer's offers_end_to_end_latency_seconds (Kafka timestamp → both sinks acknowledged), interpolated within its buckets (…, 25, 50, 100, 250, 500 ms, …).`,
  );
  await report.save();
}
