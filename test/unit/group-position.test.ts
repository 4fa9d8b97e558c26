import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { readGroupPositions } from '../../src/kafka/kafka-adapter.js';
import type { GroupPosition } from '../../src/telemetry/group-position.js';
import { createMetrics } from '../../src/telemetry/metrics.js';

const series = (text: string, name: string): string[] =>
  text.split('\n').filter((line) => line.startsWith(`${name}{`));

describe('group offsets on /metrics', () => {
  it('reports lag, end and committed offset per partition, from one read per scrape', async () => {
    const metrics = createMetrics();
    let reads = 0;
    metrics.groupPositions.use(() => {
      reads += 1;
      return Promise.resolve<GroupPosition[]>([
        { topic: 't', partition: 0, end: 120, committed: 100, lag: 20 },
        { topic: 't', partition: 1, end: 7, committed: -1, lag: 7 },
      ]);
    });
    const text = await metrics.registry.metrics();
    assert.equal(reads, 1, 'the three gauges share one read');
    assert.deepEqual(series(text, 'offers_consumer_lag'), [
      'offers_consumer_lag{topic="t",partition="0"} 20',
      'offers_consumer_lag{topic="t",partition="1"} 7',
    ]);
    assert.deepEqual(series(text, 'offers_partition_end_offset'), [
      'offers_partition_end_offset{topic="t",partition="0"} 120',
      'offers_partition_end_offset{topic="t",partition="1"} 7',
    ]);
    assert.deepEqual(series(text, 'offers_partition_committed_offset'), [
      'offers_partition_committed_offset{topic="t",partition="0"} 100',
      'offers_partition_committed_offset{topic="t",partition="1"} -1',
    ]);
    await metrics.registry.metrics();
    assert.equal(reads, 1, 'a scrape within a second reuses the reading');
  });

  it('leaves the series out, and counts the failure, when Kafka does not answer', async () => {
    const metrics = createMetrics();
    let fail = false;
    metrics.groupPositions.use(() =>
      fail
        ? Promise.reject(new Error('broker down'))
        : Promise.resolve([{ topic: 't', partition: 0, end: 5, committed: 5, lag: 0 }]),
    );
    assert.equal(series(await metrics.registry.metrics(), 'offers_consumer_lag').length, 1);
    fail = true;
    // Past the one-second reuse of a reading.
    await new Promise((resolve) => setTimeout(resolve, 1_050));
    const text = await metrics.registry.metrics();
    assert.deepEqual(series(text, 'offers_consumer_lag'), [], 'no stale lag');
    assert.match(text, /^offers_consumer_lag_read_failures_total 1$/m);
  });

  it('has no offset series without a source (and no read)', async () => {
    const text = await createMetrics().registry.metrics();
    assert.deepEqual(series(text, 'offers_consumer_lag'), []);
    assert.match(text, /^offers_consumer_lag_read_failures_total 0$/m);
  });

  it('computes lag from end and committed offsets, a partition never committed from 0', async () => {
    const positions = await readGroupPositions(
      {
        endOffsets: () =>
          Promise.resolve(
            new Map([
              [1, '50'],
              [0, '10'],
            ]),
          ),
        committedOffsets: () => Promise.resolve(new Map([[0, '4']])),
      },
      'g',
      't',
    );
    assert.deepEqual(positions, [
      { partition: 0, end: 10, committed: 4, lag: 6 },
      { partition: 1, end: 50, committed: -1, lag: 50 },
    ]);
  });
});
