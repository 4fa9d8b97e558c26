import type {
  V1Deployment,
  V1EnvFromSource,
  V1EnvVar,
  V1LocalObjectReference,
  V1PodSecurityContext,
  V1SecurityContext,
  V1Toleration,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';

/**
 * The load generator's Job, derived from the service's Deployment: the load test's image of
 * the same version, the same environment (Kafka, Redis and ClickHouse addresses, secrets by
 * reference), security context and volumes, so the generator reaches exactly what the
 * consumers use and runs under the same policies. Pure, so the manifest is unit-tested.
 */

export interface LoadTestJobOptions {
  readonly name: string;
  readonly namespace: string;
  /** Arguments after the command, e.g. `--mode generate --rate 20000 --duration 120`. */
  readonly args: readonly string[];
  /** The load test's image; derived from the Deployment's by default (loadTestImage). */
  readonly image?: string;
  /** Container of the Deployment to copy; the first one by default. */
  readonly containerName?: string;
  /** Undefined: the image's entrypoint. */
  readonly command?: readonly string[] | undefined;
  /** The Job is failed after this long, whatever happens. */
  readonly activeDeadlineSeconds: number;
  /** The finished Job (and its pod and logs) is deleted by Kubernetes after this long. */
  readonly ttlSecondsAfterFinished: number;
  readonly cpuRequest: string;
  readonly memoryRequest: string;
  readonly memoryLimit: string;
  /** Variables set on top of the Deployment's (e.g. a producer's Kafka credentials). */
  readonly extraEnv?: Readonly<Record<string, string>>;
}

export const LOAD_TEST_COMPONENT = 'load-test';

// The manifest as plain JSON (what the API takes); parts copied from the Deployment keep
// the client's types.
/** A variable copied from the Deployment, or one set by the load test. */
export type EnvEntry = V1EnvVar | { readonly name: string; readonly value: string };

export interface ContainerManifest {
  readonly name: string;
  readonly image: string;
  readonly imagePullPolicy?: string;
  readonly command?: string[];
  readonly args: string[];
  readonly env?: EnvEntry[];
  readonly envFrom?: V1EnvFromSource[];
  readonly volumeMounts?: V1VolumeMount[];
  readonly securityContext?: V1SecurityContext;
  readonly resources: {
    readonly requests: Record<string, string>;
    readonly limits: Record<string, string>;
  };
}

export interface JobManifest {
  readonly apiVersion: 'batch/v1';
  readonly kind: 'Job';
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly labels: Record<string, string>;
  };
  readonly spec: {
    readonly backoffLimit: number;
    readonly activeDeadlineSeconds: number;
    readonly ttlSecondsAfterFinished: number;
    readonly template: {
      readonly metadata: { readonly labels: Record<string, string> };
      readonly spec: {
        readonly restartPolicy: 'Never';
        readonly automountServiceAccountToken: boolean;
        readonly containers: ContainerManifest[];
        readonly securityContext?: V1PodSecurityContext;
        readonly volumes?: V1Volume[];
        readonly imagePullSecrets?: V1LocalObjectReference[];
        readonly nodeSelector?: Record<string, string>;
        readonly tolerations?: V1Toleration[];
      };
    };
  };
}

