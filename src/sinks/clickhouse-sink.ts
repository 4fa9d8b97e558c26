import { createHash } from 'node:crypto';

import type { ClickHouseClient } from '@clickhouse/client';
import { SpanKind } from '@opentelemetry/api';

import type { ServiceConfig } from '../config/config.js';
import type { Logger } from '../telemetry/logger.js';
import { ATTR } from '../telemetry/semconv.js';
import { createClickHouseClient, toClickHouseFailure } from './clickhouse-client.js';
import { migrate } from './clickhouse-migration.js';
import { checkWritable } from './clickhouse-writable.js';
import type { StoredOffer } from './offer-record.js';
import type { RowOrigin, Sink, SinkSpan } from './sink.js';

export type { RowOrigin } from './sink.js';

export interface ClickHouseSinkOptions {
  /** `clickhouse` (the offers table) unless set: `clickhouse_shadow` for the shadow model's table. */
  readonly sinkName?: 'clickhouse' | 'clickhouse_shadow';
  readonly database: string;
  readonly table: string;
  /** How long a write waits for others to share its INSERT. 0 still merges writes of one tick. */
  readonly windowMs: number;
  /** An INSERT is sent at once when this many rows are waiting. */
  readonly maxRows: number;
  /** Send `insert_deduplication_token` (current ClickHouse; effective on replicated tables). */
  readonly deduplicationToken: boolean;
  /**
   * Non-empty: `table` is a Distributed table over replicated ones. Each write is then its
   * own INSERT, synchronous to every shard, so that a retried write is the same insert block.
   */
  readonly cluster: string;
  /** The user the service connects as, named in start-up failures. */
  readonly user?: string;
}

interface PendingWrite {
  readonly records: readonly StoredOffer[];
  readonly origin: RowOrigin;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Writes offers to ClickHouse in few, large INSERTs. Concurrent writes (one per partition
 * batch) that arrive within `windowMs` share one INSERT; each caller's promise settles
 * with that INSERT, so a caller commits its offsets only after its rows are stored.
 */
export class ClickHouseOfferSink implements Sink<StoredOffer> {
  readonly name: 'clickhouse' | 'clickhouse_shadow';
  readonly span: SinkSpan<StoredOffer>;
  readonly #client: ClickHouseClient;
  readonly #options: ClickHouseSinkOptions;
  readonly #settings: Record<string, 0 | 1>;
  readonly #prepare: (() => Promise<void>) | undefined;
  #pending: PendingWrite[] = [];
  #pendingRows = 0;
  #timer: NodeJS.Timeout | undefined;

  /** `prepare` runs first in every start-up check (a migration). */
  constructor(
    client: ClickHouseClient,
    options: ClickHouseSinkOptions,
    prepare?: () => Promise<void>,
  ) {
    this.#client = client;
    this.#options = options;
    this.#prepare = prepare;
    this.name = options.sinkName ?? 'clickhouse';
    this.span = {
      name: `INSERT ${options.table}`,
      kind: SpanKind.CLIENT,
      attributes: {
        [ATTR.dbSystem]: 'clickhouse',
        [ATTR.dbSystemName]: 'clickhouse',
        [ATTR.dbOperation]: 'INSERT',
        [ATTR.dbCollection]: options.table,
      },
      rowsOf: 'accepted',
    };
    // A Distributed insert returns once every shard stored its rows, so an acknowledged write
    // is in the replicated tables (not in a local queue that a crash of this node would lose).
    this.#settings = options.cluster === '' ? {} : { insert_distributed_sync: 1 };
  }

