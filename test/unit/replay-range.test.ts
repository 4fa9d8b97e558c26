import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { InvalidArgumentError } from 'commander';

import { parseReplayTime, replayGroupId, replayRequestProblem } from '../../src/cli/replay.js';
import { OfferError } from '../../src/errors.js';
import type { BatchContext, BatchHandler, InboundMessage } from '../../src/kafka/kafka-adapter.js';
import { planReplay, replayBatchHandler, ReplayProgress } from '../../src/pipeline/replay-range.js';

function message(offset: number): InboundMessage {
  return { key: null, value: null, offset: String(offset), timestampMs: 0, headers: {} };
}

function offsets(entries: Record<number, number>): Map<number, string> {
  return new Map(
    Object.entries(entries).map(([partition, offset]) => [Number(partition), String(offset)]),
  );
}

/** A replay over `ranges`, a processor that commits what it is given, and what happened. */
function harness(ranges: Record<number, [start: number, stop: number]>) {
  const progress = new ReplayProgress(
    planReplay(
      offsets(Object.fromEntries(Object.entries(ranges).map(([p, [start]]) => [p, start]))),
      offsets(Object.fromEntries(Object.entries(ranges).map(([p, [, stop]]) => [p, stop]))),
    ),
  );
  const processed: string[][] = [];
  const commits: string[] = [];
  const paused: number[] = [];
  let processorCommits = true;
  const processor: BatchHandler = async (batch, context) => {
    processed.push(batch.messages.map((m) => m.offset));
    const last = batch.messages.at(-1);
    if (processorCommits && last) await context.commit(last.offset);
  };
  const handler = replayBatchHandler(progress, processor, {
    pausePartitions: (partitions) => paused.push(...partitions),
  });
  const context: BatchContext = {
    isStale: () => false,
    heartbeat: () => Promise.resolve(),
    commit: (offset) => {
      commits.push(offset);
      return Promise.resolve();
    },
  };
  const run = (partition: number, from: number, to: number) =>
    handler(
      {
        topic: 'regs',
        partition,
        messages: Array.from({ length: to - from + 1 }, (_, i) => message(from + i)),
      },
      context,
    );
  return {
    progress,
    processed,
    commits,
    paused,
    run,
    abandonBatches: () => {
      processorCommits = false;
    },
  };
}

describe('replay plan', () => {
  it('takes each partition from its start offset to its stop offset', () => {
    assert.deepEqual(planReplay(offsets({ 1: 5, 0: 10 }), offsets({ 0: 20, 1: 5 })), [
      { partition: 0, start: 10n, stop: 20n },
      { partition: 1, start: 5n, stop: 5n },
    ]);
  });

  it('makes an empty range of a stop below the start or a partition without a stop', () => {
    assert.deepEqual(planReplay(offsets({ 0: 10, 1: 3 }), offsets({ 0: 7 })), [
      { partition: 0, start: 10n, stop: 10n },
      { partition: 1, start: 3n, stop: 3n },
    ]);
  });

  it('counts progress in offsets and is complete once every partition reached its stop', () => {
    const progress = new ReplayProgress(
      planReplay(offsets({ 0: 10, 1: 0, 2: 4 }), offsets({ 0: 20, 1: 5, 2: 4 })),
    );
    assert.deepEqual(progress.totals(), { done: 0, total: 15 });
    assert.equal(progress.isDone(2), true, 'an empty range is done at once');
    assert.equal(progress.isDone(7), true, 'a partition outside the plan has nothing to replay');
    progress.advance(0, 15n);
    progress.advance(0, 12n);
    assert.equal(progress.next(0), 15n, 'never moves back');
    progress.advance(1, 9n);
    assert.deepEqual(progress.totals(), { done: 10, total: 15 });
    assert.equal(progress.complete, false);
    progress.advance(0, 20n);
    assert.equal(progress.complete, true);
  });
});

