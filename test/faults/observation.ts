// What the fault suites observe while a scenario runs: the consumer's metrics, the insert log,
// the group's committed offsets against the topic, and whole topics read back.
import type { InboundMessage } from '../../src/kafka/kafka-adapter.js';
import type { PipelineFixture } from '../support/pipeline-fixture.js';
import { waitFor, type ConsumerProcess } from '../support/service.js';

/** One sample of a Prometheus metric, chosen by a label matcher such as `sink="dlq"`. */
export async function metricSample(
  consumer: ConsumerProcess,
  name: string,
  labels: string,
): Promise<number | undefined> {
  const response = await fetch(`http://127.0.0.1:${consumer.httpPort}/metrics`);
  const text = await response.text();
  const line = text
    .split('\n')
    .find((candidate) => candidate.startsWith(`${name}{`) && candidate.includes(labels));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

/** The table that keeps a copy of every row inserted into the fixture's offer table. */
export function insertLog(fixture: PipelineFixture): string {
  return `default.${fixture.table}_inserts`;
}

/**
 * Keeps every inserted row's position in a plain MergeTree through a materialized view:
 * background merges of the ReplacingMergeTree collapse redelivered rows out of sight (and
 * stopping them leaves too many parts for FINAL), the log counts every write.
 */
export async function recordInserts(fixture: PipelineFixture): Promise<void> {
  await fixture.clickhouse.command({
    query: `CREATE MATERIALIZED VIEW ${insertLog(fixture)}
      ENGINE = MergeTree ORDER BY (kafka_partition, kafka_offset)
      AS SELECT user_id, kafka_partition, kafka_offset FROM default.${fixture.table}`,
  });
}

/** Committed offsets summed over partitions (unset counts as 0). */
export async function committedTotal(fixture: PipelineFixture): Promise<number> {
  return [...(await fixture.committedOffsets()).values()].reduce(
    (sum, offset) => sum + Math.max(0, Number(offset)),
    0,
  );
}

/**
 * Seconds from `sinceMs` until the group has committed everything that was in the topic
 * when this is called: the backlog a fault left behind is gone.
 */
export async function drainSeconds(
  fixture: PipelineFixture,
  sinceMs: number,
  timeoutMs = 120_000,
): Promise<number> {
  let target = new Map<number, string>();
  // The broker may have just come back: the first requests can fail while clients reconnect.
  await waitFor('the end offsets', async () => {
    target = await fixture.endOffsets();
    return target.size > 0;
  });
  await waitFor(
    'the backlog left by the fault to be committed',
    async () => {
      const committed = await fixture.committedOffsets();
      return [...target].every(
        ([partition, end]) => Number(committed.get(partition) ?? -1) >= Number(end),
      );
    },
    timeoutMs,
    100,
  );
  return (Date.now() - sinceMs) / 1000;
}

export interface TopicRecord {
  readonly partition: number;
  readonly message: InboundMessage;
}

/** Reads a whole topic as it is now (up to its current end offsets); a missing topic is empty. */
export async function readWholeTopic(
  fixture: PipelineFixture,
  topic: string,
  timeoutMs = 60_000,
): Promise<TopicRecord[]> {
  const ends = await fixture.endOffsets(topic).catch((error: unknown) => {
    if (String(error).includes('does not host this topic-partition'))
      return new Map<number, string>();
    throw error;
  });
  const pending = new Map([...ends].filter(([, end]) => Number(end) > 0));
  const received: TopicRecord[] = [];
  if (pending.size === 0) return received;
  const consumer = fixture.kafka.consumer({
    groupId: `reader-${fixture.id}-${Date.now()}`,
    topic,
    fromBeginning: true,
    partitionsConcurrency: 1,
    maxBytesPerPartition: 1_048_576,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 1_000,
  });
  await consumer.start(async (batch, context) => {
    for (const message of batch.messages) {
      const end = pending.get(batch.partition);
      if (end === undefined || Number(message.offset) >= Number(end)) continue;
      received.push({ partition: batch.partition, message });
      if (Number(message.offset) + 1 >= Number(end)) pending.delete(batch.partition);
    }
    // Without it the next fetch starts at the same offset again: a partition holding more
    // than one fetch (maxBytesPerPartition) would never be read to its end.
    const last = batch.messages.at(-1);
    if (last !== undefined) await context.commit(last.offset);
  });
  try {
    await waitFor(`the whole of ${topic}`, () => pending.size === 0, timeoutMs);
  } finally {
    await consumer.stop();
  }
  return received;
}

const isInvalidKey = (key: string): boolean => key.startsWith('invalid-');

export interface CommitsSince {
  /** Valid messages created after the moment, and how many of them are committed. */
  readonly valid: { readonly produced: number; readonly committed: number };
  readonly invalid: { readonly produced: number; readonly committed: number };
}

/**
 * Which messages created after `sinceMs` (their Kafka CreateTime) the group has committed.
 * While a sink is down, no valid message created after it went down can be stored there, so
 * none of them may be committed; while the DLQ is down, no invalid one.
 */
export async function commitsSince(
  fixture: PipelineFixture,
  sinceMs: number,
): Promise<CommitsSince> {
  const committed = await fixture.committedOffsets();
  const input = await readWholeTopic(fixture, fixture.topic);
  const counts = { valid: { produced: 0, committed: 0 }, invalid: { produced: 0, committed: 0 } };
  for (const { partition, message } of input) {
    if (message.timestampMs <= sinceMs) continue;
    const kind = isInvalidKey(message.key?.toString() ?? '') ? counts.invalid : counts.valid;
    kind.produced += 1;
    if (Number(message.offset) < Number(committed.get(partition) ?? -1)) kind.committed += 1;
  }
  return counts;
}
