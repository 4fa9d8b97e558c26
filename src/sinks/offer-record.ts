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
  /** Kafka message timestamp, `YYYY-MM-DD hh:mm:ss` in UTC (ClickHouse DateTime text). */
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

export function eventVersion(timestampMs: number, offset: string): string {
  return (
    BigInt(Math.max(0, Math.trunc(timestampMs))) * OFFSET_DIGITS +
    (BigInt(offset) % OFFSET_DIGITS)
  ).toString();
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
  return {
    user_id: source.userId,
    ...predictions,
    offer: offerText(predictions),
    model_version: modelVersion,
    kafka_partition: source.partition,
    kafka_offset: source.offset,
    event_time: clickhouseDateTime(source.timestampMs),
    processed_at: clickhouseDateTime(processedAtMs),
    version: eventVersion(source.timestampMs, source.offset),
  };
}
