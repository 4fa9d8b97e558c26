import { parseQuantity } from './quantity.js';

/**
 * Turns what the Kubernetes API answers about the service (its Deployment, the HPA that
 * KEDA manages, the ScaledObject and the pods) into one flat sample per second, and a list
 * of scaling events over a run. Pure: the inputs are the API's JSON objects, so the logic
 * is tested against recorded responses without a cluster.
 *
 * The input types below are the few fields read, written structurally so that both raw
 * JSON and @kubernetes/client-node's deserialised objects (whose timestamps are `Date`s)
 * fit them.
 */

type Timestamp = string | Date | undefined | null;

interface Condition {
  readonly type?: string;
  readonly status?: string;
  readonly reason?: string;
  readonly message?: string;
}

export interface DeploymentLike {
  readonly metadata?: { readonly name?: string };
  readonly spec?: {
    readonly replicas?: number;
    readonly selector?: { readonly matchLabels?: Readonly<Record<string, string>> };
  };
  readonly status?: {
    readonly replicas?: number;
    readonly readyReplicas?: number;
    readonly availableReplicas?: number;
    readonly updatedReplicas?: number;
  };
}

interface MetricIdentifier {
  readonly name?: string;
}

interface MetricValue {
  readonly value?: string | number;
  readonly averageValue?: string | number;
  readonly averageUtilization?: number;
}

interface MetricSpecLike {
  readonly type?: string;
  readonly external?: { readonly metric?: MetricIdentifier; readonly target?: MetricValue };
  readonly resource?: { readonly name?: string; readonly target?: MetricValue };
}

interface MetricStatusLike {
  readonly type?: string;
  readonly external?: { readonly metric?: MetricIdentifier; readonly current?: MetricValue };
  readonly resource?: { readonly name?: string; readonly current?: MetricValue };
}

export interface HorizontalPodAutoscalerLike {
  readonly metadata?: { readonly name?: string };
  readonly spec?: {
    readonly minReplicas?: number;
    readonly maxReplicas?: number;
    readonly metrics?: readonly MetricSpecLike[];
  };
  readonly status?: {
    readonly currentReplicas?: number;
    readonly desiredReplicas?: number;
    readonly lastScaleTime?: Timestamp;
    readonly currentMetrics?: readonly MetricStatusLike[] | null;
    readonly conditions?: readonly Condition[];
  };
}

export interface ScaledObjectLike {
  readonly metadata?: { readonly name?: string };
  readonly spec?: { readonly minReplicaCount?: number; readonly maxReplicaCount?: number };
  readonly status?: {
    readonly hpaName?: string;
    readonly lastActiveTime?: Timestamp;
    readonly conditions?: readonly Condition[];
  };
}

export interface PodLike {
  readonly metadata?: {
    readonly name?: string;
    readonly creationTimestamp?: Timestamp;
    readonly deletionTimestamp?: Timestamp;
  };
  readonly status?: {
    readonly phase?: string;
    readonly conditions?: readonly Condition[];
    readonly containerStatuses?: readonly {
      readonly ready?: boolean;
      readonly restartCount?: number;
    }[];
  };
}

export interface ClusterSnapshot {
  /** Wall clock of the reading, ms since the epoch. */
  readonly atMs: number;
  readonly deployment?: DeploymentLike | undefined;
  readonly hpa?: HorizontalPodAutoscalerLike | undefined;
  readonly scaledObject?: ScaledObjectLike | undefined;
  readonly pods?: readonly PodLike[] | undefined;
  /** API errors of this reading, by object ("hpa: not found"). */
  readonly errors?: readonly string[];
}

export interface PodState {
  readonly name: string;
  readonly phase: string;
  readonly ready: boolean;
  readonly restarts: number;
  /** Being deleted (scale-down): still listed, no longer counted. */
  readonly terminating: boolean;
  readonly createdAtMs: number | null;
}

export interface HpaMetric {
  /** `s0-kafka-<topic>` for KEDA's Kafka trigger, or the resource name. */
  readonly name: string;
  readonly current: number | null;
  readonly target: number | null;
}

