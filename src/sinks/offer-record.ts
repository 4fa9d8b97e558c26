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
  /** SHA-256 of the model file that scored it (64 hex digits). */
  readonly model_sha256: string;
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

/** Which model scored an offer: the version its metadata gives and the SHA-256 of its file. */
export interface ModelIdentity {
  readonly version: string;
  readonly sha256: string;
}

export interface OfferSource {
  readonly userId: number;
  readonly partition: number;
  readonly offset: string;
  /** Kafka timestamp, milliseconds since the epoch, as kafkajs gives it. */
  readonly timestampMs: number;
}

/** Digits of the offset in a version. */
const OFFSET_DIGITS = 6;

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
  // The offset's last six digits, as text arithmetic: a BigInt per record costs more.
  const low = String(Number(offset.length > OFFSET_DIGITS ? offset.slice(-OFFSET_DIGITS) : offset));
  return eventMs === 0 ? low : `${eventMs}${low.padStart(OFFSET_DIGITS, '0')}`;
}

/** The event time (ms) inside a version, the inverse of eventVersion: 0 when it carries none. */
export function versionEventMs(version: string): number {
  return version.length > OFFSET_DIGITS ? Number(version.slice(0, -OFFSET_DIGITS)) : 0;
}

export function clickhouseDateTime(epochMs: number): string {
  return new Date(epochMs).toISOString().slice(0, 19).replace('T', ' ');
}

export function buildOfferRecord(
  source: OfferSource,
  predictions: Predictions,
  model: ModelIdentity,
  processedAtMs: number,
): OfferRecord {
  const eventMs = eventTimeMs(source.timestampMs, processedAtMs);
  return {
    user_id: source.userId,
    ...predictions,
    offer: offerText(predictions),
    model_version: model.version,
    model_sha256: model.sha256,
    kafka_partition: source.partition,
    kafka_offset: source.offset,
    event_time: clickhouseDateTime(eventMs),
    processed_at: clickhouseDateTime(processedAtMs),
    version: eventVersion(eventMs, source.offset),
  };
}

/** An offer as both sinks store it, serialised once. */
export interface StoredOffer {
  readonly userId: number;
  readonly version: string;
  /**
   * The OfferRecord as one JSON object with `version` first: the Redis value, whose script
   * reads the version from the start of the stored text, and the ClickHouse JSONEachRow row.
   */
  readonly json: string;
}

/** The stored form of a record (the reference for `ChunkOffers`, and for tests). */
export function storeOffer(record: OfferRecord): StoredOffer {
  const { version, ...fields } = record;
  return { userId: record.user_id, version, json: JSON.stringify({ version, ...fields }) };
}

/** `JSON.stringify` of a finite number is its `String`; anything else is null, as there. */
const jsonNumber = (value: number): string => (Number.isFinite(value) ? String(value) : 'null');

/**
 * Builds the stored offers of one chunk as text directly, with what the chunk's records share
 * (partition, model, processing time) formatted once: the same JSON as `storeOffer`
 * of `buildOfferRecord`, without an object per record and a generic serialisation.
 */
export class ChunkOffers {
  readonly #head: string;
  readonly #tail: string;
  readonly #processedAtMs: number;
  #lastSecond = Number.NaN;
  #lastSecondText = '';

  constructor(partition: number, model: ModelIdentity, processedAtMs: number) {
    this.#processedAtMs = processedAtMs;
    this.#head = `,"model_version":${JSON.stringify(model.version)},"model_sha256":${JSON.stringify(model.sha256)},"kafka_partition":${partition},"kafka_offset":"`;
    this.#tail = `","processed_at":"${clickhouseDateTime(processedAtMs)}"}`;
  }

  offer(source: Omit<OfferSource, 'partition'>, predictions: Predictions): StoredOffer {
    const eventMs = eventTimeMs(source.timestampMs, this.#processedAtMs);
    const version = eventVersion(eventMs, source.offset);
    const second = Math.floor(eventMs / 1000);
    if (second !== this.#lastSecond) {
      this.#lastSecond = second;
      this.#lastSecondText = clickhouseDateTime(second * 1000);
    }
    const json =
      `{"version":"${version}","user_id":${source.userId}` +
      `,"predicted_cost":${jsonNumber(predictions.predicted_cost)}` +
      `,"predicted_subscription":${jsonNumber(predictions.predicted_subscription)}` +
      `,"predicted_function_map":${jsonNumber(predictions.predicted_function_map)}` +
      `,"predicted_function_ignore_sound":${jsonNumber(predictions.predicted_function_ignore_sound)}` +
      `,"predicted_function_listen_sound":${jsonNumber(predictions.predicted_function_listen_sound)}` +
      `,"predicted_function_detailed_routes":${jsonNumber(predictions.predicted_function_detailed_routes)}` +
      `,"predicted_function_sos_signal":${jsonNumber(predictions.predicted_function_sos_signal)}` +
      `,"predicted_function_invite_second_parent":${jsonNumber(predictions.predicted_function_invite_second_parent)}` +
      `,"offer":"${offerText(predictions)}"${this.#head}${source.offset}` +
      `","event_time":"${this.#lastSecondText}${this.#tail}`;
    return { userId: source.userId, version, json };
  }
}
