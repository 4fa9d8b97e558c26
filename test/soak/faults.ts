// What each scheduled fault does to the running system, and how it is healed. Faults on the
// same target wait for each other; the rest overlap as the schedule has them.
import { setTimeout as sleep } from 'node:timers/promises';

import { Redis } from 'ioredis';

import type { TopicAdmin } from '../../src/kafka/kafka-adapter.js';
import type { InfraEnv, Services } from '../support/infra.js';
import { clusterNodes } from '../support/redis-cluster-nodes.js';
import { waitFor } from '../support/service.js';
import type { TcpProxy } from '../support/tcp-proxy.js';
import type { ConsumerGroup } from './consumers.js';
import { describeFault, type FaultTarget, type ScheduledFault } from './schedule.js';

/** What the faults act on. */
export interface SoakSystem {
  readonly infra: InfraEnv;
  readonly services: Services;
  readonly consumers: ConsumerGroup;
  /** The proxies every consumer reaches the brokers through (one per broker). */
  readonly kafkaProxies: readonly TcpProxy[];
  /** The proxy every consumer reaches ClickHouse through (in front of the balancer). */
  readonly clickhouseProxy: TcpProxy;
  readonly admin: TopicAdmin;
  readonly topic: string;
}

/** One fault as it happened. */
export interface FaultRecord {
  readonly fault: ScheduledFault;
  readonly description: string;
  /** Seconds after the start of the load, as they really were (a fault may wait its turn). */
  startedSeconds: number;
  healedSeconds: number;
  notes: string;
  error?: string;
}

/** Runs a schedule against the system, each fault at its time; faults overlap across targets. */
export class FaultRunner {
  readonly records: FaultRecord[] = [];
  readonly #system: SoakSystem;
  readonly #startedAt: number;
  readonly #locks = new Map<FaultTarget, Promise<void>>();

  constructor(system: SoakSystem, startedAt: number) {
    this.#system = system;
    this.#startedAt = startedAt;
  }

  #seconds(): number {
    return (Date.now() - this.#startedAt) / 1000;
  }