export interface ClusterSample {
  readonly atMs: number;
  /** Replicas the Deployment asks for (what KEDA's HPA last set). */
  readonly specReplicas: number | null;
  readonly replicas: number;
  readonly readyReplicas: number;
  readonly availableReplicas: number;
  readonly hpa: {
    readonly name: string;
    readonly currentReplicas: number | null;
    readonly desiredReplicas: number | null;
    readonly minReplicas: number | null;
    readonly maxReplicas: number | null;
    readonly metrics: readonly HpaMetric[];
    readonly scalingLimited: boolean | null;
  } | null;
  readonly scaledObject: {
    readonly name: string;
    readonly ready: boolean | null;
    /** KEDA's Active condition: a trigger is above its activation threshold. */
    readonly active: boolean | null;
    readonly fallback: boolean | null;
    readonly paused: boolean | null;
    readonly hpaName: string | null;
  } | null;
  readonly pods: readonly PodState[];
  /** Ready pods that are not terminating. */
  readonly podsReady: number;
  readonly errors: readonly string[];
}

function timeMs(value: Timestamp): number | null {
  if (value === undefined || value === null) return null;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

function conditionOf(conditions: readonly Condition[] | undefined, type: string): boolean | null {
  const condition = conditions?.find((entry) => entry.type === type);
  if (condition?.status === undefined) return null;
  return condition.status === 'True';
}

function metricValue(value: MetricValue | undefined): number | null {
  if (value === undefined) return null;
  return (
    parseQuantity(value.averageValue) ??
    parseQuantity(value.value) ??
    value.averageUtilization ??
    null
  );
}

function metricName(entry: MetricSpecLike | MetricStatusLike): string {
  return entry.external?.metric?.name ?? entry.resource?.name ?? entry.type ?? 'unknown';
}

function hpaMetrics(hpa: HorizontalPodAutoscalerLike): HpaMetric[] {
  const targets = new Map<string, number | null>();
  for (const spec of hpa.spec?.metrics ?? []) {
    targets.set(metricName(spec), metricValue(spec.external?.target ?? spec.resource?.target));
  }
  const metrics: HpaMetric[] = [];
  const seen = new Set<string>();
  for (const status of hpa.status?.currentMetrics ?? []) {
    const name = metricName(status);
    seen.add(name);
    metrics.push({
      name,
      current: metricValue(status.external?.current ?? status.resource?.current),
      target: targets.get(name) ?? null,
    });
  }
  // A metric the HPA could not read yet has a target but no current value.
  for (const [name, target] of targets) {
    if (!seen.has(name)) metrics.push({ name, current: null, target });
  }
  return metrics;
}

export function podState(pod: PodLike): PodState {
  const containers = pod.status?.containerStatuses ?? [];
  return {
    name: pod.metadata?.name ?? 'unknown',
    phase: pod.status?.phase ?? 'Unknown',
    ready: conditionOf(pod.status?.conditions, 'Ready') === true,
    restarts: containers.reduce((sum, container) => sum + (container.restartCount ?? 0), 0),
    terminating: timeMs(pod.metadata?.deletionTimestamp) !== null,
    createdAtMs: timeMs(pod.metadata?.creationTimestamp),
  };
}

export function reduceClusterStatus(snapshot: ClusterSnapshot): ClusterSample {
  const { deployment, hpa, scaledObject } = snapshot;
  const pods = (snapshot.pods ?? []).map(podState).sort((a, b) => a.name.localeCompare(b.name));
  return {
    atMs: snapshot.atMs,
    specReplicas: deployment?.spec?.replicas ?? null,
    replicas: deployment?.status?.replicas ?? 0,
    readyReplicas: deployment?.status?.readyReplicas ?? 0,
    availableReplicas: deployment?.status?.availableReplicas ?? 0,
    hpa:
      hpa === undefined
        ? null
        : {
            name: hpa.metadata?.name ?? 'unknown',
            currentReplicas: hpa.status?.currentReplicas ?? null,
            desiredReplicas: hpa.status?.desiredReplicas ?? null,
            minReplicas: hpa.spec?.minReplicas ?? null,
            maxReplicas: hpa.spec?.maxReplicas ?? null,
            metrics: hpaMetrics(hpa),
            scalingLimited: conditionOf(hpa.status?.conditions, 'ScalingLimited'),
          },
    scaledObject:
      scaledObject === undefined
        ? null
        : {
            name: scaledObject.metadata?.name ?? 'unknown',
            ready: conditionOf(scaledObject.status?.conditions, 'Ready'),
            active: conditionOf(scaledObject.status?.conditions, 'Active'),
            fallback: conditionOf(scaledObject.status?.conditions, 'Fallback'),
            paused: conditionOf(scaledObject.status?.conditions, 'Paused'),
            hpaName: scaledObject.status?.hpaName ?? null,
          },
    pods,
    podsReady: pods.filter((pod) => pod.ready && !pod.terminating).length,
    errors: snapshot.errors ?? [],
  };
}

/** The HPA KEDA created for a ScaledObject: named in its status, else KEDA's naming rule. */
export function hpaNameFor(scaledObjectName: string, scaledObject?: ScaledObjectLike): string {
  return scaledObject?.status?.hpaName ?? `keda-hpa-${scaledObjectName}`;
}

export type ScalingEvent =
  | {
      readonly atMs: number;
      readonly kind: 'desired';
      readonly from: number | null;
      readonly to: number | null;
      /** The HPA's metrics at that moment, e.g. "s0-kafka-offers 4.2k/1k". */
      readonly metrics: string;
    }
  | { readonly atMs: number; readonly kind: 'ready'; readonly from: number; readonly to: number }
  | { readonly atMs: number; readonly kind: 'active'; readonly to: boolean | null }
  | {
      readonly atMs: number;
      readonly kind: 'pod-ready';
      readonly pod: string;
      /** From the pod's creation (or first sighting) to its first Ready. */
      readonly seconds: number;
    }
  | { readonly atMs: number; readonly kind: 'pod-gone'; readonly pod: string };

function formatNumber(value: number | null): string {
  if (value === null) return '?';
  if (Math.abs(value) >= 1000) return `${Number((value / 1000).toFixed(1))}k`;
  return String(Math.round(value * 100) / 100);
}

export function describeMetrics(sample: ClusterSample): string {
  return (sample.hpa?.metrics ?? [])
    .map(
      (metric) => `${metric.name} ${formatNumber(metric.current)}/${formatNumber(metric.target)}`,
    )
    .join(', ');
}

/**
 * What changed between successive samples: the replica count asked for (KEDA/HPA
 * decisions), ready replicas, the ScaledObject's Active condition, and each pod's time from
 * creation to Ready.
 */
export function scalingEvents(samples: readonly ClusterSample[]): ScalingEvent[] {
  const events: ScalingEvent[] = [];
  const firstSeen = new Map<string, number>();
  const readySeen = new Set<string>();
  let previous: ClusterSample | undefined;
  for (const sample of samples) {
    const desired = sample.specReplicas;
    if (previous !== undefined) {
      if (desired !== previous.specReplicas) {
        events.push({
          atMs: sample.atMs,
          kind: 'desired',
          from: previous.specReplicas,
          to: desired,
          metrics: describeMetrics(sample),
        });
      }
      if (sample.readyReplicas !== previous.readyReplicas) {
        events.push({
          atMs: sample.atMs,
          kind: 'ready',
          from: previous.readyReplicas,
          to: sample.readyReplicas,
        });
      }
      const wasActive = previous.scaledObject?.active ?? null;
      const isActive = sample.scaledObject?.active ?? null;
      if (wasActive !== isActive) events.push({ atMs: sample.atMs, kind: 'active', to: isActive });
      const names = new Set(sample.pods.map((pod) => pod.name));
      for (const pod of previous.pods) {
        if (!names.has(pod.name))
          events.push({ atMs: sample.atMs, kind: 'pod-gone', pod: pod.name });
      }
    }
    for (const pod of sample.pods) {
      if (!firstSeen.has(pod.name)) firstSeen.set(pod.name, pod.createdAtMs ?? sample.atMs);
      // Pods that were ready in the very first sample were not started by this run.
      if (pod.ready && !readySeen.has(pod.name)) {
        readySeen.add(pod.name);
        if (previous !== undefined) {
          const since = firstSeen.get(pod.name) ?? sample.atMs;
          events.push({
            atMs: sample.atMs,
            kind: 'pod-ready',
            pod: pod.name,
            seconds: Math.max(0, (sample.atMs - since) / 1000),
          });
        }
      }
    }
    previous = sample;
  }
  return events;
}
