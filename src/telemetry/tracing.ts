import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { pino } from 'pino';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';

import type { TracingConfig } from '../config/config.js';
import type { Logger } from './logger.js';

/** Spans handed to the exporter, and those it could not deliver (collector down, timeout). */
export interface TraceExportStats {
  exported: number;
  dropped: number;
}

export interface Tracing {
  readonly enabled: boolean;
  readonly stats: Readonly<TraceExportStats>;
  shutdown(): Promise<void>;
}

const WARNING_INTERVAL_MS = 60_000;

/**
 * Counts what the real exporter delivered or dropped, and warns (at most once a minute)
 * when the collector is unreachable. Export failures never reach the pipeline: the batch
 * processor drops the spans and the service carries on.
 */
class CountingExporter implements SpanExporter {
  readonly #inner: SpanExporter;
  readonly #stats: TraceExportStats;
  readonly #logger: Logger;
  #lastWarning = 0;

  constructor(inner: SpanExporter, stats: TraceExportStats, logger: Logger) {
    this.#inner = inner;
    this.#stats = stats;
    this.#logger = logger;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.#inner.export(spans, (result) => {
      if (result.code === ExportResultCode.SUCCESS) {
        this.#stats.exported += spans.length;
      } else {
        this.#stats.dropped += spans.length;
        const now = Date.now();
        if (now - this.#lastWarning >= WARNING_INTERVAL_MS) {
          this.#lastWarning = now;
          this.#logger.warn(
            {
              dropped: spans.length,
              droppedTotal: this.#stats.dropped,
              err: result.error?.message,
            },
            'trace export failed; spans dropped',
          );
        }
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.#inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.#inner.forceFlush?.() ?? Promise.resolve();
  }
}

function samplerOf(config: TracingConfig): Sampler {
  const ratio = new TraceIdRatioBasedSampler(config.samplerRatio);
  switch (config.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return ratio;
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: ratio });
  }
}

/**
 * The fields of one diagnostic's arguments: an Error as pino's `err` object (type, message,
 * stack as separate fields), anything else under `args` as it is.
 */
function diagnosticFields(args: readonly unknown[]): Record<string, unknown> {
  const fields: Record<string, unknown> = { component: 'opentelemetry' };
  const errors = args.filter((arg): arg is Error => arg instanceof Error);
  const others = args.filter((arg) => !(arg instanceof Error));
  if (errors.length > 0) fields.err = errors[0];
  if (errors.length > 1)
    fields.errors = errors.slice(1).map((error) => pino.stdSerializers.err(error));
  if (others.length > 0) fields.args = others;
  return fields;
}

/** OpenTelemetry's diagnostic logger as JSON lines of the service's logger. */
export function diagnosticsLogger(logger: Logger): DiagLogger {
  return {
    error: (message, ...args) => {
      logger.error(diagnosticFields(args), message);
    },
    warn: (message, ...args) => {
      logger.warn(diagnosticFields(args), message);
    },
    info: (message, ...args) => {
      logger.info(diagnosticFields(args), message);
    },
    debug: (message, ...args) => {
      logger.debug(diagnosticFields(args), message);
    },
    verbose: (message, ...args) => {
      logger.trace(diagnosticFields(args), message);
    },
  };
}

/**
 * Starts the OpenTelemetry SDK when tracing is configured. Call once, in the entry point,
 * before any work. No instrumentation patches libraries: the service writes its own spans
 * (see README, Tracing), so nothing depends on module load order.
 */
export function startTracing(config: TracingConfig, logger: Logger): Tracing {
  const stats: TraceExportStats = { exported: 0, dropped: 0 };
  if (!config.enabled) {
    return { enabled: false, stats, shutdown: () => Promise.resolve() };
  }
  // The SDK's own diagnostics go to our log, never to stderr in another format.
  diag.setLogger(diagnosticsLogger(logger), DiagLogLevel.WARN);
  const exporter: SpanExporter =
    config.exporter === 'console' ? new ConsoleSpanExporter() : new OTLPTraceExporter();
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': config.serviceName }),
    sampler: samplerOf(config),
    spanProcessors: [
      new BatchSpanProcessor(new CountingExporter(exporter, stats, logger), {
        scheduledDelayMillis: config.batch.scheduleDelayMillis,
        maxQueueSize: config.batch.maxQueueSize,
        maxExportBatchSize: config.batch.maxExportBatchSize,
        exportTimeoutMillis: config.batch.exportTimeoutMillis,
      }),
    ],
    instrumentations: [],
  });
  sdk.start();
  logger.info(
    { sampler: config.sampler, ratio: config.samplerRatio, exporter: config.exporter },
    'tracing started',
  );
  return {
    enabled: true,
    stats,
    shutdown: async () => {
      try {
        await sdk.shutdown();
      } catch (error) {
        logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          'tracing shutdown failed',
        );
      }
    },
  };
}
