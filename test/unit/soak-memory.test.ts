import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { memoryTrends, metricValue, slope, type MemorySample } from '../soak/memory.js';

const MB = 1_048_576;

function samples(
  consumer: number,
  run: number,
  from: number,
  to: number,
  heapMb: (seconds: number) => number,
): MemorySample[] {
  const out: MemorySample[] = [];
  for (let atSeconds = from; atSeconds <= to; atSeconds += 10) {
    out.push({
      consumer,
      run,
      atSeconds,
      rssBytes: 200 * MB,
      heapUsedBytes: heapMb(atSeconds) * MB,
    });
  }
  return out;
}

describe('soak memory trends', () => {
  it('fits the least-squares slope', () => {
    assert.equal(
      slope([
        { x: 0, y: 1 },
        { x: 1, y: 3 },
        { x: 2, y: 5 },
      ]),
      2,
    );
    assert.equal(slope([{ x: 1, y: 1 }]), 0);
    assert.equal(
      slope([
        { x: 1, y: 1 },
        { x: 1, y: 5 },
      ]),
      0,
    );
    assert.ok(
      Math.abs(
        slope([
          { x: 0, y: 0 },
          { x: 1, y: 2 },
          { x: 2, y: 1 },
        ]) - 0.5,
      ) < 1e-12,
    );
  });

  it('shows a leak as a positive slope in MB per hour, a flat heap as about 0', () => {
    const leaking = samples(1, 1, 0, 3_600, (s) => 50 + s / 60);
    const flat = samples(2, 1, 0, 3_600, (s) => 50 + ((s / 10) % 2) * 4);
    const [leak, steady] = memoryTrends([...leaking, ...flat], 3_600);
    assert.ok(leak !== undefined && steady !== undefined);
    assert.ok(Math.abs(leak.heapSlopeMbPerHour - 60) < 1e-6, String(leak.heapSlopeMbPerHour));
    assert.ok(Math.abs(steady.heapSlopeMbPerHour) < 0.5, String(steady.heapSlopeMbPerHour));
    assert.equal(steady.rssSlopeMbPerHour, 0);
  });

  it('fits only the second half: start-up growth is not a leak', () => {
    const [trend] = memoryTrends(
      samples(1, 1, 0, 600, (s) => (s < 300 ? 20 + s / 10 : 50)),
      600,
    );
    assert.ok(trend !== undefined);
    assert.equal(trend.heapSlopeMbPerHour, 0);
    assert.equal(trend.samples, 31);
  });

  it('fits a restarted consumer on its longest run of the second half', () => {
    const before = samples(1, 1, 0, 350, () => 90);
    const after = samples(1, 2, 360, 600, (s) => 30 + (s - 360) / 100);
    const [trend] = memoryTrends([...before, ...after], 600);
    assert.ok(trend !== undefined);
    assert.equal(trend.samples, 25);
    assert.ok(Math.abs(trend.heapSlopeMbPerHour - 36) < 1e-6, String(trend.heapSlopeMbPerHour));
    assert.equal(trend.maxHeapMb, 90);
  });

  it('reads unlabelled samples from a /metrics text', () => {
    const text =
      '# HELP x\nnodejs_heap_size_used_bytes 123\nprocess_resident_memory_bytes 456\nfoo{a="b"} 1\n';
    assert.equal(metricValue(text, 'nodejs_heap_size_used_bytes'), 123);
    assert.equal(metricValue(text, 'process_resident_memory_bytes'), 456);
    assert.equal(metricValue(text, 'foo'), undefined);
  });
});
