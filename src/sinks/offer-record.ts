import type { Predictions } from '../scoring/predictions.js';
import { offerText } from '../scoring/offer.js';

/**
 * One personal offer, as stored in ClickHouse (one row) and in Redis (the JSON value of
 * key `<prefix><user_id>`). Both sinks store the same fields with the same names.
 */
export type OfferRecord = Predictions & {
  readonly user_id: number;
  readonly offer: string;
  readonly model_version: string;
  readonly kafka_partition: number;
  readonly kafka_offset: string;
  /**
   * Kafka message timestamp, `YYYY-MM-DD hh:mm:ss` in UTC (ClickHouse DateTime text);
   * `1970-01-01 00:00:00` when the record has no usable timestamp (see `eventTimeMs`).
   */
  readonly event_time: string;
  /** When the offer was scored, `YYYY-MM-DD hh:mm:ss` in UTC. */
  readonly processed_at: string;
  /**
   * Orders events of the same user: the Kafka timestamp in milliseconds followed by six
   * digits of the offset, as a decimal string (it exceeds 2^53). ClickHouse's
   * ReplacingMergeTree keeps the highest; Redis refuses to overwrite a higher one.
   */
  readonly version: string;
};

export interface OfferSource {
  readonly userId: number;
  readonly partition: number;
  readonly offset: string;
  /** Kafka timestamp, milliseconds since the epoch, as kafkajs gives it. */
  readonly timestampMs: number;
}

const OFFSET_DIGITS = 1_000_000n;

/**
 * How far ahead of the consumer's clock a Kafka timestamp may be and still count. The same as
 * the broker's default `log.message.timestamp.after.max.ms` (Kafka 4): a topic that keeps that
 * default never holds a record further ahead.
 */
export const FUTURE_TIMESTAMP_TOLERANCE_MS = 3_600_000;

/**
 * The time an event counts as, for ordering and for `event_time`: its Kafka timestamp, or the
 * epoch when it has none (-1) or one no clock can have given yet (more than an hour ahead of
 * the consumer's). A producer clock set to the year 9999 would otherwise give a version that
 * no later event of the same user could beat (their offer would never change again), a
 * DateTime that ClickHouse cannot hold and a version beyond UInt64. Such an event orders
 * below every event with a usable timestamp, and by offset among its like.
 */
export function eventTimeMs(timestampMs: number, processedAtMs: number): number {
  if (!Number.isFinite(timestampMs) || timestampMs < 0) return 0;
  if (timestampMs > processedAtMs + FUTURE_TIMESTAMP_TOLERANCE_MS) return 0;
  return Math.trunc(timestampMs);
}

export function eventVersion(eventMs: number, offset: string): string {
  return (BigInt(eventMs) * OFFSET_DIGITS + (BigInt(offset) % OFFSET_DIGITS)).toString();
}

export function clickhouseDateTime(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 19).replace('T', ' ');
}

export function buildOfferRecord(
  source: OfferSource,
  predictions: Predictions,
  modelVersion: string,
  processedAtMs: number,
): OfferRecord {
  const eventMs = eventTimeMs(source.timestampMs, processedAtMs);
  return {
    user_id: source.userId,
    ...predictions,
    offer: offerText(predictions),
    model_version: modelVersion,
    kafka_partition: source.partition,
    kafka_offset: source.offset,
    event_time: clickhouseDateTime(eventMs),
    processed_at: clickhouseDateTime(processedAtMs),
    version: eventVersion(eventMs, source.offset),
  };
}
