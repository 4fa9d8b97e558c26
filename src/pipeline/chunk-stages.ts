import { decodeRegistration, type DecodeResult } from '../contract/decode.js';
import type { Registration } from '../contract/registration.js';
import type { InboundMessage } from '../kafka/kafka-adapter.js';
import type { Predictions } from '../scoring/predictions.js';
import type { RejectedMessage } from '../sinks/dead-letter-sink.js';
import { ChunkOffers, type ModelIdentity, type StoredOffer } from '../sinks/offer-record.js';
import type { ChunkObserver } from './chunk-observer.js';

// The pure steps of a chunk: which messages are registrations and which are rejected, and
// the offer records built from the registrations and their predictions.

export interface Accepted {
  readonly index: number;
  readonly message: InboundMessage;
  readonly registration: Registration;
}

export interface Decoded {
  readonly accepted: readonly Accepted[];
  readonly rejected: readonly (RejectedMessage & { readonly index: number })[];
}

/**
 * Where a fetched batch is cut into chunks (each scored, written and committed on its own),
 * as [start, end) indexes. By default every `max` messages from the batch's start. With
 * `alignToOffsets`, a chunk holds the messages whose offsets share `floor(offset / max)`: a
 * chunk then ends at the same offset whichever offset the batch started at, so the chunk
 * written again after a crash or rebalance holds the same messages as the first time, up to
 * the batch's own end (which depends on what the broker had and the fetch size).
 */
export function chunkBounds(
  messages: readonly { readonly offset: string }[],
  max: number,
  alignToOffsets: boolean,
): [number, number][] {
  const bounds: [number, number][] = [];
  if (!alignToOffsets) {
    for (let start = 0; start < messages.length; start += max) {
      bounds.push([start, Math.min(start + max, messages.length)]);
    }
    return bounds;
  }
  const size = BigInt(max);
  let start = 0;
  let bucket: bigint | undefined;
  for (const [index, message] of messages.entries()) {
    const current = BigInt(message.offset) / size;
    if (bucket !== undefined && current !== bucket) {
      bounds.push([start, index]);
      start = index;
    }
    bucket = current;
  }
  if (start < messages.length) bounds.push([start, messages.length]);
  return bounds;
}

/** Rejection details are quoted in logs, spans and DLQ headers: keep them short. */
function boundedDetail(detail: string): string {
  return detail.length <= 256 ? detail : `${detail.slice(0, 255)}…`;
}

export function decodeChunk(
  chunk: readonly InboundMessage[],
  maxBytes: number,
  obs: ChunkObserver,
): Decoded {
  const accepted: Accepted[] = [];
  const rejected: (RejectedMessage & { index: number })[] = [];
  // One function for the chunk, not a closure per message: this loop is the hot path.
  const decodeMessage = (message: InboundMessage): DecodeResult =>
    message.undecodable === undefined
      ? decodeRegistration(message.value, maxBytes)
      : { ok: false, reason: 'undecodable_batch', detail: boundedDetail(message.undecodable) };
  for (const [index, message] of chunk.entries()) {
    const decoded = obs.decode(index, message, decodeMessage);
    if (decoded.ok) {
      accepted.push({ index, message, registration: decoded.registration });
      continue;
    }
    const rejection = { reason: decoded.reason, detail: decoded.detail };
    rejected.push({ index, message, rejection });
    obs.rejected(index, message, rejection);
  }
  return { accepted, rejected };
}

/** The stored offers of the accepted messages, in order, from their predictions. */
export function toStoredOffers(
  partition: number,
  accepted: readonly Accepted[],
  predictions: readonly Predictions[],
  model: ModelIdentity,
  processedAtMs: number,
): StoredOffer[] {
  if (predictions.length !== accepted.length) {
    throw new Error(`the scorer returned ${predictions.length} rows for ${accepted.length}`);
  }
  const offers = new ChunkOffers(partition, model, processedAtMs);
  const stored = new Array<StoredOffer>(accepted.length);
  for (const [index, { message, registration }] of accepted.entries()) {
    const prediction = predictions[index];
    if (prediction === undefined) throw new Error(`no prediction for row ${index}`);
    const source = {
      userId: registration.userId,
      offset: message.offset,
      timestampMs: message.timestampMs,
    };
    stored[index] = offers.offer(source, prediction);
  }
  return stored;
}
