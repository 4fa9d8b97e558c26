import { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  AppsV1Api,
  AutoscalingV2Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  Log,
} from '@kubernetes/client-node';

import { LineSplitter, parseEvent } from './events.js';
import { GeneratorLog } from './generator-log.js';
import { generateArgs, type LoadTestOptions } from './options.js';
import { progressLine, ProgressWriter } from './progress.js';
import type { LoadReport } from './report-model.js';
import {
  describeMetrics,
  hpaNameFor,
  reduceClusterStatus,
  type ClusterSample,
  type ClusterSnapshot,
  type HorizontalPodAutoscalerLike,
  type ScaledObjectLike,
} from './kubernetes/cluster-status.js';
import {
  CONSUMER_SELECTOR,
  jobName,
  labelSelector,
  loadTestJob,
  pickDeployment,
} from './kubernetes/job.js';

/**
 * Kubernetes mode: the generator runs in the cluster as a Job built from the service's
 * Deployment (`--mode generate`), its per-second JSON lines are read from the pod's log,
 * and meanwhile the Deployment, KEDA's HPA, the ScaledObject and the pods are read every
 * second, so the report shows replicas being added as lag grows and removed after it.
 */

const KEDA_GROUP = 'keda.sh';
const KEDA_VERSION = 'v1alpha1';
const CONTAINER = 'load-test';

function errorText(what: string, error: unknown): string {
  const code = (error as { code?: unknown }).code;
  if (code === 404) return `${what}: not found`;
  return `${what}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`;
}