  write(records: readonly StoredOffer[], origin: RowOrigin): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    if (this.#options.cluster !== '') {
      // One chunk, one INSERT, rows in offset order: a retry (here or after a redelivery of the
      // same chunk) repeats the same block, which the replicated tables store once.
      return new Promise<void>((resolve, reject) => {
        void this.#insert([{ records, origin, resolve, reject }]);
      });
    }
    return new Promise<void>((resolve, reject) => {
      this.#pending.push({ records, origin, resolve, reject });
      this.#pendingRows += records.length;
      if (this.#pendingRows >= this.#options.maxRows) {
        this.#flush();
      } else {
        this.#timer ??= setTimeout(() => {
          this.#flush();
        }, this.#options.windowMs);
      }
    });
  }

  /** Sends what is waiting now, without waiting for the window to end. */
  flushNow(): void {
    this.#flush();
  }

  close(): Promise<void> {
    return this.#client.close();
  }

  /**
   * What writing needs, checked before the service reports ready: the server answers (a
   * wrong user or password fails for good, an unreachable server for now: start-up retries it
   * within its window), the table exists (retried: a migration may be running), it has every
   * column the service writes with a type it can take, and this user may insert into it
   * (an INSERT of no rows, which ClickHouse checks like any other).
   */
  async healthcheck(): Promise<void> {
    await this.#prepare?.();
    try {
      const result = await this.#client.query({ query: 'SELECT 1', format: 'JSONEachRow' });
      await result.json();
    } catch (error) {
      throw toClickHouseFailure(error, 'start-up check');
    }
    await checkWritable(this.#client, this.#options);
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const writes = this.#pending;
    if (writes.length === 0) return;
    this.#pending = [];
    this.#pendingRows = 0;
    void this.#insert(writes);
  }

  #insertSettings(writes: readonly PendingWrite[]): {
    clickhouse_settings?: Record<string, string | number>;
  } {
    const settings: Record<string, string | number> = { ...this.#settings };
    if (this.#options.deduplicationToken) {
      settings.insert_deduplication_token = deduplicationToken(writes);
    }
    return Object.keys(settings).length === 0 ? {} : { clickhouse_settings: settings };
  }

  async #insert(writes: readonly PendingWrite[]): Promise<void> {
    const { database, table } = this.#options;
    try {
      await this.#client.insert({
        table: `${database}.${table}`,
        format: 'JSONEachRow',
        values: writes.flatMap((write) => write.records.map((record) => record.json)),
        ...this.#insertSettings(writes),
      });
    } catch (error) {
      const failure = toClickHouseFailure(error, `insert into ${database}.${table}`);
      for (const write of writes) write.reject(failure);
      return;
    }
    for (const write of writes) write.resolve();
  }
}

/**
 * The same offset ranges always give the same token, so a retried INSERT of exactly those
 * rows is dropped by servers that deduplicate. A redelivery that merges with other
 * partitions' rows gets another token; ReplacingMergeTree still collapses its rows.
 */
export function deduplicationToken(writes: readonly { origin: RowOrigin }[]): string {
  const ranges = writes
    .map(
      ({ origin }) =>
        `${origin.topic}/${origin.partition}/${origin.firstOffset}-${origin.lastOffset}`,
    )
    .sort();
  return createHash('sha256').update(ranges.join(',')).digest('hex');
}

/**
 * The service's ClickHouse sink, on a client of its own. With CLICKHOUSE_CREATE_TABLE its
 * start-up check first brings the schema to the settings (`migrate`, as `serviceVersion`).
 * With `shadow`, the sink of the shadow model's table (`config.shadowTable`) instead.
 */
export function openClickHouseSink(
  config: ServiceConfig['clickhouse'],
  logger: Logger,
  serviceVersion: string,
  target: 'offers' | 'shadow' = 'offers',
): ClickHouseOfferSink {
  const client = createClickHouseClient(config, logger);
  const options =
    target === 'offers'
      ? config
      : { ...config, table: config.shadowTable, sinkName: 'clickhouse_shadow' as const };
  const prepare = async (): Promise<void> => {
    const migration = await migrate(client, options, { serviceVersion });
    logger.info(
      { table: options.table, applied: migration.applied, server: migration.server.text },
      'clickhouse table migrated',
    );
  };
  return new ClickHouseOfferSink(client, options, config.createTable ? prepare : undefined);
}
