import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { OutboundMessage } from '../../../src/kafka/kafka-adapter.js';
import { LoadGenerator } from '../src/generator.js';
import { ProbeSampler } from '../src/load-run.js';
import { cpuPercent, parseProcStat, parseProcStatus } from '../src/proc-stats.js';
import { offerTimestampMs, versionTimestampMs, VisibilityProbe } from '../src/visibility-probe.js';
import { buildOfferRecord } from '../../../src/sinks/offer-record.js';
import { PREDICTION_NAMES, type Predictions } from '../../../src/scoring/predictions.js';

describe('Redis probe helpers', () => {
  it('reads the Kafka timestamp back out of a stored offer', () => {
    const predictions = Object.fromEntries(
      PREDICTION_NAMES.map((name) => [name, 0.3]),
    ) as Predictions;
    const record = buildOfferRecord(
      { userId: 7, partition: 3, offset: '1234567', timestampMs: 1_764_000_000_123 },
      predictions,
      { version: 'v1', sha256: '' },
      1_764_000_000_500,
    );
    assert.equal(offerTimestampMs(JSON.stringify(record)), 1_764_000_000_123);
    assert.equal(offerTimestampMs('{"user_id":7}'), undefined);
  });

  it('reads the timestamp out of a ClickHouse version (ms followed by six offset digits)', () => {
    assert.equal(versionTimestampMs('1764000000123001234'), 1_764_000_000_123);
    assert.equal(versionTimestampMs('123456'), undefined);
    assert.equal(versionTimestampMs('12a4567'), undefined);
  });

  it('times a user from its Kafka timestamp to the poll that first sees its offer', async () => {
    const stored = new Map<number, number>();
    let calls = 0;
    const probe = new VisibilityProbe(
      (userIds) => {
        calls += 1;
        if (calls === 3) return Promise.reject(new Error('store down'));
        return Promise.resolve(userIds.map((userId) => stored.get(userId)));
      },
      { pollIntervalMs: 1_000, maxPending: 3, timeoutMs: 60_000, chunkSize: 2 },
    );
    const now = Date.now();
    probe.track(1, now);
    probe.track(2, now);
    probe.track(3, now - 120_000);
    probe.track(4, now);
    assert.equal(probe.counts.skipped, 1);
    // User 2's stored offer is an earlier run's (older than the send): not this one.
    stored.set(1, now - 40);
    stored.set(2, now - 600_000);
    await probe.poll();
    const [latency, ...rest] = probe.drain();
    assert.deepEqual(rest, []);
    assert.ok(latency !== undefined && latency >= 40 && latency < 1_000, `latency ${latency}`);
    assert.deepEqual(probe.counts, { pending: 1, skipped: 1, timedOut: 1, observed: 1 });
    await probe.poll();
    assert.deepEqual(probe.errors, { count: 1, last: 'store down' });
    assert.deepEqual(probe.drain(), []);
  });

  it('samples about N users a second, spread over the batch', () => {
    const sampler = new ProbeSampler(10);
    const ids = Array.from({ length: 1_000 }, (_, index) => index);
    assert.deepEqual(sampler.pick({ sentAtMs: 0, userIds: ids }), [0]);
    assert.deepEqual(sampler.pick({ sentAtMs: 500, userIds: ids }), [0, 200, 400, 600, 800]);
    assert.deepEqual(sampler.pick({ sentAtMs: 510, userIds: ids }), []);
    // Tokens are capped at one second's worth.
    assert.equal(sampler.pick({ sentAtMs: 60_000, userIds: ids }).length, 10);
    assert.deepEqual(new ProbeSampler(0).pick({ sentAtMs: 0, userIds: ids }), []);
  });
});

describe('/proc parsing', () => {
  it('reads utime + stime even when the command name has spaces and parentheses', () => {
    const stat =
      '4242 (Web Content (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 1000 1000000 5000';
    assert.deepEqual(parseProcStat(stat), { ticks: 300 });
    assert.throws(() => parseProcStat('garbage'));
  });

  it('reads VmRSS and VmHWM in bytes', () => {
    const status = 'Name:\tnode\nVmPeak:\t 1000 kB\nVmHWM:\t  465000 kB\nVmRSS:\t  300000 kB\n';
    assert.deepEqual(parseProcStatus(status), {
      rssBytes: 300_000 * 1024,
      hwmBytes: 465_000 * 1024,
    });
  });

  it('turns tick deltas into percent of one core', () => {
    assert.equal(cpuPercent({ ticks: 100 }, { ticks: 250 }, 1_000, 100), 150);
    assert.equal(cpuPercent({ ticks: 100 }, { ticks: 100 }, 0, 100), 0);
  });
});

