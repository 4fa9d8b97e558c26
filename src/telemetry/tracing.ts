import { diag, DiagLogLevel } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
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
  diag.setLogger(
    {
      error: (message) => {
        logger.error({ component: 'opentelemetry' }, message);
      },
      warn: (message) => {
        logger.warn({ component: 'opentelemetry' }, message);
      },
      info: () => undefined,
      debug: () => undefined,
      verbose: () => undefined,
    },
    DiagLogLevel.WARN,
  );
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
