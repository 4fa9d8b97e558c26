// The soak's fault schedule: drawn from a seed, so the same seed gives the same faults at the
// same times. Pure: what a fault does to the running processes is in faults.ts.
import { seededRandom } from '../../src/cli/registration-generator.js';

/** Every kind of fault the soak injects. */
export const FAULT_KINDS = [
  'broker-kill',
  'broker-rolling-restart',
  'consumer-kill',
  'consumer-term',
  'consumer-zombie',
  'redis-primary-kill',
  'clickhouse-replica-kill',
  'zookeeper-pause',
  'clickhouse-freeze',
  'kafka-freeze',
  'partition-add',
] as const;

export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * What a fault acts on. Two faults on the same target never run at once (a broker killed
 * during a rolling restart would take the quorum away, not test anything more); faults on
 * different targets overlap freely: a network freeze or a partition added during a broker
 * restart, ZooKeeper stopped while a replica is down.
 */
export type FaultTarget =
  | 'kafka'
  | 'kafka-network'
  | 'kafka-topic'
  | 'redis'
  | 'clickhouse'
  | 'clickhouse-network'
  | 'zookeeper'
  | `consumer-${number}`;

export interface ScheduledFault {
  readonly kind: FaultKind;
  /** Seconds after the start of the load. */
  readonly atSeconds: number;
  /** How long the fault lasts before it is healed (0 for one-off actions). */
  readonly durationSeconds: number;
  readonly target: FaultTarget;
  /** Which broker, Redis primary, ClickHouse replica or consumer (1-based), where it applies. */
  readonly node: number;
}

export interface ScheduleOptions {
  readonly seed: number;
  readonly durationSeconds: number;
  /** Consumers the consumer faults choose from. */
  readonly consumers: number;
  /** Seconds at the start without faults (the group settles) and at the end (the drain). */
  readonly quietStartSeconds?: number;
  readonly quietEndSeconds?: number;
  /** Mean seconds between fault starts; default a fifteenth of the run, within 10..25 s. */
  readonly meanGapSeconds?: number;
}

/** The generator the producer's users come from (mulberry32), re-exported for the tests. */
export { seededRandom };

const BROKERS = 3;
const REDIS_PRIMARIES = 3;
const CLICKHOUSE_REPLICAS = 4;

/** Duration range (seconds) and target of each kind. */
const SHAPES: Readonly<
  Record<
    FaultKind,
    {
      min: number;
      max: number;
      target: Exclude<FaultTarget, `consumer-${number}`> | 'consumer';
      nodes: number;
    }
  >
> = {
  'broker-kill': { min: 5, max: 30, target: 'kafka', nodes: BROKERS },
  'broker-rolling-restart': { min: 0, max: 0, target: 'kafka', nodes: BROKERS },
  'consumer-kill': { min: 3, max: 20, target: 'consumer', nodes: 0 },
  'consumer-term': { min: 3, max: 20, target: 'consumer', nodes: 0 },
  // Past the suites' session timeout (6 s): the group moves the sleeper's partitions.
  'consumer-zombie': { min: 12, max: 30, target: 'consumer', nodes: 0 },
  'redis-primary-kill': { min: 5, max: 30, target: 'redis', nodes: REDIS_PRIMARIES },
  'clickhouse-replica-kill': { min: 5, max: 40, target: 'clickhouse', nodes: CLICKHOUSE_REPLICAS },
  'zookeeper-pause': { min: 5, max: 20, target: 'zookeeper', nodes: 1 },
  'clickhouse-freeze': { min: 3, max: 15, target: 'clickhouse-network', nodes: 1 },
  'kafka-freeze': { min: 3, max: 15, target: 'kafka-network', nodes: 1 },
  'partition-add': { min: 0, max: 0, target: 'kafka-topic', nodes: 1 },
};

/** Partitions may be added this many times at most (each adds to every consumer's share). */
const MAX_PARTITION_ADDS = 2;

/**
 * The faults of one run, in start order. Each kind is drawn in turns (a shuffled round of all
 * kinds, then the next round), so a long run holds every kind and a short one a varied subset.
 */
export function drawSchedule(options: ScheduleOptions): ScheduledFault[] {
  const random = seededRandom(options.seed);
  const quietStart = options.quietStartSeconds ?? 20;
  const quietEnd = options.quietEndSeconds ?? 30;
  const meanGap =
    options.meanGapSeconds ?? Math.min(25, Math.max(10, options.durationSeconds / 15));
  const lastStart = options.durationSeconds - quietEnd;
  const between = (min: number, max: number): number =>
    min + Math.floor(random() * (max - min + 1));
  const faults: ScheduledFault[] = [];
  let round: FaultKind[] = [];
  let partitionAdds = 0;
  let at = Math.round(quietStart + random() * meanGap);
  while (at < lastStart) {
    if (round.length === 0) round = shuffled([...FAULT_KINDS], random);
    const [kind, ...rest] = round;
    round = rest;
    if (kind === undefined) continue;
    if (kind === 'partition-add' && (partitionAdds += 1) > MAX_PARTITION_ADDS) continue;
    const shape = SHAPES[kind];
    const node =
      shape.target === 'consumer' ? between(1, options.consumers) : between(1, shape.nodes);
    // A fault is healed before the quiet end, so the drain starts from a whole system.
    const duration = Math.min(between(shape.min, shape.max), Math.max(0, lastStart - at));
    faults.push({
      kind,
      atSeconds: at,
      durationSeconds: duration,
      target: shape.target === 'consumer' ? `consumer-${node}` : shape.target,
      node,
    });
    // Gaps from 0.4 to 1.6 times the mean: a steady count of faults per run, while a fault
    // lasting longer than the next gap overlaps the next one.
    at += Math.round(meanGap * (0.4 + 1.2 * random()));
  }
  return faults;
}

function shuffled<T>(items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i -= 1) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}

/** One line per fault, for the report. */
export function describeFault(fault: ScheduledFault): string {
  const what: Partial<Record<FaultKind, string>> = {
    'broker-kill': `kafka-${fault.node}`,
    'redis-primary-kill': `primary ${fault.node} of 3`,
    'clickhouse-replica-kill': `clickhouse-${fault.node}`,
  };
  return `${fault.kind} (${what[fault.kind] ?? fault.target}) at ${fault.atSeconds} s for ${fault.durationSeconds} s`;
}
