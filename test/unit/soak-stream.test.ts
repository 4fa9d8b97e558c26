import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { planStream, updatedUsers } from '../soak/stream.js';

describe('the soak stream', () => {
  it('sends every fourth user again, `distance` users after its first event, with another registration', () => {
    const stream = planStream(2_000, 100);
    const updated = updatedUsers(stream);
    assert.equal(updated.size, 475);
    const positions = (userId: number): number[] =>
      stream.flatMap((message, index) =>
        message.expect.kind === 'valid' && message.expect.userId === userId ? [index] : [],
      );
    const [first, second] = positions(8);
    assert.ok(first !== undefined && second !== undefined);
    assert.ok(second - first > 100 && second - first < 110, `${first} -> ${second}`);
    const [a, b] = [stream[first], stream[second]];
    assert.notDeepEqual(a?.value, b?.value);
    assert.deepEqual(positions(9).length, 1);
  });

  it('keeps about 2 % invalid records', () => {
    const stream = planStream(5_000, 100);
    const invalid = stream.filter((message) => message.expect.kind === 'invalid').length;
    assert.ok(Math.abs(invalid / stream.length - 0.02) < 0.003, `${invalid} of ${stream.length}`);
  });
});
