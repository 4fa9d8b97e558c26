import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { formatEvent, LineSplitter, parseEvent } from '../src/events.js';
import { GeneratorLog } from '../src/generator-log.js';
import { defaultOutDir, generateArgs, parseKeyValues, parseOptions } from '../src/options.js';
import { progressLine } from '../src/progress.js';
import { parseThreshold } from '../src/thresholds.js';
import { MACHINE, PROBES, report, SAMPLES, SETTINGS, THIRD, VERSIONS } from './sample-report.js';

describe('the load test command', () => {
  const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
  const run = (args: readonly string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', main, ...args],
        { timeout: 60_000 },
        (error, stdout, stderr) => {
          resolve({ code: error === null ? 0 : (error.code as number | null), stdout, stderr });
        },
      );
    });

  it('exits 1 when a threshold is missed, 0 when all hold, 2 on a bad threshold', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'load-test-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'report.json');
    await writeFile(file, JSON.stringify(report()));

    const impossible = await run([
      '--mode',
      'check',
      '--report',
      file,
      '--threshold',
      'max_lag<0',
      '--threshold',
      'p99_latency_ms<1000',
    ]);
    assert.equal(impossible.code, 1, impossible.stderr);
    assert.match(impossible.stdout, /✗ max_lag<0 +measured 200/);
    assert.match(impossible.stdout, /✓ p99_latency_ms<1000 +measured 19\.8/);
    assert.match(impossible.stdout, /thresholds: 1 of 2 failed/);

    const held = await run(['--mode', 'check', '--report', file, '--threshold', 'max_lag<=200']);
    assert.equal(held.code, 0, held.stderr);
    assert.match(held.stdout, /thresholds: all 1 passed/);

    const invalid = await run(['--mode', 'local', '--threshold', 'p99<500']);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /^--threshold "p99<500": unknown metric "p99"/);
    assert.match(invalid.stderr, /operators: <= >= < >/);
    assert.match(invalid.stderr, /metrics: p50_latency_ms, /);
  });
});

describe('generator events', () => {
  it('round-trips through one log line each, ignoring other lines', () => {
    const event = {
      loadtest: 'sample',
      sample: THIRD,
      latencies: [1, 2],
      clickhouseLatencies: [40],
    } as const;
    const line = formatEvent(event);
    assert.ok(!line.includes('\n'));
    assert.deepEqual(parseEvent(line), event);
    assert.equal(parseEvent('   1 s | rate 1,000/s'), undefined);
    assert.equal(parseEvent('{"loadtest":"unknown"}'), undefined);
    assert.equal(parseEvent('{"loadtest":"sample",'), undefined);
  });

  it('splits a chunked stream into whole lines', () => {
    const splitter = new LineSplitter();
    assert.deepEqual(splitter.push('a\nb'), ['a']);
    assert.deepEqual(splitter.push('c\n\nd'), ['bc', '']);
    assert.deepEqual(splitter.end(), ['d']);
    assert.deepEqual(splitter.end(), []);
  });

  it('rebuilds the report from the generator’s log', () => {
    const log = new GeneratorLog();
    assert.equal(log.report([]), undefined);
    log.accept({
      loadtest: 'start',
      startedAtMs: Date.parse('2026-11-24T10:00:00.000Z'),
      startedAt: '2026-11-24T10:00:00.000Z',
      settings: SETTINGS,
      versions: VERSIONS,
      machine: MACHINE,
    });
    for (const entry of SAMPLES)
      log.accept({
        loadtest: 'sample',
        sample: entry,
        latencies: [10, 30],
        clickhouseLatencies: [],
      });
    assert.equal(log.finished, false);
    log.accept({
      loadtest: 'end',
      productionSeconds: 3,
      probes: { ...PROBES, redis: { observed: 8, skipped: 0, timedOut: 0, pendingAtEnd: 0 } },
      consumerLatencyMs: null,
      lastSendError: null,
    });
    assert.equal(log.finished, true);
    const rebuilt = log.report([], { thresholds: [parseThreshold('max_lag<100')] });
    assert.equal(rebuilt?.summary.redisLatencyMs?.count, 8);
    assert.equal(rebuilt.summary.drainSeconds, 1);
    assert.equal(rebuilt.summary.probes.redis.observed, 8);
    assert.equal(rebuilt.verdict, 'failed');
  });
});

describe('options', () => {
  it('has defaults for a 60 s run at 5,000 msg/s', () => {
    const options = parseOptions(['--mode', 'local']);
    assert.equal(options.mode, 'local');
    assert.equal(options.generation.rate, 5_000);
    assert.equal(options.generation.durationSeconds, 60);
    assert.equal(options.generation.count, undefined);
    assert.equal(options.local.partitions, 12);
    assert.equal(options.local.consumers, 1);
    // The Job runs the load test image's entrypoint unless told otherwise.
    assert.equal(options.kubernetes.jobCommand, undefined);
    assert.equal(options.kubernetes.image, undefined);
    assert.deepEqual(
      parseOptions(['--mode', 'kubernetes', '--job-command', 'node  main.js']).kubernetes
        .jobCommand,
      ['node', 'main.js'],
    );
    assert.equal(options.kubernetes.deployment, undefined);
  });

  it('runs by count alone when only --count is given', () => {
    const options = parseOptions(['--mode', 'local', '--count', '100000', '--rate', '0']);
    assert.equal(options.generation.durationSeconds, undefined);
    assert.equal(options.generation.count, 100_000);
    assert.equal(options.generation.rate, 0);
  });

  it('rejects bad values with the option named', () => {
    assert.throws(() => parseOptions([]), /--mode must be one of/);
    assert.throws(() => parseOptions(['--mode', 'cloud']), /--mode must be one of/);
    assert.throws(() => parseOptions(['--mode', 'local', '--rate', '-5']), /--rate/);
    assert.throws(() => parseOptions(['--mode', 'local', '--partitions', '0']), /--partitions/);
    assert.throws(() => parseOptions(['--mode', 'local', '--bogus']), /bogus/);
    assert.throws(
      () => parseKeyValues(['NOVALUE'], 'consumer-env'),
      /--consumer-env takes KEY=VALUE/,
    );
  });

  it('collects consumer settings and forwards the load options to the Job', () => {
    const options = parseOptions([
      '--mode',
      'kubernetes',
      '--rate',
      '20000',
      '--duration',
      '120',
      '--consumer-env',
      'BATCH_MAX_MESSAGES=2000',
      '--consumer-env',
      'A=b=c',
    ]);
    assert.deepEqual(options.local.consumerEnv, { BATCH_MAX_MESSAGES: '2000', A: 'b=c' });
    const args = generateArgs(options.generation);
    const forwarded = parseOptions(args);
    assert.equal(forwarded.mode, 'generate');
    assert.deepEqual(forwarded.generation, options.generation);
    assert.equal(forwarded.progress, false);
  });

  it('names report folders by time', () => {
    assert.equal(
      defaultOutDir('load-test', Date.parse('2026-11-24T10:14:05.999Z')),
      'reports/load-test-20261124-101405',
    );
  });
});

describe('progressLine', () => {
  it('shows rate, sent, consumed, lag, latency and the consumer’s CPU and memory', () => {
    const line = progressLine(THIRD, 'replicas 2/3');
    assert.equal(
      line,
      '   3 s | rate 1,000/s | sent 3,000 | consumed 2,900 (900/s) | lag 100 | p99 15 ms | consumer CPU 30 % RSS 103 MB | replicas 2/3',
    );
  });
});