describe('replay batch handler', () => {
  it('processes only the records before the stop offset and commits up to the stop', async () => {
    const h = harness({ 0: [10, 15] });
    await h.run(0, 10, 12);
    assert.deepEqual(h.processed, [['10', '11', '12']]);
    assert.equal(h.progress.isDone(0), false);
    await h.run(0, 13, 19);
    assert.deepEqual(h.processed[1], ['13', '14']);
    assert.deepEqual(h.commits, ['12', '14']);
    assert.equal(h.progress.complete, true);
    assert.deepEqual(h.paused, [0]);
  });

  it('commits to the stop past records Kafka never hands out (control records before it)', async () => {
    const h = harness({ 0: [0, 10] });
    await h.run(0, 0, 7);
    // Offsets 8 and 9 were transaction markers: the next record handed out is 10.
    await h.run(0, 10, 12);
    assert.deepEqual(h.processed, [['0', '1', '2', '3', '4', '5', '6', '7']]);
    assert.deepEqual(h.commits, ['7', '9']);
    assert.equal(h.progress.complete, true);
  });

  it('leaves a finished partition alone, uncommitted, and pauses it', async () => {
    const h = harness({ 0: [5, 5], 1: [0, 3] });
    await h.run(0, 5, 9);
    assert.deepEqual(h.processed, []);
    assert.deepEqual(h.commits, []);
    assert.deepEqual(h.paused, [0]);
    assert.equal(h.progress.complete, false);
  });

  it('does not commit to the stop when the processor left the batch uncommitted', async () => {
    const h = harness({ 0: [0, 3] });
    h.abandonBatches();
    await h.run(0, 0, 5);
    assert.deepEqual(h.processed, [['0', '1', '2']]);
    assert.deepEqual(h.commits, []);
    assert.equal(h.progress.isDone(0), false);
  });

  it('leaves a batch whose membership was lost at its stop commit to be redelivered', async () => {
    const progress = new ReplayProgress([{ partition: 0, start: 0n, stop: 2n }]);
    const handler = replayBatchHandler(progress, () => Promise.resolve(), {
      pausePartitions: () => undefined,
    });
    const lost = new OfferError('ABORTED', 'membership lost', { retriable: false });
    await handler(
      { topic: 'regs', partition: 0, messages: [message(2)] },
      {
        isStale: () => false,
        heartbeat: () => Promise.resolve(),
        commit: () => Promise.reject(lost),
      },
    );
    assert.equal(progress.isDone(0), false);
  });
});

describe('replay command arguments', () => {
  it('reads ISO 8601 times with a zone, dates (UTC) and epoch milliseconds', () => {
    assert.equal(parseReplayTime('2026-01-31T12:00:00Z'), Date.UTC(2026, 0, 31, 12));
    assert.equal(parseReplayTime('2026-01-31T14:00:00+02:00'), Date.UTC(2026, 0, 31, 12));
    assert.equal(parseReplayTime('2026-01-31T12:00:00.250Z'), Date.UTC(2026, 0, 31, 12) + 250);
    assert.equal(parseReplayTime('2026-01-31'), Date.UTC(2026, 0, 31));
    assert.equal(parseReplayTime('1769860800000'), 1_769_860_800_000);
  });

  it('refuses a time without a zone, a bad date and anything else, naming the forms', () => {
    for (const raw of [
      '2026-01-31T12:00:00',
      '2026-02-30T00:00:00Z',
      'yesterday',
      '',
      '-5',
      '1.5',
    ]) {
      assert.throws(
        () => parseReplayTime(raw),
        (error: unknown) =>
          error instanceof InvalidArgumentError &&
          error.message.includes('ISO 8601 time with its zone'),
        raw,
      );
    }
  });

  it('names the default group after the live group and the range', () => {
    assert.equal(replayGroupId('offers', 1, 2), 'offers-replay-1-2');
    assert.equal(replayGroupId('offers', 1, 2), replayGroupId('offers', 1, 2));
  });

  it('refuses an empty range and the live group, naming KAFKA_GROUP_ID', () => {
    assert.match(
      replayRequestProblem({ from: 5, to: 5 }, 'g', 'live') ?? '',
      /--from .* must be before --to/,
    );
    assert.match(
      replayRequestProblem({ from: 1, to: 5 }, 'live', 'live') ?? '',
      /--group live is the live consumer group \(KAFKA_GROUP_ID\)/,
    );
    assert.equal(replayRequestProblem({ from: 1, to: 5 }, 'live-replay-1-5', 'live'), undefined);
  });
});
