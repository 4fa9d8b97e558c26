/**
 * The service's Prometheus metric names the load test reads (src/telemetry/metrics.ts), in
 * one place: a renamed metric is a one-line change here.
 */
export const SERVICE_METRICS = {
  endToEndLatency: 'offers_end_to_end_latency_seconds',
  scored: 'offers_scored_total',
  consumed: 'offers_messages_consumed_total',
  /** Label `reason`. */
  deadLettered: 'offers_dead_lettered_total',
  /** Label `sink`. */
  sinkRetries: 'offers_sink_retries_total',
  /** Labels `sink`, `retriable`. */
  sinkErrors: 'offers_sink_errors_total',
  /** Label `sink`; 0 after a failed write until one succeeds. */
  sinkUp: 'offers_sink_up',
  /** Labels `version`, `model_version`, `node_version`. */
  buildInfo: 'offers_build_info',
} as const;
