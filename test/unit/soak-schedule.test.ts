import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { drawSchedule, FAULT_KINDS, seededRandom } from '../soak/schedule.js';

const HOUR = { durationSeconds: 3_600, consumers: 3 };
const FIVE_MINUTES = { durationSeconds: 300, consumers: 3 };

describe('the soak fault schedule', () => {
  it('is the same for the same seed and differs for another', () => {
    assert.deepEqual(drawSchedule({ seed: 7, ...HOUR }), drawSchedule({ seed: 7, ...HOUR }));
    assert.notDeepEqual(drawSchedule({ seed: 7, ...HOUR }), drawSchedule({ seed: 8, ...HOUR }));
  });

  it('holds every kind of fault in an hour, for any seed', () => {
    for (let seed = 1; seed <= 20; seed += 1) {
      const kinds = new Set(drawSchedule({ seed, ...HOUR }).map((fault) => fault.kind));
      assert.deepEqual([...kinds].sort(), [...FAULT_KINDS].sort(), `seed ${seed}`);
    }
  });

  it('holds a varied subset in five minutes: at least 8 faults of 6 kinds', () => {
    for (let seed = 1; seed <= 20; seed += 1) {
      const schedule = drawSchedule({ seed, ...FIVE_MINUTES });
      assert.ok(schedule.length >= 8, `seed ${seed}: ${schedule.length} faults`);
      assert.ok(new Set(schedule.map((fault) => fault.kind)).size >= 6, `seed ${seed}`);
    }
  });

  it('keeps the quiet start and end, and heals every fault before the end', () => {
    for (let seed = 1; seed <= 20; seed += 1) {
      for (const fault of drawSchedule({
        seed,
        ...HOUR,
        quietStartSeconds: 20,
        quietEndSeconds: 30,
      })) {
        assert.ok(fault.atSeconds >= 20, `seed ${seed}: ${fault.atSeconds}`);
        assert.ok(
          fault.atSeconds + fault.durationSeconds <= 3_570,
          `seed ${seed}: ${JSON.stringify(fault)}`,
        );
      }
    }
  });

  it('lets faults on different targets overlap', () => {
    const schedule = drawSchedule({ seed: 1, ...HOUR });
    const overlapping = schedule.some((fault, index) =>
      schedule
        .slice(index + 1)
        .some(
          (later) =>
            later.target !== fault.target &&
            later.atSeconds < fault.atSeconds + fault.durationSeconds,
        ),
    );
    assert.ok(overlapping);
  });

  it('adds partitions at most twice and picks nodes in range', () => {
    for (let seed = 1; seed <= 20; seed += 1) {
      const schedule = drawSchedule({ seed, ...HOUR });
      assert.ok(schedule.filter((fault) => fault.kind === 'partition-add').length <= 2);
      for (const fault of schedule) {
        assert.ok(fault.node >= 1 && fault.node <= 4, JSON.stringify(fault));
        if (fault.target.startsWith('consumer')) assert.ok(fault.node <= 3);
      }
    }
  });

  it('draws from a PRNG in [0, 1) that a seed fixes', () => {
    const a = seededRandom(3);
    const b = seededRandom(3);
    for (let i = 0; i < 1_000; i += 1) {
      const value = a();
      assert.equal(value, b());
      assert.ok(value >= 0 && value < 1);
    }
  });
});