export function loadTestJob(deployment: V1Deployment, options: LoadTestJobOptions): JobManifest {
  const podSpec = deployment.spec?.template.spec;
  const containers = podSpec?.containers ?? [];
  const source =
    (options.containerName === undefined
      ? containers[0]
      : containers.find((container) => container.name === options.containerName)) ?? undefined;
  if (source === undefined) {
    throw new Error(
      `deployment ${deployment.metadata?.name ?? '?'} has no container${options.containerName === undefined ? '' : ` named ${options.containerName}`}`,
    );
  }
  const image =
    options.image ??
    (source.image === undefined || source.image === '' ? undefined : loadTestImage(source.image));
  if (image === undefined) throw new Error('no image for the load-test Job: pass --image');
  const partOf = deployment.metadata?.labels?.['app.kubernetes.io/instance'];
  const labels: Record<string, string> = {
    // Deliberately not the Deployment's pod labels: its Service, PodDisruptionBudget and
    // the readiness count of this tool would otherwise select the generator pod.
    'app.kubernetes.io/name': 'realtime-offers-load-test',
    'app.kubernetes.io/component': LOAD_TEST_COMPONENT,
    'app.kubernetes.io/managed-by': 'realtime-offers-load-test',
    ...(partOf === undefined ? {} : { 'app.kubernetes.io/part-of': partOf }),
  };
  const extra = Object.entries(options.extraEnv ?? {});
  const env: EnvEntry[] = [
    ...(source.env ?? []).filter((entry) => !extra.some(([name]) => name === entry.name)),
    ...extra.map(([name, value]) => ({ name, value })),
  ];
  const container: ContainerManifest = {
    name: 'load-test',
    image,
    ...(source.imagePullPolicy === undefined ? {} : { imagePullPolicy: source.imagePullPolicy }),
    ...(options.command === undefined ? {} : { command: [...options.command] }),
    args: [...options.args],
    ...(env.length === 0 ? {} : { env }),
    ...(source.envFrom === undefined ? {} : { envFrom: source.envFrom }),
    ...(source.volumeMounts === undefined ? {} : { volumeMounts: source.volumeMounts }),
    ...(source.securityContext === undefined ? {} : { securityContext: source.securityContext }),
    resources: {
      requests: { cpu: options.cpuRequest, memory: options.memoryRequest },
      limits: { memory: options.memoryLimit },
    },
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: options.name, namespace: options.namespace, labels },
    spec: {
      // One attempt: a retried generator would double the load and blur the report.
      backoffLimit: 0,
      activeDeadlineSeconds: options.activeDeadlineSeconds,
      ttlSecondsAfterFinished: options.ttlSecondsAfterFinished,
      template: {
        metadata: { labels },
        spec: {
          restartPolicy: 'Never',
          // The generator talks to Kafka, Redis and ClickHouse, never to the API server.
          automountServiceAccountToken: false,
          containers: [container],
          ...(podSpec?.securityContext === undefined
            ? {}
            : { securityContext: podSpec.securityContext }),
          ...(podSpec?.volumes === undefined ? {} : { volumes: podSpec.volumes }),
          ...(podSpec?.imagePullSecrets === undefined
            ? {}
            : { imagePullSecrets: podSpec.imagePullSecrets }),
          ...(podSpec?.nodeSelector === undefined ? {} : { nodeSelector: podSpec.nodeSelector }),
          ...(podSpec?.tolerations === undefined ? {} : { tolerations: podSpec.tolerations }),
        },
      },
    },
  };
}

/**
 * The load test's image beside the service's: same registry, same tag, "-loadtest" after the
 * name (`registry/team/realtime-offers:1.2.0` -> `registry/team/realtime-offers-loadtest:1.2.0`),
 * as `make image-loadtest` tags it, so the generator is the version of the service it loads.
 * A digest names one image's content and has no such sibling.
 */
export function loadTestImage(serviceImage: string): string {
  if (serviceImage.includes('@')) {
    throw new Error(
      `the Deployment's image ${serviceImage} is pinned by digest; pass --image with the load test's image`,
    );
  }
  // A colon after the last slash starts the tag; one before it is a registry's port.
  const colon = serviceImage.lastIndexOf(':');
  const tagAt = colon > serviceImage.lastIndexOf('/') ? colon : serviceImage.length;
  return `${serviceImage.slice(0, tagAt)}-loadtest${serviceImage.slice(tagAt)}`;
}

/** Kubernetes label selector text (`a=b,c=d`) from a Deployment's `matchLabels`. */
export function labelSelector(matchLabels: Readonly<Record<string, string>> | undefined): string {
  return Object.entries(matchLabels ?? {})
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
}

/** A Job name that is unique per run and valid as a DNS label (≤ 63 characters). */
export function jobName(prefix: string, atMs: number): string {
  const stamp = new Date(atMs)
    .toISOString()
    .replace(/[-:T]/g, '')
    .replace(/\..*$/, '')
    .toLowerCase();
  return `${prefix}-${stamp}`.slice(0, 63).replace(/-+$/, '');
}

/** The service's consumer Deployments, as the chart labels them. */
export const CONSUMER_SELECTOR =
  'app.kubernetes.io/name=realtime-offers,app.kubernetes.io/component=consumer';

/**
 * The Deployment to load: the one named, or else the only consumer Deployment found (by the
 * chart's labels), so `make load-test-kind` needs no names. Several or none is an error that
 * lists what was found.
 */
export function pickDeployment<T extends { metadata?: { name?: string; namespace?: string } }>(
  found: readonly T[],
  wanted: string | undefined,
): T {
  const named = wanted === undefined ? found : found.filter((d) => d.metadata?.name === wanted);
  const [only, ...others] = named;
  if (only !== undefined && others.length === 0) return only;
  const listed = found.map((d) => `${d.metadata?.namespace ?? '?'}/${d.metadata?.name ?? '?'}`);
  throw new Error(
    named.length === 0
      ? `no ${wanted === undefined ? 'realtime-offers consumer Deployment' : `Deployment ${wanted}`} found${listed.length > 0 ? ` (found: ${listed.join(', ')})` : ''}; pass --namespace and --deployment`
      : `several Deployments match (${listed.join(', ')}); pass --namespace and --deployment`,
  );
}
