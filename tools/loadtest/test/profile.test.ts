import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { packageOf, selfTime, shortLocation, type CpuProfile } from '../src/cpu-profile.js';
import { parseSystemBusyTicks, threadCpuPercent } from '../src/proc-stats.js';

const REPO = 'file:///work/main';

// root → main → { decode (self), kafkajs decoder (self) }, plus (idle) and (garbage collector).
const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: { functionName: '(root)', url: '', lineNumber: -1 }, children: [2, 5, 6] },
    {
      id: 2,
      callFrame: {
        functionName: 'processChunk',
        url: `${REPO}/src/pipeline/batch-processor.ts`,
        lineNumber: 70,
      },
      children: [3, 4],
    },
    {
      id: 3,
      callFrame: {
        functionName: 'decodeRegistration',
        url: `${REPO}/src/contract/decode.ts`,
        lineNumber: 9,
      },
    },
    {
      id: 4,
      callFrame: {
        functionName: 'readVarInt',
        url: `${REPO}/node_modules/kafkajs/src/protocol/decoder.js`,
        lineNumber: 99,
      },
    },
    { id: 5, callFrame: { functionName: '(idle)', url: '', lineNumber: -1 } },
    { id: 6, callFrame: { functionName: '(garbage collector)', url: '', lineNumber: -1 } },
  ],
  startTime: 1_000_000,
  endTime: 1_000_000 + 9 * 1_000,
  // One sample per ms: decode ×4, kafkajs ×2, GC ×1, idle ×2.
  samples: [3, 3, 4, 5, 3, 4, 6, 3, 5],
  timeDeltas: [0, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000, 1_000],
};

describe('selfTime', () => {
  it('adds self time per function, leaving idle out of the busy share', () => {
    const report = selfTime(PROFILE);
    assert.equal(report.busyMs, 7);
    assert.equal(report.idleMs, 2);
    assert.deepEqual(
      report.top.map((entry) => [entry.function, entry.selfMs, Math.round(entry.percent)]),
      [
        ['decodeRegistration (src/contract/decode.ts:10)', 4, 57],
        ['readVarInt (kafkajs/src/protocol/decoder.js:100)', 2, 29],
        ['(garbage collector)', 1, 14],
      ],
    );
    assert.deepEqual(
      report.byPackage.map((entry) => [entry.function, entry.selfMs]),
      [
        ['src/contract', 4],
        ['kafkajs', 2],
        ['(garbage collector)', 1],
      ],
    );
  });

  it('keeps only the samples inside a time window (the measured part of a run)', () => {
    const report = selfTime(PROFILE, { fromUs: 1_004_000, toUs: 1_006_000 });
    assert.equal(report.windowMs, 2);
    assert.deepEqual(
      report.top.map((entry) => entry.function),
      [
        'decodeRegistration (src/contract/decode.ts:10)',
        'readVarInt (kafkajs/src/protocol/decoder.js:100)',
        '(garbage collector)',
      ],
    );
    assert.equal(report.busyMs, 3);
  });

  it('limits the list and copes with an empty profile', () => {
    assert.equal(selfTime(PROFILE, { limit: 1 }).top.length, 1);
    const empty = selfTime({ ...PROFILE, samples: [], timeDeltas: [] });
    assert.equal(empty.busyMs, 0);
    assert.deepEqual(empty.top, []);
  });
});

describe('locations', () => {
  it('shortens paths to the package or the repository file', () => {
    assert.equal(
      shortLocation(`${REPO}/node_modules/ioredis/built/Pipeline.js`),
      'ioredis/built/Pipeline.js',
    );
    assert.equal(
      shortLocation(`${REPO}/.cache/bench-dist/pipeline/retry.js`),
      'dist/pipeline/retry.js',
    );
    assert.equal(shortLocation(`${REPO}/src/sinks/redis-sink.ts`), 'src/sinks/redis-sink.ts');
    assert.equal(shortLocation('node:internal/streams/readable'), 'node:internal/streams/readable');
    assert.equal(shortLocation(''), '');
  });

  it('groups by package, scoped packages with their scope', () => {
    assert.equal(
      packageOf(`${REPO}/node_modules/@clickhouse/client-common/dist/x.js`, 'f'),
      '@clickhouse/client-common',
    );
    assert.equal(packageOf(`${REPO}/node_modules/kafkajs/src/x.js`, 'f'), 'kafkajs');
    assert.equal(packageOf('node:events', 'emit'), 'node internals');
    assert.equal(packageOf(`${REPO}/dist/sinks/redis-sink.js`, 'write'), 'dist/sinks');
    assert.equal(packageOf('', '(program)'), '(program)');
    assert.equal(packageOf('', 'stringify'), 'native');
  });
});

describe('threadCpuPercent', () => {
  it('adds up threads of one name and counts new threads from zero', () => {
    const before = [
      { tid: 10, name: 'main', ticks: 100 },
      { tid: 11, name: 'libuv-worker', ticks: 10 },
    ];
    const after = [
      { tid: 10, name: 'main', ticks: 180 },
      { tid: 11, name: 'libuv-worker', ticks: 30 },
      { tid: 12, name: 'libuv-worker', ticks: 10 },
    ];
    assert.deepEqual(threadCpuPercent(before, after, 1_000, 100), {
      main: 80,
      'libuv-worker': 30,
    });
  });
});

describe('parseSystemBusyTicks', () => {
  it('adds the busy columns of the all-cores line', () => {
    const stat = 'cpu  100 5 50 1000 20 3 2 1 0 0\ncpu0 50 2 25 500 10 1 1 0 0 0\n';
    assert.equal(parseSystemBusyTicks(stat), 161);
    assert.throws(() => parseSystemBusyTicks('intr 1 2 3'));
  });
});
