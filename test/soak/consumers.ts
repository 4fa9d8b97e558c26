// The soak's consumer group: N `consume` processes, each in a slot that keeps its HTTP port
// across restarts (as a pod's container does), every exit recorded with whether a fault
// asked for it, and every live process's memory sampled.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { ConsumerProcess, freePort, waitFor } from '../support/service.js';
import { sampleMemory, type MemorySample } from './memory.js';

export interface ConsumerExit {
  readonly consumer: number;
  readonly run: number;
  readonly atSeconds: number;
  readonly code: number | null;
  /** The fault that caused it, or undefined for an exit nothing asked for. */
  readonly cause: string | undefined;
}

interface Slot {
  readonly index: number;
  readonly httpPort: number;
  process: ConsumerProcess | undefined;
  run: number;
  /** Set by a fault just before it stops the process. */
  expectedExit: string | undefined;
  output: string;
}

export class ConsumerGroup {
  readonly exits: ConsumerExit[] = [];
  readonly samples: MemorySample[] = [];
  readonly #slots: Slot[];
  readonly #env: Record<string, string>;
  readonly #startedAt: number;
  readonly #logDir: string;
  #closing = false;

  private constructor(
    slots: Slot[],
    env: Record<string, string>,
    logDir: string,
    startedAt: number,
  ) {
    this.#slots = slots;
    this.#env = env;
    this.#logDir = logDir;
    this.#startedAt = startedAt;
  }

  static async start(
    count: number,
    env: Record<string, string>,
    logDir: string,
    startedAt: number,
  ): Promise<ConsumerGroup> {
    const slots: Slot[] = [];
    for (let index = 1; index <= count; index += 1) {
      slots.push({
        index,
        httpPort: await freePort(),
        process: undefined,
        run: 0,
        expectedExit: undefined,
        output: '',
      });
    }
    const group = new ConsumerGroup(slots, env, logDir, startedAt);
    await Promise.all(slots.map((slot) => group.#launch(slot)));
    for (const slot of slots) await slot.process?.waitReady(120_000);
    return group;
  }

  get size(): number {
    return this.#slots.length;
  }

  #seconds(): number {
    return (Date.now() - this.#startedAt) / 1000;
  }

  #slot(index: number): Slot {
    const slot = this.#slots[index - 1];
    if (slot === undefined) throw new Error(`no consumer ${index}`);
    return slot;
  }

  async #launch(slot: Slot): Promise<ConsumerProcess> {
    const process = await ConsumerProcess.start(this.#env, { httpPort: slot.httpPort });
    slot.process = process;
    slot.run += 1;
    const run = slot.run;
    void process.exited.then(async (code) => {
      slot.output += `\n--- run ${run} exited with ${String(code)} ---\n${process.output}`;
      const cause = slot.expectedExit;
      slot.expectedExit = undefined;
      this.exits.push({ consumer: slot.index, run, atSeconds: this.#seconds(), code, cause });
      if (slot.process === process) slot.process = undefined;
      // An exit nothing asked for is restarted as an orchestrator would, and reported.
      if (cause === undefined && !this.#closing) await this.#launch(slot);
    });
    return process;
  }

  /** Sends `signal` to consumer `index` as fault `cause`; resolves with its exit code. */
  async stop(index: number, signal: NodeJS.Signals, cause: string): Promise<number | null> {
    const slot = this.#slot(index);
    const process = slot.process;
    if (process === undefined) return null;
    slot.expectedExit = cause;
    return process.stop(signal);
  }

  /** Starts consumer `index` again (after a fault stopped it). */
  async restart(index: number): Promise<void> {
    const slot = this.#slot(index);
    if (slot.process !== undefined) return;
    const process = await this.#launch(slot);
    // The next fault on this consumer meets a process that has installed its signal handlers:
    // one that answers on HTTP (ready or not: a sink may be down meanwhile).
    await waitFor(
      `consumer ${index} to answer`,
      async () => (await process.readiness()) > 0,
      120_000,
      200,
    );
  }

  /** SIGSTOP or SIGCONT to consumer `index`, which keeps running (or frozen). */
  signal(index: number, signal: 'SIGSTOP' | 'SIGCONT'): void {
    this.#slot(index).process?.signal(signal);
  }

  /** One memory sample of every consumer that answers. */
  async sample(): Promise<void> {
    const atSeconds = this.#seconds();
    await Promise.all(
      this.#slots.map(async (slot) => {
        if (slot.process === undefined) return;
        const memory = await sampleMemory(slot.httpPort);
        if (memory !== undefined)
          this.samples.push({ consumer: slot.index, run: slot.run, atSeconds, ...memory });
      }),
    );
  }

  /** Stops every consumer with SIGTERM and keeps their output in the log folder. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(
      this.#slots.map(async (slot) => {
        const process = slot.process;
        if (process === undefined) return;
        process.signal('SIGCONT');
        slot.expectedExit = 'end of the soak';
        await process.stop('SIGTERM');
      }),
    );
    await mkdir(this.#logDir, { recursive: true });
    for (const slot of this.#slots) {
      await writeFile(join(this.#logDir, `consumer-${slot.index}.log`), slot.output);
    }
  }
}