describe('LoadGenerator', () => {
  function recordingProducer() {
    const sent: { key: string; value: string }[] = [];
    return {
      sent,
      producer: {
        connect: () => Promise.resolve(),
        disconnect: () => Promise.resolve(),
        send: (_topic: string, messages: readonly OutboundMessage[]) => {
          for (const message of messages) {
            sent.push({ key: String(message.key), value: String(message.value) });
          }
          return Promise.resolve();
        },
      },
    };
  }

  it('stops after exactly `count` messages at full speed, keyed by user id', async () => {
    const { sent, producer } = recordingProducer();
    const batches: number[] = [];
    const generator = new LoadGenerator(
      producer,
      {
        topic: 't',
        rate: 0,
        durationMs: undefined,
        count: 2_500,
        firstUserId: 1_000,
        seed: 1,
        batchSize: 1_000,
        maxInFlight: 2,
      },
      (batch) => batches.push(batch.userIds.length),
    );
    const result = await generator.run();
    assert.equal(result.acked, 2_500);
    assert.equal(sent.length, 2_500);
    assert.deepEqual(batches, [1_000, 1_000, 500]);
    assert.equal(sent[0]?.key, '1000');
    assert.equal(sent.at(-1)?.key, '3499');
  });

  it('paces to the rate for a duration', async () => {
    const { sent, producer } = recordingProducer();
    const generator = new LoadGenerator(producer, {
      topic: 't',
      rate: 2_000,
      durationMs: 300,
      count: undefined,
      firstUserId: 1,
      seed: 1,
      batchSize: 100,
      maxInFlight: 4,
    });
    await generator.run();
    assert.ok(sent.length >= 500 && sent.length <= 620, `sent ${sent.length}`);
  });

  it('fails the run when the broker does not acknowledge', async () => {
    const generator = new LoadGenerator(
      {
        connect: () => Promise.resolve(),
        disconnect: () => Promise.resolve(),
        send: () => Promise.reject(new Error('broker down')),
      },
      {
        topic: 't',
        rate: 0,
        durationMs: undefined,
        count: 10,
        firstUserId: 1,
        seed: 1,
        batchSize: 5,
        maxInFlight: 1,
      },
    );
    await assert.rejects(generator.run(), /not acknowledged: Error: broker down/);
  });

  it('counts unacknowledged messages and goes on when asked to (a load test)', async () => {
    let calls = 0;
    const generator = new LoadGenerator(
      {
        connect: () => Promise.resolve(),
        disconnect: () => Promise.resolve(),
        send: () => {
          calls += 1;
          return calls === 2 ? Promise.reject(new Error('broker down')) : Promise.resolve();
        },
      },
      {
        topic: 't',
        rate: 0,
        durationMs: undefined,
        count: 20,
        firstUserId: 1,
        seed: 1,
        batchSize: 5,
        maxInFlight: 1,
        continueOnError: true,
      },
    );
    const result = await generator.run();
    assert.equal(result.acked, 15);
    assert.equal(result.failed, 5);
    assert.equal(generator.lastError, 'broker down');
  });

  it('makes every Nth message one the consumer must dead-letter', async () => {
    const { sent, producer } = recordingProducer();
    const generator = new LoadGenerator(producer, {
      topic: 't',
      rate: 0,
      durationMs: undefined,
      count: 30,
      firstUserId: 1,
      seed: 1,
      batchSize: 7,
      maxInFlight: 1,
      invalidEvery: 10,
    });
    const result = await generator.run();
    assert.equal(sent.length, 30);
    assert.equal(result.invalid, 3);
    assert.deepEqual(
      sent.flatMap((message, index) => (message.key.startsWith('invalid-') ? [index] : [])),
      [9, 19, 29],
    );
    // The valid ones keep consecutive user ids.
    assert.equal(sent[10]?.key, '10');
  });
});
