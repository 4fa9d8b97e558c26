// The fault suites' traffic: planned messages with what each must become, and a paced
// producer that keeps sending them through faults.
import { setTimeout as sleep } from 'node:timers/promises';

import { keepPace } from '../../src/cli/pacing.js';
import { generateMessages, INVALID_SAMPLES } from '../../src/cli/registration-generator.js';
import { decodeRegistration, type RejectReason } from '../../src/contract/decode.js';
import type { Registration } from '../../src/contract/registration.js';
import type { MessageProducer } from '../../src/kafka/kafka-adapter.js';
import { waitFor } from '../support/service.js';

/** What a produced message must become: an offer of `userId`, or a dead letter with `reason`. */
export type Expectation =
  | { readonly kind: 'valid'; readonly userId: number; readonly registration: Registration }
  | { readonly kind: 'invalid'; readonly reason: RejectReason };

export interface PlannedMessage {
  readonly key: string;
  readonly value: string | Buffer | null;
  readonly expect: Expectation;
  /**
   * `partition/offset` of the record, for dead letters that cannot carry its key (the records
   * of a batch the consumer could not decode): they are found by their source position.
   */
  readonly at?: string;
}

/**
 * `count` seeded registrations (users `firstUserId..`) in the three wire shapes, with one
 * of the producer-caused invalid samples after every `invalidEvery` of them.
 */
export function planMessages(options: {
  readonly count: number;
  readonly firstUserId?: number;
  readonly invalidEvery?: number;
  readonly seed?: number;
}): PlannedMessage[] {
  const planned: PlannedMessage[] = [];
  let invalid = 0;
  for (const message of generateMessages({
    count: options.count,
    firstUserId: options.firstUserId ?? 1,
    seed: options.seed ?? 7,
  })) {
    const decoded = decodeRegistration(Buffer.from(message.value), 1 << 20);
    if (!decoded.ok) throw new Error(`generated message ${message.key} does not decode`);
    planned.push({
      key: message.key,
      value: message.value,
      expect: { kind: 'valid', userId: message.userId, registration: decoded.registration },
    });
    if (options.invalidEvery !== undefined && planned.length % options.invalidEvery === 0) {
      const sample = INVALID_SAMPLES[invalid % INVALID_SAMPLES.length];
      if (sample === undefined) throw new Error('no invalid samples');
      planned.push({
        key: `invalid-${invalid}`,
        value: sample.value,
        expect: { kind: 'invalid', reason: sample.reason as RejectReason },
      });
      invalid += 1;
    }
  }
  return planned;
}

/**
 * Sends planned messages at a steady rate and keeps going through faults: a batch the broker
 * did not acknowledge is sent again until it is (so a broker outage only delays the stream;
 * a retried batch may land twice, which the accounting counts as a duplicate).
 */
export class PacedProducer {
  #acked = 0;
  #failedAttempts = 0;
  #stopped = false;
  #limit: number;
  #running: Promise<void> | undefined;
  readonly #producer: MessageProducer;
  readonly #topic: string;
  readonly #messages: readonly PlannedMessage[];
  readonly #rate: number;

  constructor(
    producer: MessageProducer,
    topic: string,
    messages: readonly PlannedMessage[],
    ratePerSecond: number,
  ) {
    this.#producer = producer;
    this.#topic = topic;
    this.#messages = messages;
    this.#rate = ratePerSecond;
    this.#limit = messages.length;
  }

  get acked(): number {
    return this.#acked;
  }

  get failedAttempts(): number {
    return this.#failedAttempts;
  }

  get total(): number {
    return this.#messages.length;
  }

  start(): this {
    this.#running ??= this.#run();
    return this;
  }

  /** Gives up on what is not sent yet (a failed test must not leave it retrying). */
  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
  }

  /**
   * Ends the stream after the batch being sent, which is retried until acknowledged: the
   * first `acked` messages are then exactly what reached the topic. Resolves with `acked`.
   */
  async cut(): Promise<number> {
    this.#limit = Math.min(this.#limit, this.#acked + this.#batchSize());
    await this.#running;
    return this.#acked;
  }

  #batchSize(): number {
    return this.#rate > 0 ? Math.max(1, Math.ceil(this.#rate / 20)) : 500;
  }

  /** Resolves once every message is acknowledged. */
  async finished(timeoutMs = 180_000): Promise<void> {
    this.start();
    await waitFor('the producer to finish', () => this.#acked === this.total, timeoutMs, 50);
    await this.#running;
  }

  async waitAcked(count: number, timeoutMs = 120_000): Promise<void> {
    await waitFor(`${count} messages acknowledged`, () => this.#acked >= count, timeoutMs, 20);
  }

  async #run(): Promise<void> {
    const batchSize = this.#batchSize();
    const started = performance.now();
    while (this.#acked < this.#limit && !this.#stopped) {
      const batch = this.#messages.slice(
        this.#acked,
        Math.min(this.#acked + batchSize, this.#limit),
      );
      try {
        await this.#producer.send(
          this.#topic,
          batch.map((message) => ({ key: message.key, value: message.value })),
        );
      } catch {
        this.#failedAttempts += 1;
        await sleep(250);
        continue;
      }
      this.#acked += batch.length;
      await keepPace(this.#acked, this.#rate, started);
    }
  }
}
