// Real local services (Kafka in KRaft mode, Redis, ClickHouse) for integration tests, managed by
// scripts/infra/*.sh. The services run detached, so they outlive a test file: the next file's
// startInfra() finds them up and returns in a fraction of a second. Stop them with stopInfra()
// or `scripts/infra/down.sh` (same INFRA_DIR).
//
// State dir: $INFRA_DIR if set (the Makefile and .ci/run set it), else <repo>/.infra/test.
// INFRA_KAFKA_NODES=N in the environment of the first start of a state dir makes Kafka an N-node
// cluster (services kafka-1 .. kafka-N); see scripts/infra/lib.sh. The Redis Cluster tests use
// a state dir of their own, <INFRA_DIR>-redis-cluster (startRedisClusterInfra).
import { join, resolve } from 'node:path';

import { LocalInfra, readEnvVars } from '../../tools/dev/infra.js';
import { parseEnvFile } from '../../tools/dev/local-env.js';
import { REPO_ROOT } from '../../tools/dev/paths.js';

export { parseEnvFile };

/**
 * A service of scripts/infra/service.sh. `kafka` is every Kafka node; `kafka-2` is node 2 of a
 * cluster started with INFRA_KAFKA_NODES (with a single node, `kafka-1` is `kafka`).
 */
export type ServiceName =
  | 'kafka'
  | `kafka-${number}`
  | 'redis'
  | `redis-${number}`
  | 'clickhouse'
  | `clickhouse-${number}`
  | 'zookeeper';

/**
 * One Kafka node's PROXIED listener: it listens on `target` but advertises `advertised`, where
 * nothing listens until a test starts a TCP proxy there forwarding to `target`. Clients that
 * bootstrap from the advertised addresses stay on the proxies (Metadata names them).
 */
export interface ProxiedBroker {
  advertised: string;
  target: string;
}

export interface InfraEnv {
  kafkaBrokers: string[];
  /** Number of Kafka nodes (INFRA_KAFKA_NODES of the state dir). */
  kafkaNodes: number;
  /** Per Kafka node, in node order; empty for services started by older scripts. */
  proxiedBrokers: ProxiedBroker[];
  redisUrl: string;
  clickhouseUrl: string;
  clickhouseUser: string;
  clickhousePassword: string;
  /** Absolute state dir of these services. */
  dir: string;
  /** Every KEY=VALUE of $dir/env (KAFKA_BROKERS, REDIS_URL, CLICKHOUSE_URL, ...). */
  vars: Record<string, string>;
}

/** The state dir used by this process: $INFRA_DIR, else <repo>/.infra/test. */
export function infraDir(): string {
  const fromEnv = process.env.INFRA_DIR;
  return fromEnv !== undefined && fromEnv !== ''
    ? resolve(fromEnv)
    : join(REPO_ROOT, '.infra', 'test');
}

/**
 * The state dir of the Redis Cluster tests: <INFRA_DIR>-redis-cluster. The integration tests
 * start it and leave it running; the cluster fault suite reuses it and takes it down.
 */
export const REDIS_CLUSTER_INFRA_DIR =
  process.env.REDIS_CLUSTER_INFRA_DIR ?? `${infraDir()}-redis-cluster`;

function required(vars: Record<string, string>, key: string, file: string): string {
  const value = vars[key];
  if (value === undefined || value === '') throw new Error(`${file} has no ${key}`);
  return value;
}

function addressList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((address) => address.trim())
    .filter((address) => address !== '');
}

function proxiedBrokers(vars: Record<string, string>, file: string): ProxiedBroker[] {
  const advertised = addressList(vars.KAFKA_PROXIED_BROKERS);
  const targets = addressList(vars.KAFKA_PROXIED_TARGETS);
  if (advertised.length !== targets.length) {
    throw new Error(`${file}: KAFKA_PROXIED_BROKERS and KAFKA_PROXIED_TARGETS differ in length`);
  }
  return advertised.map((address, i) => ({ advertised: address, target: targets[i] ?? '' }));
}

