import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { SpanKind } from '@opentelemetry/api';

import type { Registration } from '../../src/contract/registration.js';
import { OfferError } from '../../src/errors.js';
import type { BatchContext, InboundMessage } from '../../src/kafka/kafka-adapter.js';
import { createBatchProcessor } from '../../src/pipeline/batch-processor.js';
import { createPipelineObserver } from '../../src/pipeline/chunk-observer.js';
import { SinkHealth } from '../../src/pipeline/sink-health.js';
import { PREDICTION_NAMES, type Predictions } from '../../src/scoring/predictions.js';
import type { RejectedMessage } from '../../src/sinks/dead-letter-sink.js';
import type { StoredOffer } from '../../src/sinks/offer-record.js';
import type { RowOrigin, Sink, SinkName, SinkSpan } from '../../src/sinks/sink.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { createMetrics } from '../../src/telemetry/metrics.js';

const PREDICTIONS = Object.fromEntries(PREDICTION_NAMES.map((name) => [name, 0.25])) as Predictions;

/** What happened, in order: sink writes, their acknowledgements, commits, heartbeats. */
type Journal = string[];

/** A sink whose writes are recorded and can be held, failed or acknowledged by the test. */
class FakeSink<Row> implements Sink<Row> {
  readonly name: SinkName;
  readonly span: SinkSpan<Row>;
  readonly writes: (readonly Row[])[] = [];
  #journal: Journal;
  #gate: Promise<void> = Promise.resolve();
  #failures: OfferError[] = [];

  constructor(name: SinkName, journal: Journal) {
    this.name = name;
    this.span = {
      name: `write ${name}`,
      kind: SpanKind.CLIENT,
      attributes: {},
      rowsOf: name === 'dlq' ? 'rejected' : 'accepted',
    };
    this.#journal = journal;
  }

  /** Holds every write until the returned function is called. */
  hold(): () => void {
    let release: () => void = () => undefined;
    this.#gate = new Promise((resolve) => (release = resolve));
    return release;
  }

  /** The next writes fail with these errors, in order. */
  failWith(...failures: OfferError[]): void {
    this.#failures.push(...failures);
  }

  async healthcheck(): Promise<void> {
    await Promise.resolve();
  }

  async write(rows: readonly Row[], origin: RowOrigin): Promise<void> {
    this.#journal.push(`${this.name} write ${origin.firstOffset}-${origin.lastOffset}`);
    await this.#gate;
    const failure = this.#failures.shift();
    if (failure !== undefined) {
      this.#journal.push(`${this.name} failed`);
      throw failure;
    }
    this.writes.push(rows);
    this.#journal.push(`${this.name} ack`);
  }
}

function message(offset: number, value: string | null): InboundMessage {
  return {
    key: Buffer.from(String(offset)),
    value: value === null ? null : Buffer.from(value),
    offset: String(offset),
    timestampMs: 1_700_000_000_000 + offset,
    headers: {},
  };
}

const valid = (offset: number): InboundMessage =>
  message(offset, JSON.stringify({ user_id: 100 + offset, platform: 'iOS' }));

const SHADOW_PREDICTIONS = Object.fromEntries(
  PREDICTION_NAMES.map((name) => [name, 0.75]),
) as Predictions;

/** A candidate model: other predictions, and the registrations of every run it was given. */
function shadowScorer(fail?: Error) {
  const runs: (readonly Registration[])[] = [];
  return {
    runs,
    modelVersion: 'candidate',
    modelDigest: 'ef'.repeat(32),
    score: (batch: readonly Registration[]) => {
      runs.push(batch);
      return fail === undefined
        ? Promise.resolve(batch.map(() => SHADOW_PREDICTIONS))
        : Promise.reject(fail);
    },
  };
}

