/**
 * The load test's public surface: what other tools (the pipeline benchmark) build on. The
 * command itself is main.ts.
 */
export { selfTime, type CpuProfile, type SelfTimeReport } from './cpu-profile.js';
export { LoadGenerator, type GeneratorOptions, type SentBatch } from './generator.js';
export { groupPosition, type GroupPosition } from './lag.js';
export { runReport } from './load-plan.js';
export { runLoad, type LoadRunResult } from './load-run.js';
export {
  compileService,
  LocalConsumer,
  servicePids,
  startLocalServices,
  type ServiceEndpoints,
} from './local-services.js';
export { MetricsScraper } from './metrics-scraper.js';
export { defaultFirstUserId, defaultOutDir } from './options.js';
export { metricSum, parsePrometheusText } from './prometheus-text.js';
export {
  clockTicksPerSecond,
  cpuPercent,
  machineInfo,
  ProcessMeter,
  readMemory,
  readSystemBusyTicks,
  readThreadTimes,
  threadCpuPercent,
  type MachineInfo,
  type WatchedProcess,
} from './proc-stats.js';
export type { LoadReport, LoadSettings } from './report-model.js';