  /** Resolves once every fault of the schedule has been injected and healed. */
  async run(schedule: readonly ScheduledFault[]): Promise<void> {
    await Promise.all(schedule.map((fault) => this.#one(fault)));
  }

  async #one(fault: ScheduledFault): Promise<void> {
    await sleep(Math.max(0, this.#startedAt + fault.atSeconds * 1000 - Date.now()));
    const previous = this.#locks.get(fault.target) ?? Promise.resolve();
    let release = (): void => undefined;
    const mine = new Promise<void>((resolve) => (release = resolve));
    this.#locks.set(
      fault.target,
      previous.then(() => mine),
    );
    await previous;
    const record: FaultRecord = {
      fault,
      description: describeFault(fault),
      startedSeconds: this.#seconds(),
      healedSeconds: 0,
      notes: '',
    };
    this.records.push(record);
    console.log(`[soak] ${record.startedSeconds.toFixed(0)} s: ${record.description}`);
    try {
      record.notes = await inject(this.#system, fault);
    } catch (error) {
      record.error = error instanceof Error ? error.message : String(error);
      console.log(`[soak] fault ${record.description} failed: ${record.error}`);
    } finally {
      record.healedSeconds = this.#seconds();
      release();
    }
  }
}

/** Injects the fault, waits its duration, heals it; returns notes for the report. */
async function inject(system: SoakSystem, fault: ScheduledFault): Promise<string> {
  const hold = (): Promise<void> => sleep(fault.durationSeconds * 1000);
  switch (fault.kind) {
    case 'broker-kill': {
      const broker = `kafka-${fault.node}` as const;
      await system.services.kill(broker);
      await hold();
      await system.services.start(broker);
      return `${broker} SIGKILL, restarted`;
    }
    case 'broker-rolling-restart': {
      for (let node = 1; node <= system.infra.kafkaNodes; node += 1) {
        await system.services.stop(`kafka-${node}`);
        await system.services.start(`kafka-${node}`);
      }
      return `${system.infra.kafkaNodes} brokers stopped and started in turn`;
    }
    case 'consumer-kill':
    case 'consumer-term': {
      const signal = fault.kind === 'consumer-kill' ? 'SIGKILL' : 'SIGTERM';
      const code = await system.consumers.stop(fault.node, signal, describeFault(fault));
      await hold();
      await system.consumers.restart(fault.node);
      return `${signal}: exit ${String(code)}; restarted`;
    }
    case 'consumer-zombie': {
      system.consumers.signal(fault.node, 'SIGSTOP');
      await hold();
      system.consumers.signal(fault.node, 'SIGCONT');
      return `SIGSTOP ${fault.durationSeconds} s (session timeout 6 s), SIGCONT`;
    }
    case 'redis-primary-kill':
      return killRedisPrimary(system, fault, hold);
    case 'clickhouse-replica-kill': {
      const replica = `clickhouse-${fault.node}` as const;
      await system.services.kill(replica);
      await hold();
      await system.services.start(replica);
      return `${replica} SIGKILL, restarted`;
    }
    case 'zookeeper-pause': {
      await system.services.stop('zookeeper');
      await hold();
      await system.services.start('zookeeper');
      return 'ZooKeeper stopped, started';
    }
    case 'clickhouse-freeze': {
      system.clickhouseProxy.hold();
      await hold();
      system.clickhouseProxy.release();
      return 'network to ClickHouse frozen';
    }
    case 'kafka-freeze': {
      for (const proxy of system.kafkaProxies) proxy.hold();
      await hold();
      for (const proxy of system.kafkaProxies) proxy.release();
      return 'network to every broker frozen';
    }
    case 'partition-add': {
      const partitions = (await system.admin.endOffsets(system.topic)).size;
      await system.admin.createPartitions(system.topic, partitions + 3);
      return `partitions ${partitions} -> ${partitions + 3}`;
    }
  }
}

function nodeAt(nodes: readonly Redis[], index: number): Redis {
  const node = nodes[index];
  if (node === undefined) throw new Error(`no Redis node ${index + 1}`);
  return node;
}

/**
 * Kills the `node`-th primary (in address order), waits for its replica's promotion and the
 * fault's duration, restarts it, and heals once it is an in-sync replica again: only then may
 * the next Redis fault kill its new primary.
 */
async function killRedisPrimary(
  system: SoakSystem,
  fault: ScheduledFault,
  hold: () => Promise<void>,
): Promise<string> {
  const urls = system.infra.redisUrl.split(',');
  const addresses = urls.map((url) => new URL(url).host);
  const observers: Redis[] = urls.map((url) => {
    const { hostname, port } = new URL(url);
    const redis = new Redis(Number(port), hostname, { maxRetriesPerRequest: 1, lazyConnect: true });
    redis.on('error', () => undefined);
    return redis;
  });
  try {
    const primaries = (await clusterNodes(nodeAt(observers, 0)))
      .filter((node) => node.flags.includes('master') && node.slots && !node.flags.includes('fail'))
      .map((node) => node.address)
      .sort();
    const victim = primaries[(fault.node - 1) % primaries.length];
    const index = addresses.indexOf(victim ?? '');
    if (victim === undefined || index < 0) throw new Error(`no primary ${fault.node}`);
    const observer = nodeAt(observers, (index + 1) % observers.length);
    const service = `redis-${index + 1}` as const;
    await system.services.kill(service);
    const killed = Date.now();
    await waitFor(
      `a replica of ${victim} promoted`,
      async () => {
        const dead = (await clusterNodes(observer)).find((node) => node.address === victim);
        const info = await observer.cluster('INFO');
        return (
          dead !== undefined &&
          dead.flags.includes('fail') &&
          !dead.slots &&
          info.includes('cluster_state:ok')
        );
      },
      60_000,
      200,
    );
    const promoted = (Date.now() - killed) / 1000;
    await hold();
    await system.services.start(service);
    const restarted = nodeAt(observers, index);
    await waitFor(
      `${victim} in sync as a replica`,
      async () => {
        const info = await restarted.info('replication');
        return info.includes('role:slave') && info.includes('master_link_status:up');
      },
      60_000,
      200,
    );
    return `${service} (${victim}) SIGKILL; replica promoted after ${promoted.toFixed(1)} s; rejoined in sync`;
  } finally {
    for (const observer of observers) observer.disconnect();
  }
}