function setUp(
  options: {
    batchMaxMessages?: number;
    stale?: () => boolean;
    shadow?: ReturnType<typeof shadowScorer>;
    heartbeatFails?: Error;
  } = {},
) {
  const journal: Journal = [];
  const shadowSink = new FakeSink<StoredOffer>('clickhouse_shadow', journal);
  const liveRuns: (readonly Registration[])[] = [];
  const clickhouse = new FakeSink<StoredOffer>('clickhouse', journal);
  const redis = new FakeSink<StoredOffer>('redis', journal);
  const deadLetters = new FakeSink<RejectedMessage>('dlq', journal);
  const fatal: unknown[] = [];
  const metrics = createMetrics();
  const logger = createLogger('silent');
  const health = new SinkHealth({
    metrics,
    logger,
    onPause: () => journal.push('pause'),
    onResume: () => journal.push('resume'),
  });
  const processor = createBatchProcessor({
    scorer: {
      modelVersion: 'test',
      modelDigest: 'cd'.repeat(32),
      score: (batch: readonly Registration[]) => {
        liveRuns.push(batch);
        return Promise.resolve(batch.map(() => PREDICTIONS));
      },
    },
    ...(options.shadow === undefined
      ? {}
      : { shadow: { scorer: options.shadow, sink: shadowSink } }),
    sinks: { clickhouse, redis, deadLetters },
    retry: { initialMs: 1, maxMs: 2, health, metrics },
    settings: {
      messageMaxBytes: 65_536,
      batchMaxMessages: options.batchMaxMessages ?? 100,
      alignChunksToOffsets: false,
    },
    observer: createPipelineObserver({ metrics, logger, groupId: 'offers' }),
    onFatal: (error) => fatal.push(error),
    now: () => 1_700_000_001_000,
  });
  const context: BatchContext = {
    isStale: options.stale ?? (() => false),
    heartbeat: () => {
      journal.push('heartbeat');
      return options.heartbeatFails === undefined
        ? Promise.resolve()
        : Promise.reject(options.heartbeatFails);
    },
    commit: (offset) => {
      journal.push(`commit ${offset}`);
      return Promise.resolve();
    },
  };
  const run = (messages: readonly InboundMessage[]) =>
    processor({ topic: 'regs', partition: 3, messages }, context);
  return {
    journal,
    clickhouse,
    redis,
    deadLetters,
    shadowSink,
    liveRuns,
    fatal,
    health,
    metrics,
    run,
  };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('batch processor', () => {
  it('commits only after ClickHouse, Redis and the DLQ all acknowledged', async () => {
    const { journal, redis, run } = setUp();
    const release = redis.hold();
    const running = run([valid(10), message(11, 'not json'), valid(12)]);
    for (let tick = 0; tick < 20; tick += 1) await settle();
    assert.ok(journal.includes('clickhouse ack') && journal.includes('dlq ack'));
    assert.ok(!journal.some((event) => event.startsWith('commit')), 'nothing committed yet');
    release();
    await running;
    assert.equal(journal.at(-1), 'commit 12');
    const commitAt = journal.indexOf('commit 12');
    for (const ack of ['clickhouse ack', 'redis ack', 'dlq ack']) {
      assert.ok(journal.indexOf(ack) < commitAt, `${ack} before the commit`);
    }
  });

  it('stores offers in both sinks and rejections in the DLQ with their reasons', async () => {
    const { clickhouse, redis, deadLetters, metrics, run } = setUp();
    await run([valid(1), message(2, '[1]'), message(3, null), valid(4)]);
    assert.deepEqual(
      clickhouse.writes.flat().map((offer) => offer.userId),
      [101, 104],
    );
    assert.deepEqual(redis.writes.flat(), clickhouse.writes.flat());
    assert.deepEqual(
      deadLetters.writes.flat().map(({ message: m, rejection }) => [m.offset, rejection.reason]),
      [
        ['2', 'not_object'],
        ['3', 'empty'],
      ],
    );
    const scored = await metrics.registry.getSingleMetricAsString('offers_scored_total');
    assert.match(scored, /offers_scored_total 2/);
  });

  it('times each step of a chunk so that the steps add up to the chunk, sinks apart', async () => {
    const { redis, metrics, run } = setUp();
    const release = redis.hold();
    const running = run([valid(1), message(2, '[1]'), valid(3)]);
    await new Promise((resolve) => setTimeout(resolve, 30));
    release();
    await running;
    const { values } = await metrics.stageSeconds.get();
    const sums = new Map(
      values
        .filter((value) => value.metricName === 'offers_stage_duration_seconds_sum')
        .map((value) => [value.labels.stage, value.value]),
    );
    assert.deepEqual([...sums.keys()].sort(), ['commit', 'decode', 'score', 'write']);
    const steps = [...sums.values()].reduce((sum, value) => sum + value, 0);
    const chunk = (await metrics.chunkSeconds.get()).values.find(
      (value) => value.metricName === 'offers_chunk_duration_seconds_sum',
    )?.value;
    assert.ok(
      chunk !== undefined && steps <= chunk,
      `steps ${steps} s within the chunk ${chunk} s`,
    );
    assert.ok(steps >= 0.025, 'the held Redis write is in the write step');
    const sinkSums = (await metrics.sinkWriteSeconds.get()).values.filter(
      (value) => value.metricName === 'offers_sink_write_duration_seconds_sum',
    );
    for (const sink of sinkSums) {
      assert.ok(sink.value <= (sums.get('write') ?? 0), `${String(sink.labels.sink)} within write`);
    }
    assert.ok(
      (sinkSums.find((sink) => sink.labels.sink === 'redis')?.value ?? 0) >= 0.025,
      'the Redis write took the time it was held',
    );
  });

  it('retries a sink that fails retriably, pausing fetching, and commits once it is back', async () => {
    const { journal, clickhouse, fatal, health, run } = setUp();
    const down = new OfferError('CLICKHOUSE_FAILED', 'connection refused', { retriable: true });
    clickhouse.failWith(down, down);
    await run([valid(1), valid(2)]);
    assert.deepEqual(fatal, []);
    assert.equal(journal.filter((event) => event === 'clickhouse failed').length, 2);
    assert.ok(journal.indexOf('pause') < journal.indexOf('clickhouse ack'));
    assert.ok(journal.indexOf('resume') > journal.indexOf('clickhouse ack'));
    assert.equal(journal.at(-1), 'commit 2');
    assert.equal(health.healthy, true);
  });

  it('stops uncommitted on a failure no retry can fix', async () => {
    const { journal, redis, fatal, run } = setUp();
    const wrong = new OfferError('REDIS_FAILED', 'WRONGPASS', { retriable: false });
    redis.failWith(wrong);
    await run([valid(1)]);
    assert.deepEqual(fatal, [wrong]);
    assert.ok(!journal.some((event) => event.startsWith('commit')));
  });

  it('leaves a chunk uncommitted when its partition moved while it was written', async () => {
    let stale = false;
    const { journal, clickhouse, fatal, run } = setUp({ stale: () => stale });
    const release = clickhouse.hold();
    const running = run([valid(1)]);
    await settle();
    stale = true;
    release();
    await running;
    assert.deepEqual(fatal, []);
    assert.ok(!journal.some((event) => event.startsWith('commit')));
  });

  it('abandons the rest of a batch when a heartbeat between chunks finds the membership lost', async () => {
    const lost = new OfferError('ABORTED', 'group membership lost during a heartbeat', {
      retriable: false,
    });
    const { journal, fatal, run } = setUp({ batchMaxMessages: 2, heartbeatFails: lost });
    await run([valid(1), valid(2), valid(3), valid(4)]);
    assert.deepEqual(fatal, []);
    assert.deepEqual(
      journal.filter((event) => event.startsWith('commit') || event === 'heartbeat'),
      ['commit 2', 'heartbeat'],
    );
  });

  it('commits a large batch chunk by chunk, heartbeating between chunks', async () => {
    const { journal, run } = setUp({ batchMaxMessages: 2 });
    await run([valid(1), valid(2), valid(3), valid(4), valid(5)]);
    assert.deepEqual(
      journal.filter((event) => event.startsWith('commit') || event === 'heartbeat'),
      ['commit 2', 'heartbeat', 'commit 4', 'heartbeat', 'commit 5'],
    );
  });
});

describe('batch processor with a shadow model', () => {
  const parse = (offer: StoredOffer) => JSON.parse(offer.json) as Record<string, unknown>;

  it("scores the same registrations with both models; the shadow's rows go to its table only", async () => {
    const shadow = shadowScorer();
    const { clickhouse, redis, shadowSink, liveRuns, run } = setUp({ shadow });
    await run([valid(1), message(2, '[1]'), valid(3)]);
    assert.deepEqual(shadow.runs, liveRuns);
    assert.deepEqual(
      shadow.runs.flat().map((registration) => registration.userId),
      [101, 103],
    );
    const shadowRows = shadowSink.writes.flat().map(parse);
    assert.deepEqual(
      shadowRows.map((row) => [row.user_id, row.kafka_offset, row.model_version, row.model_sha256]),
      [
        [101, '1', 'candidate', 'ef'.repeat(32)],
        [103, '3', 'candidate', 'ef'.repeat(32)],
      ],
    );
    for (const row of shadowRows) assert.equal(row.predicted_cost, 0.75);
    // The same keys as the live rows: user, event version, partition, offset.
    const keys = (rows: Record<string, unknown>[]) =>
      rows.map((row) => [row.user_id, row.version, row.kafka_partition, row.kafka_offset]);
    assert.deepEqual(keys(shadowRows), keys(clickhouse.writes.flat().map(parse)));
    for (const sink of [clickhouse, redis]) {
      for (const row of sink.writes.flat().map(parse)) {
        assert.equal(row.model_version, 'test');
        assert.equal(row.predicted_cost, 0.25);
      }
    }
  });

  it('commits only once the shadow rows are stored too', async () => {
    const shadow = shadowScorer();
    const { journal, shadowSink, run } = setUp({ shadow });
    const release = shadowSink.hold();
    const running = run([valid(5), valid(6)]);
    for (let tick = 0; tick < 20; tick += 1) await settle();
    assert.ok(journal.includes('clickhouse ack') && journal.includes('redis ack'));
    assert.ok(!journal.some((event) => event.startsWith('commit')), 'nothing committed yet');
    release();
    await running;
    assert.ok(journal.indexOf('clickhouse_shadow ack') < journal.indexOf('commit 6'));
  });

  it('pauses on a shadow table outage like on any sink, and commits once it is back', async () => {
    const shadow = shadowScorer();
    const { journal, shadowSink, fatal, health, run } = setUp({ shadow });
    const down = new OfferError('CLICKHOUSE_FAILED', 'connection refused', { retriable: true });
    shadowSink.failWith(down, down);
    await run([valid(1), valid(2)]);
    assert.deepEqual(fatal, []);
    assert.equal(journal.filter((event) => event === 'clickhouse_shadow failed').length, 2);
    assert.ok(journal.indexOf('pause') < journal.indexOf('clickhouse_shadow ack'));
    assert.equal(journal.filter((event) => event === 'clickhouse write 1-2').length, 1);
    assert.equal(journal.at(-1), 'commit 2');
    assert.equal(health.healthy, true);
  });

  it('leaves the chunk uncommitted, written nowhere, when the shadow model run fails', async () => {
    const { journal, fatal, run } = setUp({ shadow: shadowScorer(new Error('model run failed')) });
    await assert.rejects(run([valid(1)]), /model run failed/);
    assert.deepEqual(fatal, []);
    assert.deepEqual(journal, []);
  });

  it('without a shadow model, writes no shadow rows', async () => {
    const { shadowSink, clickhouse, run } = setUp();
    await run([valid(1), valid(2)]);
    assert.equal(clickhouse.writes.flat().length, 2);
    assert.deepEqual(shadowSink.writes, []);
  });
});