export async function runKubernetesMode(
  options: LoadTestOptions,
  signal: AbortSignal,
): Promise<LoadReport> {
  const log = (line: string): void => {
    process.stderr.write(`[load-test] ${line}\n`);
  };
  const k8s = options.kubernetes;
  const kc = new KubeConfig();
  kc.loadFromDefault();
  if (k8s.context !== undefined) kc.setCurrentContext(k8s.context);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const core = kc.makeApiClient(CoreV1Api);
  const autoscaling = kc.makeApiClient(AutoscalingV2Api);
  const custom = kc.makeApiClient(CustomObjectsApi);
  const objects = KubernetesObjectApi.makeApiClient(kc);

  const candidates =
    k8s.namespace === undefined
      ? await apps.listDeploymentForAllNamespaces({
          ...(k8s.deployment === undefined ? { labelSelector: CONSUMER_SELECTOR } : {}),
        })
      : await apps.listNamespacedDeployment({
          namespace: k8s.namespace,
          ...(k8s.deployment === undefined ? { labelSelector: CONSUMER_SELECTOR } : {}),
        });
  const deployment = pickDeployment(candidates.items, k8s.deployment);
  const deploymentName = deployment.metadata?.name ?? '';
  const namespace = deployment.metadata?.namespace ?? k8s.namespace ?? 'default';
  log(`load-testing Deployment ${namespace}/${deploymentName}`);
  const podSelector = labelSelector(deployment.spec?.selector.matchLabels);
  const scaledObjectName = k8s.scaledObject ?? deploymentName;
  const generation = options.generation;
  const deadline =
    generation.durationSeconds === undefined
      ? 3_600
      : generation.durationSeconds + generation.drainTimeoutSeconds + 300;
  const name = jobName('realtime-offers-load-test', Date.now());
  const job = loadTestJob(deployment, {
    name,
    namespace,
    args: generateArgs(generation),
    ...(k8s.image === undefined ? {} : { image: k8s.image }),
    ...(k8s.container === undefined ? {} : { containerName: k8s.container }),
    command: k8s.jobCommand,
    activeDeadlineSeconds: deadline,
    ttlSecondsAfterFinished: 3_600,
    cpuRequest: k8s.jobCpu,
    memoryRequest: k8s.jobMemory,
    memoryLimit: k8s.jobMemoryLimit,
    extraEnv: k8s.jobEnv,
  });

  const cluster: ClusterSample[] = [];
  // Written by the watcher and the log stream, read by the main flow.
  const state: { jobFailed?: string; watching: boolean; logEnded: boolean } = {
    watching: true,
    logEnded: false,
  };
  const snapshot = async (): Promise<ClusterSnapshot> => {
    const errors: string[] = [];
    const [deploymentResult, scaledObjectResult, podsResult, jobResult] = await Promise.allSettled([
      apps.readNamespacedDeployment({ name: deploymentName, namespace }),
      custom.getNamespacedCustomObject({
        group: KEDA_GROUP,
        version: KEDA_VERSION,
        namespace,
        plural: 'scaledobjects',
        name: scaledObjectName,
      }) as Promise<ScaledObjectLike>,
      core.listNamespacedPod({ namespace, labelSelector: podSelector }),
      batch.readNamespacedJob({ name, namespace }),
    ]);
    const scaledObject =
      scaledObjectResult.status === 'fulfilled' ? scaledObjectResult.value : undefined;
    if (scaledObjectResult.status === 'rejected') {
      errors.push(errorText('scaledobject', scaledObjectResult.reason));
    }
    let hpa: HorizontalPodAutoscalerLike | undefined;
    try {
      hpa = await autoscaling.readNamespacedHorizontalPodAutoscaler({
        name: hpaNameFor(scaledObjectName, scaledObject),
        namespace,
      });
    } catch (error) {
      errors.push(errorText('hpa', error));
    }
    if (deploymentResult.status === 'rejected') {
      errors.push(errorText('deployment', deploymentResult.reason));
    }
    if (podsResult.status === 'rejected') errors.push(errorText('pods', podsResult.reason));
    if (jobResult.status === 'fulfilled' && (jobResult.value.status?.failed ?? 0) > 0) {
      const reason = jobResult.value.status?.conditions?.find((c) => c.type === 'Failed');
      state.jobFailed = reason?.message ?? reason?.reason ?? 'the Job failed';
    }
    return {
      atMs: Date.now(),
      deployment: deploymentResult.status === 'fulfilled' ? deploymentResult.value : undefined,
      hpa,
      scaledObject,
      pods: podsResult.status === 'fulfilled' ? podsResult.value.items : undefined,
      errors,
    };
  };

  const watcher = (async () => {
    for (let next = Date.now(); state.watching; next += 1_000) {
      cluster.push(reduceClusterStatus(await snapshot()));
      await sleep(Math.max(0, next + 1_000 - Date.now()));
    }
  })();

  const generator = new GeneratorLog();
  const progress = new ProgressWriter(process.stderr);
  const splitter = new LineSplitter();
  const handle = (line: string): void => {
    const event = parseEvent(line);
    if (event === undefined) return;
    generator.accept(event);
    if (event.loadtest === 'sample' && options.progress) {
      const last = cluster.at(-1);
      const replicas =
        last === undefined
          ? ''
          : `replicas ${last.podsReady}/${last.specReplicas ?? '?'} ${describeMetrics(last)}`;
      progress.update(progressLine(event.sample, replicas), event.sample.t);
    }
    if (event.loadtest === 'error') log(`generator error: ${event.message}`);
  };
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of splitter.push(chunk.toString())) handle(line);
      callback();
    },
    final(callback) {
      for (const line of splitter.end()) handle(line);
      state.logEnded = true;
      callback();
    },
  });

  let created = false;
  let logRequest: AbortController | undefined;
  try {
    // A baseline before the load starts.
    await sleep(2_000);
    // The generic object client takes the plain manifest as it is.
    await objects.create(job);
    created = true;
    log(
      `created Job ${namespace}/${name} (image ${job.spec.template.spec.containers[0]?.image ?? '?'})`,
    );

    const podName = await waitForPod(core, namespace, name, signal, () => state.jobFailed);
    log(`following pod ${podName}`);
    logRequest = await new Log(kc).log(namespace, podName, CONTAINER, sink, { follow: true });

    while (
      !generator.finished &&
      !state.logEnded &&
      state.jobFailed === undefined &&
      !signal.aborted
    ) {
      await sleep(500);
    }
    progress.done();
    if (state.jobFailed !== undefined) log(`the Job failed: ${state.jobFailed}`);
    if (!signal.aborted && k8s.observeAfterSeconds > 0) {
      log(
        `generator done; recording the cluster for ${k8s.observeAfterSeconds} s more (scale-down)`,
      );
      const until = Date.now() + k8s.observeAfterSeconds * 1000;
      // Re-read each time: Ctrl-C may come while waiting.
      const aborted = (): boolean => signal.aborted;
      while (Date.now() < until && !aborted()) await sleep(1_000);
    }
  } finally {
    state.watching = false;
    await watcher.catch(() => undefined);
    logRequest?.abort();
    if (created && (!k8s.keepJob || signal.aborted)) {
      await batch
        .deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' })
        .catch((error: unknown) => {
          log(errorText(`deleting Job ${name}`, error));
        });
    }
  }
  const report = generator.report(cluster, {
    image: deployment.spec?.template.spec?.containers[0]?.image ?? null,
    thresholds: options.thresholds,
  });
  if (report === undefined) {
    throw new Error(
      `the generator never started${generator.errors.length > 0 ? `: ${generator.errors.join('; ')}` : ''}${state.jobFailed === undefined ? '' : ` (Job: ${state.jobFailed})`}`,
    );
  }
  return report;
}

async function waitForPod(
  core: CoreV1Api,
  namespace: string,
  job: string,
  signal: AbortSignal,
  failed: () => string | undefined,
): Promise<string> {
  const deadline = Date.now() + 10 * 60_000;
  while (Date.now() < deadline && !signal.aborted) {
    const failure = failed();
    if (failure !== undefined) throw new Error(`the Job failed before its pod ran: ${failure}`);
    const pods = await core.listNamespacedPod({ namespace, labelSelector: `job-name=${job}` });
    const pod = pods.items.find((item) =>
      ['Running', 'Succeeded', 'Failed'].includes(item.status?.phase ?? ''),
    );
    const podName = pod?.metadata?.name;
    if (podName !== undefined) return podName;
    const waiting = pods.items[0]?.status?.containerStatuses?.[0]?.state?.waiting;
    // ErrImageNeverPull: pull policy Never (kind) and the image was not loaded onto the node.
    if (['ErrImagePull', 'ImagePullBackOff', 'ErrImageNeverPull'].includes(waiting?.reason ?? '')) {
      throw new Error(
        `the Job's image cannot be pulled: ${waiting?.message ?? waiting?.reason ?? '?'} (build it with make image-loadtest, or pass --image)`,
      );
    }
    await sleep(1_000);
  }
  throw new Error(`no running pod for Job ${job}`);
}
