import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { selfTime, type CpuProfile, type SelfTimeReport } from 'realtime-offers-loadtest';

import type { Bench } from '../bench.js';
import { drain } from '../drain.js';
import { fixed, int, table } from '../format.js';
import type { BenchReport } from '../report.js';
import { OUT } from '../options.js';

/** Profile: a drain under `node --cpu-prof`, the top self-time functions of the hot path. */
export async function profileSection(
  bench: Bench,
  topic: string,
  report: BenchReport,
): Promise<void> {
  const dir = join(OUT, 'profile');
  await mkdir(dir, { recursive: true });
  const result = await drain(bench, topic, 'profiled (defaults)', 1, {}, [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
  ]);
  const file = (await readdir(dir)).find((name) => name.endsWith('.cpuprofile'));
  if (file === undefined) throw new Error('the consumer wrote no CPU profile');
  const profile = JSON.parse(await readFile(join(dir, file), 'utf8')) as CpuProfile;
  const [fromUs, toUs] = result.profileWindowUs ?? [undefined, undefined];
  const selfTimes: SelfTimeReport = selfTime(profile, { fromUs, toUs, limit: 15 });
  report.output.profile = { file: join('profile', file), drain: result, report: selfTimes };
  report.markdown.push(
    `### CPU profile of the consumer's main thread during a drain (${int(result.rate)} msgs/s under the profiler)\n\n` +
      `window ${fixed(selfTimes.windowMs / 1000, 2)} s: busy ${fixed(selfTimes.busyMs / 1000, 2)} s, idle ${fixed(selfTimes.idleMs / 1000, 2)} s\n\n` +
      `${table(
        ['#', 'function (self time)', 'self ms', '% of busy'],
        selfTimes.top.map((entry, index) => [
          String(index + 1),
          entry.function.replaceAll('|', '\\|'),
          int(entry.selfMs),
          fixed(entry.percent),
        ]),
      )}\n\n` +
      `by package: ${selfTimes.byPackage.map((entry) => `${entry.function} ${fixed(entry.percent)} %`).join(', ')}`,
  );
  await report.save();
}
