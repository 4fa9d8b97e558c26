import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import type { LoadReport } from './report-model.js';
import { renderHtml } from './report-render.js';

/** Writes report.json and report.html into `dir` (created if missing); returns their paths. */
export async function writeReportFiles(
  dir: string,
  report: LoadReport,
): Promise<{ json: string; html: string }> {
  const absolute = resolve(dir);
  await mkdir(absolute, { recursive: true });
  const json = join(absolute, 'report.json');
  const html = join(absolute, 'report.html');
  await writeFile(json, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(html, renderHtml(report));
  return { json, html };
}
