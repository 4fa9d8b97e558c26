import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

import { REJECT_REASONS } from '../contract/decode.js';
import { GroupPositionReader } from './group-position.js';
import { createModelMetrics } from './model-metrics.js';
import type { TraceExportStats } from './tracing.js';

/**
 * The outputs of the pipeline, as metrics label them; `clickhouse_shadow` is the shadow
 * model's table, written only when MODEL_SHADOW_PATH is set.
 */
export const SINKS = ['clickhouse', 'redis', 'dlq', 'clickhouse_shadow'] as const;
export type SinkName = (typeof SINKS)[number];

/**
 * The steps of a chunk, one after the other: their durations add up to the chunk's
 * (`offers_chunk_duration_seconds`). `write` is the three sinks written concurrently; each
 * sink's own time is `offers_sink_write_duration_seconds{sink}`.
 */
export const STAGES = ['decode', 'score', 'write', 'commit'] as const;
export type StageName = (typeof STAGES)[number];

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const NAMED_LIKE_COUNTERS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
] as const;

/** Whether the consumer holds its place in its group, as the membership gauges show it. */
export interface MembershipStatus {
  readonly inGroup: boolean;
  /** Seconds since the brokers last answered; 0 before they ever did. */
  readonly contactAgeSeconds: number;
}

/** The service's Prometheus metrics, on their own registry (no global state). */
export function createMetrics(
  traceStats: Readonly<TraceExportStats> = { exported: 0, dropped: 0 },
  options: { shadow?: boolean } = {},
) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  // Gauges named like counters, which `promtool check metrics` rejects; the same numbers
  // are the sums of nodejs_active_handles{type}, nodejs_active_requests{type} and
  // nodejs_active_resources{type}.
  for (const name of NAMED_LIKE_COUNTERS) registry.removeSingleMetric(name);
  const metrics = {
    registry,
    /** Set the group's offsets source once the Kafka client exists; none, no offset series. */
    groupPositions: groupPositionMetrics(registry),
    ...flowMetrics(registry),
    ...sinkMetrics(registry),
    ...membershipMetrics(registry),
    ...buildAndTraceMetrics(registry, traceStats),
    /** The model's inputs and outputs; `model.observer` watches the loaded scorer. */
    model: createModelMetrics(registry),
  };
  // The shadow table is a sink only with a shadow model: otherwise its series would say "up"
  // about a table nothing writes.
  zeroEveryLabelSet(
    metrics,
    SINKS.filter((sink) => options.shadow === true || sink !== 'clickhouse_shadow'),
  );
  return metrics;
}

/** The group's lag, end and committed offsets per partition, read from Kafka at most once a scrape. */
function groupPositionMetrics(registry: Registry): GroupPositionReader {
  const groupGauge = (name: string, help: string) =>
    new Gauge({
      name,
      help,
      labelNames: ['topic', 'partition'] as const,
      registers: [registry],
      // Each scrape reads the group's offsets from Kafka once, shared by the three gauges.
      collect: () => groupPositions.refresh(),
    });
  const groupPositions: GroupPositionReader = new GroupPositionReader({
    lag: groupGauge(
      'offers_consumer_lag',
      "Messages of the partition not yet committed by the consumer group (the group's, as Kafka reports it; every replica reports every partition).",
    ),
    end: groupGauge(
      'offers_partition_end_offset',
      'End offset of the partition of the input topic (grows as messages arrive).',
    ),
    committed: groupGauge(
      'offers_partition_committed_offset',
      "The consumer group's committed offset on the partition (-1 before its first commit).",
    ),
    failures: new Counter({
      name: 'offers_consumer_lag_read_failures_total',
      help: "Scrapes whose reading of the group's offsets from Kafka failed or took over 3 s (the offset series are left out of that scrape).",
      registers: [registry],
      collect: () => groupPositions.refresh(),
    }),
  });
  return groupPositions;
}

/** What flows through the pipeline: messages, chunks, stages, end-to-end latency. */
function flowMetrics(registry: Registry) {
  const seconds = LATENCY_BUCKETS;
  return {
    consumed: new Counter({
      name: 'offers_messages_consumed_total',
      help: 'Kafka messages taken from the input topic.',
      labelNames: ['topic'] as const,
      registers: [registry],
    }),
    scored: new Counter({
      name: 'offers_scored_total',
      help: 'Registrations scored and acknowledged by both sinks.',
      registers: [registry],
    }),
    deadLettered: new Counter({
      name: 'offers_dead_lettered_total',
      help: 'Messages written to the dead-letter topic, by rejection reason.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    batchSize: new Histogram({
      name: 'offers_batch_size',
      help: 'Messages per processed chunk of a Kafka batch.',
      buckets: [1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000],
      registers: [registry],
    }),
    stageSeconds: new Histogram({
      name: 'offers_stage_duration_seconds',
      help: 'Time per step of a chunk (decode, score, write, commit: they add up to the chunk), retries included.',
      labelNames: ['stage'] as const,
      buckets: seconds,
      registers: [registry],
    }),
    chunkSeconds: new Histogram({
      name: 'offers_chunk_duration_seconds',
      help: 'Time per chunk of a Kafka batch, from the start of decoding to its commit.',
      buckets: seconds,
      registers: [registry],
    }),
    endToEndSeconds: new Histogram({
      name: 'offers_end_to_end_latency_seconds',
      help: 'From the Kafka message timestamp to both sinks acknowledging the offer.',
      buckets: seconds,
      registers: [registry],
    }),
  };
}

