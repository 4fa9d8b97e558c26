// The Java client's share of the soak's traffic: every few seconds a run of Kafka's own
// producer with the next codec, every other run transactional with a committed and an
// aborted transaction. A run that fails (a broker away) is sent again until it is
// acknowledged: its users and their registrations stay the same, so a retry only repeats them.
import { setTimeout as sleep } from 'node:timers/promises';

import {
  isAck,
  produceWithJavaClient,
  type JavaCompression,
  type JavaProducerRecord,
  type JavaProducerStep,
} from '../support/foreign-producer.js';
import { planMessages, type PlannedMessage } from '../faults/traffic.js';

const CODECS: readonly JavaCompression[] = ['gzip', 'snappy', 'lz4', 'zstd', 'none'];
/** Users of the Java runs start here; the aborted transactions' users at ABORTED_FIRST_USER. */
const JAVA_FIRST_USER = 1_000_000;
const ABORTED_FIRST_USER = 2_000_000;

export class JavaTraffic {
  /** Every message a run got acknowledged (committed): what the accounting expects. */
  readonly messages: PlannedMessage[] = [];
  runs = 0;
  failedRuns = 0;
  abortedRecords = 0;
  readonly #bootstrap: string;
  readonly #topic: string;
  readonly #perRun: number;
  #stopped = false;

  constructor(bootstrap: string, topic: string, perRun: number) {
    this.#bootstrap = bootstrap;
    this.#topic = topic;
    this.#perRun = perRun;
  }

  /** Sends a run every `intervalMs` until stop(); resolves when the last run is acknowledged. */
  async run(intervalMs: number): Promise<void> {
    for (let round = 0; !this.#stopped; round += 1) {
      const started = Date.now();
      await this.#round(round);
      await sleep(Math.max(0, intervalMs - (Date.now() - started)));
    }
  }

  stop(): void {
    this.#stopped = true;
  }

  async #round(round: number): Promise<void> {
    const compression = CODECS[round % CODECS.length] ?? 'none';
    const transactional = round % 2 === 1;
    const planned = planMessages({
      count: this.#perRun,
      firstUserId: JAVA_FIRST_USER + round * this.#perRun,
      invalidEvery: 50,
      seed: 1_000 + round,
    }).map((message) =>
      message.expect.kind === 'invalid'
        ? { ...message, key: `${message.key}-java-${round}` }
        : message,
    );
    const aborted = planMessages({
      count: Math.ceil(this.#perRun / 4),
      firstUserId: ABORTED_FIRST_USER + round * this.#perRun,
      seed: 2_000 + round,
    });
    const records = (messages: readonly PlannedMessage[]): JavaProducerRecord[] =>
      messages.map((message) => ({ key: message.key, value: message.value }));
    const steps: JavaProducerStep[] = transactional
      ? [
          { begin: true },
          { send: records(planned) },
          { commit: true },
          { begin: true },
          { send: records(aborted) },
          { abort: true },
        ]
      : [{ send: records(planned) }];
    // Retried until the committed part is acknowledged, even after stop(): what may have
    // reached the topic is then in the accounting.
    for (;;) {
      this.runs += 1;
      try {
        const result = await produceWithJavaClient(
          {
            bootstrap: this.#bootstrap,
            topic: this.#topic,
            compression,
            lingerMs: 20,
            ...(transactional
              ? {
                  transactionalId: `soak-java-${round}`,
                  extraConfig: { 'transaction.timeout.ms': 20_000 },
                }
              : {}),
            steps,
          },
          { timeoutMs: 90_000 },
        );
        const committedOk =
          result.records.slice(0, planned.length).every(isAck) &&
          (!transactional || result.transactions[0]?.outcome === 'committed');
        if (committedOk) {
          this.messages.push(...planned);
          if (transactional) this.abortedRecords += aborted.length;
          return;
        }
      } catch {
        // A broker away, or the JVM timed out: the run is sent again below.
      }
      this.failedRuns += 1;
      await sleep(2_000);
    }
  }
}
