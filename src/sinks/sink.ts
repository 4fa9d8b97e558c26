import type { SinkName } from '../telemetry/metrics.js';

export type { SinkName };

/** Where a write's rows came from: one chunk of one partition. */
export interface RowOrigin {
  readonly topic: string;
  readonly partition: number;
  readonly firstOffset: string;
  readonly lastOffset: string;
}

/**
 * Every output of the pipeline (ClickHouse, Redis, the dead-letter topic) owns its client,
 * classifies its own errors and checks itself at start.
 */
export interface Sink<Row> {
  readonly name: SinkName;
  /** Resolves once stored; rejects with an OfferError whose `retriable` says whether waiting helps. */
  write(rows: readonly Row[], origin: RowOrigin): Promise<void>;
  /**
   * Run once before the service consumes: throws when the sink cannot work at all (wrong
   * credentials, missing topic); a sink that is merely unreachable may let writes retry.
   */
  healthcheck(): Promise<void>;
}
