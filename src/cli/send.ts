import { SingleBar } from 'cli-progress';

import type { Tracer } from '@opentelemetry/api';

import type { MessageProducer, OutboundMessage } from '../kafka/kafka-adapter.js';
import { keepPace } from './pacing.js';
import { sendTraced } from './traced-send.js';
import { generateMessages, INVALID_SAMPLES } from './registration-generator.js';

export interface SendOptions {
  /** When set, each message is sent inside a PRODUCER span whose context rides in its headers. */
  readonly tracer?: Tracer;
  readonly topic: string;
  readonly count: number;
  /** Messages per second; 0 sends as fast as the broker acknowledges. */
  readonly rate: number;
  readonly firstUserId: number;
  readonly seed: number;
  /** How many invalid messages to mix in (they end in the DLQ). */
  readonly invalid: number;
  readonly progress: boolean;
}

export interface SendResult {
  readonly sent: number;
  readonly invalid: number;
  readonly seconds: number;
}

const SEND_BATCH = 500;

/** Produces registrations keyed by user id, paced to `rate`, with a progress bar on stderr. */
export async function sendRegistrations(
  producer: MessageProducer,
  options: SendOptions,
): Promise<SendResult> {
  const total = options.count + options.invalid;
  const bar = options.progress
    ? new SingleBar({
        format: 'sending [{bar}] {percentage}% | {value}/{total} messages | {rate} msg/s',
        noTTYOutput: true,
        notTTYSchedule: 1_000,
        stream: process.stderr,
      })
    : undefined;
  bar?.start(total, 0, { rate: 0 });

  const invalidEvery = options.invalid > 0 ? Math.max(1, Math.floor(total / options.invalid)) : 0;
  const registrations = generateMessages({
    count: options.count,
    firstUserId: options.firstUserId,
    seed: options.seed,
  });
  const started = performance.now();
  let sent = 0;
  let invalidSent = 0;
  let pending: OutboundMessage[] = [];
  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    await sendTraced(producer, options.tracer, options.topic, pending);
    sent += pending.length;
    pending = [];
    const elapsed = (performance.now() - started) / 1000;
    bar?.update(sent, { rate: Math.round(sent / Math.max(elapsed, 0.001)) });
    await keepPace(sent, options.rate, started);
  };

  const batchSize =
    options.rate > 0 ? Math.max(1, Math.min(SEND_BATCH, Math.ceil(options.rate / 10))) : SEND_BATCH;
  for (let index = 0; index < total; index += 1) {
    const wantsInvalid =
      invalidSent < options.invalid &&
      invalidEvery > 0 &&
      index % invalidEvery === invalidEvery - 1;
    const registration = wantsInvalid ? undefined : registrations.next();
    if (registration === undefined || registration.done === true) {
      const sample = INVALID_SAMPLES[invalidSent % INVALID_SAMPLES.length];
      if (sample === undefined || invalidSent >= options.invalid) continue;
      pending.push({ key: `invalid-${invalidSent}`, value: sample.value });
      invalidSent += 1;
    } else {
      pending.push({ key: registration.value.key, value: registration.value.value });
    }
    if (pending.length >= batchSize) await flush();
  }
  await flush();
  bar?.stop();
  return { sent, invalid: invalidSent, seconds: (performance.now() - started) / 1000 };
}
