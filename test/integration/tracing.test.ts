import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { INVALID_SAMPLES } from '../../src/cli/registration-generator.js';
import { ATTR } from '../../src/telemetry/semconv.js';
import { readGoldenFile } from '../support/golden.js';
import { startInfra, type InfraEnv } from '../support/infra.js';
import {
  OtlpReceiver,
  SPAN_KIND,
  STATUS_CODE,
  type ReceivedSpan,
} from '../support/otlp-receiver.js';
import { PipelineFixture } from '../support/pipeline-fixture.js';
import { ConsumerProcess, freePort, runCli, waitFor } from '../support/service.js';

/** The committed model's version, which every predict span names. */
const { model_version: modelVersion } = await readGoldenFile();
const TRACED = 100;
const INVALID = 5;
const HEADERLESS = 5;

function tracingEnv(endpoint: string, ratio: number): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: String(ratio),
    OTEL_BSP_SCHEDULE_DELAY: '100',
  };
}

function childrenOf(spans: readonly ReceivedSpan[], parent: ReceivedSpan): ReceivedSpan[] {
  return spans.filter(
    (span) => span.traceId === parent.traceId && span.parentSpanId === parent.spanId,
  );
}

function only(spans: readonly ReceivedSpan[], name: string, context: string): ReceivedSpan {
  const matching = spans.filter((span) => span.name === name);
  assert.equal(matching.length, 1, `${context}: exactly one ${name} span, got ${matching.length}`);
  const [span] = matching;
  assert.ok(span);
  return span;
}

