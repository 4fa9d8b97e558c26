import type { Attributes, SpanKind } from '@opentelemetry/api';

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
 * How a sink's write shows in the trace of each message it stores: a child span of the
 * message's span, named and filled by the sink (as a database client names its own spans).
 */
export interface SinkSpan<Row> {
  readonly name: string;
  readonly kind: SpanKind;
  readonly attributes: Attributes;
  /**
   * Which messages of a chunk the rows line up with, one row each and in order: offers
   * with the accepted messages, dead letters with the rejected ones.
   */
  readonly rowsOf: 'accepted' | 'rejected';
  /** What one row adds to its message's span (e.g. the key it was written to). */
  readonly rowAttributes?: (row: Row) => Attributes;
}

/**
 * Every output of the pipeline (ClickHouse, Redis, the dead-letter topic) owns its client,
 * classifies its own errors, checks itself at start and describes its spans.
 */
export interface Sink<Row> {
  readonly name: SinkName;
  readonly span: SinkSpan<Row>;
  /** Resolves once stored; rejects with an OfferError whose `retriable` says whether waiting helps. */
  write(rows: readonly Row[], origin: RowOrigin): Promise<void>;
  /**
   * Run once before the service consumes: throws when the sink cannot work at all (wrong
   * credentials, missing topic); a sink that is merely unreachable may let writes retry.
   */
  healthcheck(): Promise<void>;
}
