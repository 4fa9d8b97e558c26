import type { Bench } from '../bench.js';
import { repeatDrain } from '../drain.js';
import { fixed, int, table } from '../format.js';
import { type BenchReport, DRAIN_HEAD, drainRow } from '../report.js';
import { VARIANTS } from '../options.js';

/** Settings: the same drain under other consumer settings (VARIANTS). */
export async function settingsSection(
  bench: Bench,
  topic: string,
  report: BenchReport,
): Promise<void> {
  const results = [];
  for (const variant of VARIANTS) {
    results.push((await repeatDrain(bench, topic, variant.label, 1, variant.env)).median);
  }
  report.output.settings = results;
  report.markdown.push(
    `### Consumer settings (one consumer, same drain)\n\n${table(
      [
        ...DRAIN_HEAD,
        'V8 heap peak MB',
        'external peak MB',
        'mean chunk',
        'score ms/chunk',
        'clickhouse ms/chunk',
        'redis ms/chunk',
      ],
      results.map((result) => [
        ...drainRow(result),
        int(result.memoryPeaksMb['heap total'] ?? Number.NaN),
        int(result.memoryPeaksMb.external ?? Number.NaN),
        int(result.avgChunk),
        fixed(result.stageMs.score),
        fixed(result.stageMs.clickhouse),
        fixed(result.stageMs.redis),
      ]),
    )}`,
  );
  await report.save();
}