/** Reads $dir/env written by scripts/infra/up.sh (does not start anything). */
export async function readInfraEnv(dir: string = infraDir()): Promise<InfraEnv> {
  const file = join(dir, 'env');
  const vars = await readEnvVars(dir);
  const kafkaNodes = Number(vars.KAFKA_NODES ?? '1');
  if (!Number.isInteger(kafkaNodes) || kafkaNodes < 1) {
    throw new Error(`${file}: bad KAFKA_NODES ${vars.KAFKA_NODES ?? ''}`);
  }
  return {
    kafkaBrokers: addressList(required(vars, 'KAFKA_BROKERS', file)),
    kafkaNodes,
    proxiedBrokers: proxiedBrokers(vars, file),
    redisUrl: required(vars, 'REDIS_URL', file),
    clickhouseUrl: required(vars, 'CLICKHOUSE_URL', file),
    clickhouseUser: vars.CLICKHOUSE_USER ?? 'default',
    clickhousePassword: vars.CLICKHOUSE_PASSWORD ?? '',
    dir,
    vars,
  };
}

/**
 * The services of one state dir (scripts/infra): `up` starts them and returns their addresses;
 * `kill`, `stop` and `start` crash, stop and restart one of them.
 */
export class Services extends LocalInfra<ServiceName> {
  async up(): Promise<InfraEnv> {
    await this.upVars();
    return readInfraEnv(this.dir);
  }
}

let starting: Promise<InfraEnv> | undefined;

/**
 * Makes sure Kafka, Redis and ClickHouse are up in infraDir() and returns their addresses.
 * Installs what is missing and starts what is not running (a stopped service comes back on its
 * old port); fast (~0.2 s) when everything is already up.
 */
export function startInfra(): Promise<InfraEnv> {
  starting ??= new Services(infraDir()).up().finally(() => {
    starting = undefined;
  });
  return starting;
}

/**
 * Kafka, ClickHouse and a Redis Cluster of 3 primaries + 3 replicas (INFRA_REDIS_MODE=cluster)
 * in REDIS_CLUSTER_INFRA_DIR; returns once every primary has an in-sync replica.
 */
export function startRedisClusterInfra(): Promise<InfraEnv> {
  return new Services(REDIS_CLUSTER_INFRA_DIR, { INFRA_REDIS_MODE: 'cluster' }).up();
}

/**
 * The state dir of the ClickHouse cluster tests: <INFRA_DIR>-clickhouse-cluster. The
 * integration tests start it and leave it running; the cluster fault suite reuses it and takes
 * it down.
 */
export const CLICKHOUSE_CLUSTER_INFRA_DIR =
  process.env.CLICKHOUSE_CLUSTER_INFRA_DIR ?? `${infraDir()}-clickhouse-cluster`;

/**
 * Kafka, Redis, ZooKeeper and ClickHouse as 2 shards x 2 replicas (INFRA_CLICKHOUSE_MODE=cluster)
 * in CLICKHOUSE_CLUSTER_INFRA_DIR.
 */
export function startClickHouseClusterInfra(): Promise<InfraEnv> {
  return new Services(CLICKHOUSE_CLUSTER_INFRA_DIR, { INFRA_CLICKHOUSE_MODE: 'cluster' }).up();
}

/**
 * Stops one service (SIGTERM, then SIGKILL); its port and data dir are kept for startService.
 * `kafka` stops every Kafka node, `kafka-2` node 2 only.
 */
export async function stopService(name: ServiceName): Promise<void> {
  await new Services(infraDir()).stop(name);
}

/**
 * Starts one service again on its previous port and waits until it answers (no-op if running);
 * a Kafka node: until it is back among the cluster's brokers. `kafka` starts every node.
 */
export async function startService(name: ServiceName): Promise<void> {
  await new Services(infraDir()).start(name);
}

/** Stops every service and deletes their data (scripts/infra/down.sh). */
export async function stopInfra(): Promise<void> {
  await new Services(infraDir()).down();
}
