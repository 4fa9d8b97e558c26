import type { Bench } from '../bench.js';
import { fixed, int, table } from '../format.js';
import { load } from '../load.js';
import type { BenchReport } from '../report.js';
import { RECOMMENDED, SUSTAINED_SECONDS } from '../options.js';

/** Sustained: producing as fast as possible while one consumer consumes. */
export async function sustainedSection(bench: Bench, report: BenchReport): Promise<void> {
  const results = [
    ...(await load(bench, 'defaults', {}, [{ rate: 0, seconds: SUSTAINED_SECONDS }])),
    ...(await load(bench, 'recommended', RECOMMENDED, [{ rate: 0, seconds: SUSTAINED_SECONDS }])),
  ];
  report.output.sustained = results;
  report.markdown.push(
    `### Sustained: producing as fast as possible while one consumer consumes (${SUSTAINED_SECONDS} s)\n\n${table(
      [
        'settings',
        'produced msgs/s',
        'committed msgs/s during production',
        'max lag',
        'drain after s',
        'consumer CPU %',
        'generator CPU %',
        'kafka CPU %',
        'peak RSS MB',
      ],
      results.map((result) => {
        const proc = (name: string) => result.summary.processes.find((p) => p.name === name);
        return [
          result.label,
          int(result.summary.avgProduceRate),
          int(result.commitRateDuringProduction),
          int(result.summary.maxLag),
          fixed(result.summary.drainSeconds),
          int(proc('consumer-1')?.avgCpuPercent ?? Number.NaN),
          int(proc('load generator (bench)')?.avgCpuPercent ?? Number.NaN),
          int(proc('kafka (java)')?.avgCpuPercent ?? Number.NaN),
          int(proc('consumer-1')?.peakRssMb ?? Number.NaN),
        ];
      }),
    )}`,
  );
  await report.save();
}
