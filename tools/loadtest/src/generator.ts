import { setTimeout as sleep } from 'node:timers/promises';

import { dueMessages } from '../../../src/cli/pacing.js';
import { generateMessages, INVALID_SAMPLES } from '../../../src/cli/registration-generator.js';
import { errorMessage } from '../../../src/errors.js';
import type { MessageProducer, OutboundMessage } from '../../../src/kafka/kafka-adapter.js';

export interface GeneratorOptions {
  readonly topic: string;
  /** Messages per second; 0 sends as fast as the brokers acknowledge. */
  readonly rate: number;
  /** Stop after this long (ms); undefined = until `count` messages are sent. */
  readonly durationMs: number | undefined;
  /** Stop after this many messages; undefined = until `durationMs` has passed. */
  readonly count: number | undefined;
  readonly firstUserId: number;
  readonly seed: number;
  /** Largest number of messages in one produce request. */
  readonly batchSize: number;
  /** Produce requests awaiting acknowledgement at once. */
  readonly maxInFlight: number;
  /** Every Nth message is one the consumer must dead-letter (0 or undefined: none). */
  readonly invalidEvery?: number;
  /**
   * Keep producing after a request the brokers did not acknowledge, counting its messages
   * as failed (a load test reports send errors); otherwise the run stops and rejects.
   */
  readonly continueOnError?: boolean;
}

export interface SentBatch {
  /** Wall clock just before the produce request; the broker's timestamp is not earlier. */
  readonly sentAtMs: number;
  readonly userIds: readonly number[];
}

export interface GeneratorProgress {
  /** Messages handed to the producer. */
  readonly sent: number;
  /** Messages the brokers acknowledged. */
  readonly acked: number;
  /** Messages of produce requests the brokers did not acknowledge. */
  readonly failed: number;
  /** Invalid messages among those sent (see `invalidEvery`). */
  readonly invalid: number;
}

export interface GeneratorResult extends GeneratorProgress {
  readonly startedAtMs: number;
  readonly endedAtMs: number;
}

/**
 * Produces seeded registrations keyed by user id at a target rate, with several produce
 * requests in flight so that the broker's round trip does not cap the rate.
 */
export class LoadGenerator {
  readonly #producer: MessageProducer;
  readonly #options: GeneratorOptions;
  readonly #onSent: (batch: SentBatch) => void;
  #sent = 0;
  #acked = 0;
  #failed = 0;
  #invalid = 0;
  #stopped = false;
  #lastError: unknown;

  constructor(
    producer: MessageProducer,
    options: GeneratorOptions,
    onSent: (batch: SentBatch) => void = () => undefined,
  ) {
    this.#producer = producer;
    this.#options = options;
    this.#onSent = onSent;
  }

  get progress(): GeneratorProgress {
    return { sent: this.#sent, acked: this.#acked, failed: this.#failed, invalid: this.#invalid };
  }

  /** The last error of a produce request, as text; undefined while there was none. */
  get lastError(): string | undefined {
    return this.#lastError === undefined ? undefined : errorMessage(this.#lastError);
  }

  /** Ends the run early; messages already handed to the producer are still awaited. */
  stop(): void {
    this.#stopped = true;
  }

  async run(): Promise<GeneratorResult> {
    const options = this.#options;
    const limit = options.count ?? Number.MAX_SAFE_INTEGER;
    const messages = generateMessages({
      count: Math.min(limit, Number.MAX_SAFE_INTEGER - options.firstUserId),
      firstUserId: options.firstUserId,
      seed: options.seed,
    });
    const inFlight = new Set<Promise<void>>();
    const startedAtMs = Date.now();
    const started = performance.now();
    let exhausted = false;

    while (!this.#stopped && !exhausted) {
      const elapsed = performance.now() - started;
      if (options.durationMs !== undefined && elapsed >= options.durationMs) break;
      if ((this.#failed > 0 && options.continueOnError !== true) || this.#sent >= limit) break;
      const due = dueMessages(options.rate, elapsed, limit);
      if (due <= this.#sent) {
        // Wake up when the next message is due, at most every 10 ms to watch the clock.
        const nextDueMs = ((this.#sent + 1) * 1000) / options.rate - elapsed;
        await sleep(Math.max(1, Math.min(10, nextDueMs)));
        continue;
      }
      if (inFlight.size >= options.maxInFlight) {
        await Promise.race(inFlight);
        continue;
      }
      const batch: OutboundMessage[] = [];
      const userIds: number[] = [];
      const size = Math.min(options.batchSize, due - this.#sent);
      const invalidEvery = options.invalidEvery ?? 0;
      while (batch.length < size) {
        if (invalidEvery > 0 && (this.#sent + batch.length + 1) % invalidEvery === 0) {
          const sample = INVALID_SAMPLES[this.#invalid % INVALID_SAMPLES.length];
          if (sample !== undefined) {
            batch.push({ key: `invalid-${this.#invalid}`, value: sample.value });
            this.#invalid += 1;
            continue;
          }
        }
        const next = messages.next();
        if (next.done === true) {
          exhausted = true;
          break;
        }
        batch.push({ key: next.value.key, value: next.value.value });
        userIds.push(next.value.userId);
      }
      if (batch.length === 0) break;
      this.#sent += batch.length;
      const sentAtMs = Date.now();
      this.#onSent({ sentAtMs, userIds });
      const request = this.#producer.send(options.topic, batch).then(
        () => {
          this.#acked += batch.length;
        },
        (error: unknown) => {
          this.#failed += batch.length;
          this.#lastError = error;
        },
      );
      inFlight.add(request);
      void request.finally(() => inFlight.delete(request));
    }
    await Promise.all(inFlight);
    if (this.#failed > 0 && options.continueOnError !== true) {
      throw new Error(
        `${this.#failed} messages were not acknowledged: ${String(this.#lastError)}`,
        { cause: this.#lastError },
      );
    }
    return { ...this.progress, startedAtMs, endedAtMs: Date.now() };
  }
}