/** The sinks: failed writes, retries, which are up, paused fetching, write times. */
function sinkMetrics(registry: Registry) {
  const seconds = LATENCY_BUCKETS;
  return {
    sinkErrors: new Counter({
      name: 'offers_sink_errors_total',
      help: 'Failed sink writes, by sink and whether a retry can help.',
      labelNames: ['sink', 'retriable'] as const,
      registers: [registry],
    }),
    sinkRetries: new Counter({
      name: 'offers_sink_retries_total',
      help: 'Sink writes attempted again after a failure.',
      labelNames: ['sink'] as const,
      registers: [registry],
    }),
    sinkUp: new Gauge({
      name: 'offers_sink_up',
      help: '1 while the sink accepts writes, 0 after a failed write until one succeeds.',
      labelNames: ['sink'] as const,
      registers: [registry],
    }),
    fetchPaused: new Gauge({
      name: 'offers_fetch_paused',
      help: '1 while fetching is paused because a sink is down.',
      registers: [registry],
    }),
    sinkWriteSeconds: new Histogram({
      name: 'offers_sink_write_duration_seconds',
      help: "Time per chunk to write one sink's rows, retries included (the sinks run concurrently).",
      labelNames: ['sink'] as const,
      buckets: seconds,
      registers: [registry],
    }),
  };
}

/** The consumer's place in its group, read when scraped from the source set at wiring. */
function membershipMetrics(registry: Registry) {
  let membership: (() => MembershipStatus) | undefined;
  return {
    /** Set the membership's source once the consumer exists; until then, not in the group. */
    membership: {
      use(source: () => MembershipStatus): void {
        membership = source;
      },
    },
    kafkaInGroup: new Gauge({
      name: 'offers_kafka_in_group',
      help: '1 while the consumer holds its place in the group and the brokers answered it within the session timeout; 0 otherwise.',
      registers: [registry],
      collect() {
        this.set(membership?.().inGroup === true ? 1 : 0);
      },
    }),
    kafkaContactAgeSeconds: new Gauge({
      name: 'offers_kafka_last_contact_age_seconds',
      help: 'Seconds since the group coordinator or a broker last answered the consumer (heartbeat, fetch, commit, join).',
      registers: [registry],
      collect() {
        this.set(membership?.().contactAgeSeconds ?? 0);
      },
    }),
    kafkaMembershipLost: new Counter({
      name: 'offers_kafka_membership_lost_total',
      help: 'Times the group refused this member during a batch (evicted, rebalanced); the batch was left uncommitted and the consumer re-joined.',
      registers: [registry],
    }),
  };
}

/** Which build runs, and the spans delivered to or dropped by the collector. */
function buildAndTraceMetrics(registry: Registry, traceStats: Readonly<TraceExportStats>) {
  return {
    traceSpansExported: new Counter({
      name: 'offers_trace_spans_exported_total',
      help: 'Spans delivered to the OpenTelemetry collector.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(traceStats.exported);
      },
    }),
    buildInfo: new Gauge({
      name: 'offers_build_info',
      help: 'Always 1; the labels say which build runs: service version, model version and the SHA-256 of its file, Node.js version.',
      labelNames: ['version', 'model_version', 'model_sha256', 'node_version'] as const,
      registers: [registry],
    }),
    traceSpansDropped: new Counter({
      name: 'offers_trace_spans_dropped_total',
      help: 'Spans the exporter could not deliver (collector unreachable or slow); they are lost, the messages are not.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(traceStats.dropped);
      },
    }),
  };
}

/**
 * Every label set exists from the start, at 0: a rate or an alert over a series that
 * appears only with the first error sees nothing until then.
 */
function zeroEveryLabelSet(
  metrics: ReturnType<typeof flowMetrics> &
    ReturnType<typeof sinkMetrics> &
    ReturnType<typeof membershipMetrics>,
  sinks: readonly SinkName[],
): void {
  for (const sink of sinks) {
    metrics.sinkUp.set({ sink }, 1);
    metrics.sinkRetries.inc({ sink }, 0);
    for (const retriable of ['true', 'false']) metrics.sinkErrors.inc({ sink, retriable }, 0);
  }
  for (const reason of REJECT_REASONS) metrics.deadLettered.inc({ reason }, 0);
  for (const stage of STAGES) metrics.stageSeconds.zero({ stage });
  for (const sink of sinks) metrics.sinkWriteSeconds.zero({ sink });
  metrics.fetchPaused.set(0);
  metrics.kafkaMembershipLost.inc(0);
}

export type Metrics = ReturnType<typeof createMetrics>;