describe('tracing through Kafka', () => {
  let infra: InfraEnv;
  before(async () => {
    infra = await startInfra();
  });

  describe('sampled at ratio 1', () => {
    let fixture: PipelineFixture;
    let receiver: OtlpReceiver;
    let consumer: ConsumerProcess | undefined;

    before(async () => {
      receiver = await OtlpReceiver.start();
      fixture = new PipelineFixture(infra);
      await fixture.setUp(3);
    });

    after(async () => {
      await consumer?.stop('SIGKILL');
      await fixture.tearDown();
      await receiver.close();
    });

    it('gives every message one trace from the producer span through consume, predict and both sinks', async () => {
      const env = fixture.env(tracingEnv(receiver.endpoint, 1));
      consumer = await ConsumerProcess.start(env);
      await consumer.waitReady();

      const sent = await runCli(
        ['send', '--count', String(TRACED), '--invalid', String(INVALID), '--no-progress'],
        { ...env, OTEL_SERVICE_NAME: 'registration-sender' },
      );
      assert.equal(sent.code, 0, sent.stderr);
      // Messages without trace headers, as a producer without OpenTelemetry sends them.
      const plain = fixture.kafka.producer();
      await plain.connect();
      const headerlessIds = Array.from({ length: HEADERLESS }, (_, i) => 10_001 + i);
      await plain.send(
        fixture.topic,
        headerlessIds.map((id) => ({
          key: String(id),
          value: JSON.stringify({ user_id: id, platform: 'iOS' }),
        })),
      );
      await plain.disconnect();
      await fixture.waitCommittedToEnd();
      // A graceful stop flushes the last spans.
      assert.equal(await consumer.stop('SIGTERM'), 0);

      const spans = receiver.spans;
      const producers = spans.filter((span) => span.name === `send ${fixture.topic}`);
      assert.equal(producers.length, TRACED + INVALID, 'one producer span per sent message');
      await waitFor('consumer spans of every message', () =>
        producers.every((producer) =>
          childrenOf(spans, producer).some((span) => span.name === `process ${fixture.topic}`),
        ),
      );

      const userIds = new Set<string>();
      for (const producer of producers) {
        assert.equal(producer.kind, SPAN_KIND.producer);
        assert.equal(producer.parentSpanId, '', 'the producer span is the root of the trace');
        assert.equal(producer.serviceName, 'registration-sender');
        const context = `trace ${producer.traceId}`;
        const processSpan = only(childrenOf(spans, producer), `process ${fixture.topic}`, context);
        assert.equal(processSpan.kind, SPAN_KIND.consumer);
        assert.equal(processSpan.serviceName, 'realtime-offers');
        assert.equal(processSpan.attributes[ATTR.messagingSystem], 'kafka');
        assert.equal(processSpan.attributes[ATTR.messagingDestination], fixture.topic);
        assert.equal(processSpan.attributes[ATTR.messagingConsumerGroup], fixture.groupId);
        assert.match(String(processSpan.attributes[ATTR.messagingPartition]), /^[0-2]$/);
        assert.equal(typeof processSpan.attributes[ATTR.kafkaOffset], 'number');
        const key = String(processSpan.attributes[ATTR.kafkaMessageKey]);
        assert.equal(producer.attributes[ATTR.kafkaMessageKey], key);
        const children = childrenOf(spans, processSpan);
        only(children, 'decode', context);

        if (key.startsWith('invalid-')) {
          assert.equal(
            processSpan.status.code,
            STATUS_CODE.error,
            `${context}: a dead-lettered message is an error`,
          );
          const reason = String(processSpan.attributes[ATTR.rejectionReason]);
          assert.ok(
            INVALID_SAMPLES.some((sample) => sample.reason === reason),
            `${context}: reason ${reason}`,
          );
          assert.ok(processSpan.status.message.startsWith(reason));
          only(children, `send ${fixture.dlqTopic}`, context);
          continue;
        }
        assert.equal(processSpan.status.code, STATUS_CODE.unset);
        assert.equal(
          processSpan.attributes[ATTR.userId],
          key,
          `${context}: the user id is searchable`,
        );
        userIds.add(key);
        const predict = only(children, 'predict', context);
        assert.equal(predict.attributes[ATTR.modelVersion], modelVersion);
        assert.ok(Number(predict.attributes[ATTR.batchSize]) >= 1);
        const insert = only(children, `INSERT ${fixture.table}`, context);
        assert.equal(insert.kind, SPAN_KIND.client);
        assert.equal(insert.attributes[ATTR.dbSystem], 'clickhouse');
        assert.equal(insert.attributes[ATTR.dbCollection], fixture.table);
        assert.ok(Number(insert.attributes[ATTR.dbBatchSize]) >= 1);
        const redis = only(children, 'EVALSHA', context);
        assert.equal(redis.attributes[ATTR.dbSystem], 'redis');
        assert.equal(redis.attributes[ATTR.redisKey], `${fixture.keyPrefix}${key}`);
        for (const child of [predict, insert, redis]) {
          assert.ok(
            child.startMs >= processSpan.startMs - 1 && child.endMs <= processSpan.endMs + 1,
            `${context}: ${child.name} inside the process span`,
          );
        }
      }
      assert.equal(userIds.size, TRACED);

      // Messages without headers start their own trace at the consumer and are still complete.
      for (const id of headerlessIds) {
        const roots = spans.filter(
          (span) =>
            span.name === `process ${fixture.topic}` && span.attributes[ATTR.userId] === String(id),
        );
        assert.equal(roots.length, 1, `user ${id} has one trace`);
        const [root] = roots;
        assert.ok(root);
        assert.equal(root.parentSpanId, '', `user ${id}: a new trace`);
        const names = childrenOf(spans, root)
          .map((span) => span.name)
          .sort();
        assert.deepEqual(names, ['EVALSHA', `INSERT ${fixture.table}`, 'decode', 'predict'].sort());
      }

      // Log lines about a message carry its trace and span ids.
      const deadLetterLogs = consumer.output
        .split('\n')
        .filter((line) => line.includes('message dead-lettered'))
        .map((line) => JSON.parse(line) as { trace_id?: string; span_id?: string });
      assert.equal(deadLetterLogs.length, INVALID);
      const invalidTraces = new Set(
        producers
          .filter((p) => String(p.attributes[ATTR.kafkaMessageKey]).startsWith('invalid-'))
          .map((p) => p.traceId),
      );
      for (const line of deadLetterLogs) {
        assert.ok(
          line.trace_id !== undefined && invalidTraces.has(line.trace_id),
          `log line trace ${String(line.trace_id)}`,
        );
        assert.match(line.span_id ?? '', /^[0-9a-f]{16}$/);
      }
    });
  });

  describe('sampled at ratio 0', () => {
    let fixture: PipelineFixture;
    let receiver: OtlpReceiver;
    let consumer: ConsumerProcess | undefined;

    before(async () => {
      receiver = await OtlpReceiver.start();
      fixture = new PipelineFixture(infra);
      await fixture.setUp(3);
    });

    after(async () => {
      await consumer?.stop('SIGKILL');
      await fixture.tearDown();
      await receiver.close();
    });

    it('exports no span while messages still flow', async () => {
      const env = fixture.env(tracingEnv(receiver.endpoint, 0));
      consumer = await ConsumerProcess.start(env);
      await consumer.waitReady();
      const sent = await runCli(['send', '--count', '200', '--no-progress'], env);
      assert.equal(sent.code, 0, sent.stderr);
      await fixture.waitCommittedToEnd();
      assert.equal(await consumer.metric('offers_scored_total'), 200);
      assert.equal(await consumer.stop('SIGTERM'), 0);
      assert.equal(receiver.spans.length, 0);
    });
  });

  describe('collector unreachable', () => {
    let fixture: PipelineFixture;
    let consumer: ConsumerProcess | undefined;

    before(async () => {
      fixture = new PipelineFixture(infra);
      await fixture.setUp(1);
    });

    after(async () => {
      await consumer?.stop('SIGKILL');
      await fixture.tearDown();
    });

    it('starts, processes everything, and counts the dropped spans with a warning', async () => {
      const closedPort = await freePort();
      consumer = await ConsumerProcess.start(
        fixture.env(tracingEnv(`http://127.0.0.1:${closedPort}`, 1)),
      );
      const running = consumer;
      await running.waitReady();
      const sent = await runCli(['send', '--count', '20', '--no-progress'], fixture.env());
      assert.equal(sent.code, 0, sent.stderr);
      await fixture.waitCommittedToEnd();
      await waitFor(
        'dropped spans to be counted',
        async () => (await running.metric('offers_trace_spans_dropped_total')) > 0,
        30_000,
      );
      assert.equal(await running.metric('offers_scored_total'), 20);
      assert.match(running.output, /trace export failed; spans dropped/);
      assert.equal(await running.stop('SIGTERM'), 0);
    });
  });
});
