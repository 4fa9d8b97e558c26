import type { Bench } from '../bench.js';
import { repeatDrain } from '../drain.js';
import { table } from '../format.js';
import { type BenchReport, DRAIN_HEAD, drainRow } from '../report.js';
import { RECOMMENDED } from '../options.js';

/** Scaling: the drain by 1, 2 and 4 consumers, with the defaults and the recommended settings. */
export async function scalingSection(
  bench: Bench,
  topic: string,
  report: BenchReport,
): Promise<void> {
  const results = [];
  for (const consumers of [1, 2, 4]) {
    results.push((await repeatDrain(bench, topic, `defaults ×${consumers}`, consumers, {})).median);
  }
  for (const consumers of [1, 2, 4]) {
    results.push(
      (await repeatDrain(bench, topic, `recommended ×${consumers}`, consumers, RECOMMENDED)).median,
    );
  }
  report.output.scaling = results;
  report.markdown.push(
    `### 1, 2 and 4 consumer processes, 12 partitions\n\n${table(DRAIN_HEAD, results.map(drainRow))}`,
  );
  await report.save();
}
