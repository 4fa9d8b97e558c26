#!/usr/bin/env node
/**
 * Load test: produces registrations at a target rate and measures throughput, lag and
 * end-to-end latency; see `--help` and the README's "Load test".
 *
 *   npm run load-test -- --mode local --rate 5000 --duration 60
 *   npm run load-test -- --mode kubernetes --rate 20000 --duration 180
 */
import { readFile } from 'node:fs/promises';

import { errorMessage } from '../../../src/errors.js';
import { parseOptions, UsageRequested, USAGE, defaultOutDir } from './options.js';
import { writeReportFiles } from './report-files.js';
import { verdictOf, type LoadReport } from './report-model.js';
import { summaryTable } from './report-summary.js';
import { evaluateThresholds, thresholdLines } from './thresholds.js';

/** Exit codes, as k6 has them: thresholds missed is not the same as a run that broke. */
const EXIT = { ok: 0, failed: 1, thresholdsMissed: 1, usage: 2 } as const;

/** Prints the thresholds' lines; 1 when one of them failed, else 0. */
function verdictExit(report: Pick<LoadReport, 'thresholds'>): number {
  for (const line of thresholdLines(report.thresholds)) console.log(line);
  return verdictOf(report.thresholds) === 'failed' ? EXIT.thresholdsMissed : EXIT.ok;
}

async function main(argv: readonly string[]): Promise<number> {
  let options;
  try {
    options = parseOptions(argv);
  } catch (error) {
    if (error instanceof UsageRequested) {
      console.log(USAGE);
      return EXIT.ok;
    }
    console.error(`${errorMessage(error)}\n\n${USAGE}`);
    return EXIT.usage;
  }

  if (options.mode === 'check') {
    // A report of an earlier run, judged again with these thresholds (e.g. in CI).
    const file = options.reportFile ?? '';
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    if (parsed.kind !== 'realtime-offers-load-test' || parsed.version !== 2) {
      console.error(`${file} is not a load test report of this version (kind, version 2)`);
      return EXIT.usage;
    }
    const { summary } = parsed as unknown as LoadReport;
    return verdictExit({ thresholds: evaluateThresholds(options.thresholds, summary) });
  }

  // First Ctrl-C stops production and still measures the drain; the second one exits.
  const abort = new AbortController();
  process.on('SIGINT', () => {
    if (abort.signal.aborted) process.exit(130);
    process.stderr.write('\n[load-test] stopping production (Ctrl-C again to quit)\n');
    abort.abort();
  });
  process.on('SIGTERM', () => {
    abort.abort();
  });

  // The environment is read here, once, and handed down: like the service's entry point, the
  // modes below never look at process.env themselves.
  if (options.mode === 'generate') {
    const { runGenerateMode } = await import('./generate-mode.js');
    await runGenerateMode(options, process.env, abort.signal);
    return EXIT.ok;
  }

  const outDir = options.outDir ?? defaultOutDir('load-test', Date.now());
  let report: LoadReport;
  if (options.mode === 'local') {
    const { runLocalMode } = await import('./local-mode.js');
    report = await runLocalMode(options, process.env, outDir, abort.signal);
  } else {
    // Loaded only here: the Kubernetes client is large and local runs do not need it.
    const { runKubernetesMode } = await import('./kubernetes-mode.js');
    report = await runKubernetesMode(options, abort.signal);
  }
  const files = await writeReportFiles(outDir, report);
  console.log(summaryTable(report));
  console.log(`\nreport: ${files.html}\nraw data: ${files.json}`);
  return verdictExit(report);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Client timers (Kafka reconnects, HTTP keep-alive) must not keep a finished run alive.
    setTimeout(() => process.exit(code), 1_000).unref();
  },
  (error: unknown) => {
    console.error(`load test failed: ${errorMessage(error)}`);
    process.exit(EXIT.failed);
  },
);
