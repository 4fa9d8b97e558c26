import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';

import type { Manifest } from './support.js';

/**
 * Schema checks of rendered objects. Core kinds, KEDA's and the Prometheus Operator's
 * PrometheusRule go through the kubernetes-models classes (OpenAPI schemas of Kubernetes and
 * of those CRDs). Strimzi's, the ClickHouse operator's and the ServiceMonitor are checked
 * against field lists written from their operators' API references: which fields exist,
 * which are required, and the allowed values of enumerations, so a typo or a field of an
 * older API version (Strimzi v1beta2) fails here rather than on a cluster.
 */

interface Validatable {
  validate(): void;
}

const CORE: Readonly<Record<string, (manifest: Manifest) => Validatable>> = {
  'apps/v1/Deployment': (m) => new Deployment(m),
  'apps/v1/StatefulSet': (m) => new StatefulSet(m),
  'batch/v1/Job': (m) => new Job(m),
  'networking.k8s.io/v1/NetworkPolicy': (m) => new NetworkPolicy(m),
  'policy/v1/PodDisruptionBudget': (m) => new PodDisruptionBudget(m),
  'v1/ConfigMap': (m) => new ConfigMap(m),
  'v1/Namespace': (m) => new Namespace(m),
  'v1/Pod': (m) => new Pod(m),
  'v1/Service': (m) => new Service(m),
  'v1/ServiceAccount': (m) => new ServiceAccount(m),
  'keda.sh/v1alpha1/ScaledObject': (m) => new ScaledObject(m as never),
  'keda.sh/v1alpha1/TriggerAuthentication': (m) => new TriggerAuthentication(m as never),
  'monitoring.coreos.com/v1/PrometheusRule': (m) => new PrometheusRule(m as never),
};

type Field =
  | 'string'
  | 'integer'
  | 'boolean'
  | 'any'
  | 'map'
  | { readonly enum: readonly (string | boolean)[] }
  | { readonly array: Field; readonly minItems?: number }
  | { readonly pattern: RegExp }
  | Shape;

interface Shape {
  readonly fields: Readonly<Record<string, Field>>;
  readonly required?: readonly string[];
  /** Keys beyond `fields` are allowed (free-form maps whose keys `check` inspects). */
  readonly open?: boolean;
  /** Extra check of the whole object (e.g. keys of a free-form map). */
  readonly check?: (value: Record<string, unknown>, at: string) => string[];
}

function checkField(value: unknown, field: Field, at: string): string[] {
  if (field === 'any') return [];
  if (field === 'string') return typeof value === 'string' ? [] : [`${at} must be a string`];
  if (field === 'integer') return Number.isInteger(value) ? [] : [`${at} must be an integer`];
  if (field === 'boolean') return typeof value === 'boolean' ? [] : [`${at} must be a boolean`];
  if (field === 'map') {
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? []
      : [`${at} must be an object`];
  }
  if ('enum' in field) {
    return field.enum.includes(value as string)
      ? []
      : [`${at}: ${String(value)} is not one of ${field.enum.join(', ')}`];
  }
  if ('pattern' in field) {
    return typeof value === 'string' && field.pattern.test(value)
      ? []
      : [`${at}: ${String(value)} does not match ${String(field.pattern)}`];
  }
  if ('array' in field) {
    if (!Array.isArray(value)) return [`${at} must be a list`];
    if (value.length < (field.minItems ?? 0)) return [`${at} needs ${field.minItems} item(s)`];
    return value.flatMap((item, index) => checkField(item, field.array, `${at}[${index}]`));
  }
  return checkShape(value, field, at);
}

export function checkShape(value: unknown, shape: Shape, at: string): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [`${at} must be an object`];
  }
  const object = value as Record<string, unknown>;
  const errors: string[] = [];
  for (const key of shape.required ?? []) {
    if (!(key in object)) errors.push(`${at}.${key} is required`);
  }
  for (const [key, item] of Object.entries(object)) {
    const field = shape.fields[key];
    if (field === undefined) {
      if (shape.open !== true) errors.push(`${at}.${key} is not a field of this resource`);
    } else errors.push(...checkField(item, field, `${at}.${key}`));
  }
  return [...errors, ...(shape.check?.(object, at) ?? [])];
}

const quantity: Field = { pattern: /^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti|k|M|G)?$/ };
const resources: Shape = {
  fields: {
    requests: { fields: { cpu: quantity, memory: quantity } },
    limits: { fields: { cpu: quantity, memory: quantity } },
  },
};
const metadata = (requiredLabels: readonly string[] = []): Shape => ({
  fields: { name: 'string', namespace: 'string', labels: 'map', annotations: 'map' },
  required: ['name'],
  check: (value, at) =>
    requiredLabels
      .filter(
        (label) =>
          typeof (value.labels as Record<string, unknown> | undefined)?.[label] !== 'string',
      )
      .map((label) => `${at}.labels needs ${label}`),
});
const resource = (spec: Shape, requiredLabels: readonly string[] = []): Shape => ({
  fields: { apiVersion: 'string', kind: 'string', metadata: metadata(requiredLabels), spec },
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
});

// Strimzi 1.x, kafka.strimzi.io/v1 (KafkaTopic, KafkaUser, KafkaNodePool, Kafka schema references).
const strimziVolume: Shape = {
  fields: {
    id: 'integer',
    type: { enum: ['ephemeral', 'persistent-claim'] },
    size: quantity,
    sizeLimit: quantity,
    class: 'string',
    deleteClaim: 'boolean',
    kraftMetadata: { enum: ['shared'] },
    selector: 'map',
    overrides: 'any',
  },
  required: ['type'],
};
const STRIMZI_OPERATIONS = [
  'Read',
  'Write',
  'Create',
  'Delete',
  'Alter',
  'Describe',
  'ClusterAction',
  'AlterConfigs',
  'DescribeConfigs',
  'IdempotentWrite',
  'All',
] as const;

/** A RelabelConfig of the Prometheus Operator (its field names, camel case). */
const RELABEL_CONFIG: Shape = {
  fields: {
    sourceLabels: { array: 'string' },
    separator: 'string',
    targetLabel: 'string',
    regex: 'string',
    modulus: 'integer',
    replacement: 'string',
    action: {
      enum: [
        'replace',
        'Replace',
        'keep',
        'Keep',
        'drop',
        'Drop',
        'hashmod',
        'HashMod',
        'labelmap',
        'LabelMap',
        'labeldrop',
        'LabelDrop',
        'labelkeep',
        'LabelKeep',
        'lowercase',
        'Lowercase',
        'uppercase',
        'Uppercase',
        'keepequal',
        'KeepEqual',
        'dropequal',
        'DropEqual',
      ],
    },
  },
};

/** An endpoint of a ServiceMonitor or PodMonitor. */
const SCRAPE_ENDPOINT: Shape = {
  fields: {
    port: 'string',
    path: 'string',
    interval: { pattern: /^[0-9]+(ms|s|m|h)$/ },
    scrapeTimeout: { pattern: /^[0-9]+(ms|s|m|h)$/ },
    scheme: { enum: ['http', 'https'] },
    relabelings: { array: RELABEL_CONFIG },
    metricRelabelings: { array: RELABEL_CONFIG },
  },
};

const CRDS: Readonly<Record<string, Shape>> = {
  'kafka.strimzi.io/v1/KafkaTopic': resource(
    {
      fields: { partitions: 'integer', replicas: 'integer', config: 'map', topicName: 'string' },
      check: (value, at) =>
        (value.partitions as number) < 1 ? [`${at}.partitions must be at least 1`] : [],
    },
    ['strimzi.io/cluster'],
  ),
  'kafka.strimzi.io/v1/KafkaUser': resource(
    {
      fields: {
        authentication: {
          fields: { type: { enum: ['tls', 'tls-external', 'scram-sha-512'] }, password: 'any' },
          required: ['type'],
        },
        authorization: {
          fields: {
            type: { enum: ['simple'] },
            acls: {
              array: {
                fields: {
                  type: { enum: ['allow', 'deny'] },
                  resource: {
                    fields: {
                      type: { enum: ['topic', 'group', 'cluster', 'transactionalId'] },
                      name: 'string',
                      patternType: { enum: ['literal', 'prefix'] },
                    },
                    required: ['type'],
                  },
                  host: 'string',
                  operations: { array: { enum: STRIMZI_OPERATIONS }, minItems: 1 },
                },
                // v1 dropped the singular `operation` of v1beta2.
                required: ['resource', 'operations'],
              },
            },
          },
          required: ['type', 'acls'],
        },
        quotas: 'map',
        template: 'any',
      },
    },
    ['strimzi.io/cluster'],
  ),
  'kafka.strimzi.io/v1/KafkaNodePool': resource(
    {
      fields: {
        replicas: 'integer',
        roles: { array: { enum: ['controller', 'broker'] }, minItems: 1 },
        storage: {
          fields: {
            type: { enum: ['jbod', 'ephemeral', 'persistent-claim'] },
            volumes: { array: strimziVolume, minItems: 1 },
            size: quantity,
            sizeLimit: quantity,
            class: 'string',
            deleteClaim: 'boolean',
            kraftMetadata: { enum: ['shared'] },
          },
          required: ['type'],
        },
        resources,
        jvmOptions: 'any',
        template: 'any',
      },
      required: ['replicas', 'roles', 'storage'],
    },
    ['strimzi.io/cluster'],
  ),
  'kafka.strimzi.io/v1/Kafka': resource({
    fields: {
      // v1: no spec.zookeeper, and no replicas/storage under spec.kafka (node pools own them).
      kafka: {
        fields: {
          version: { pattern: /^[0-9]+\.[0-9]+\.[0-9]+$/ },
          metadataVersion: 'string',
          listeners: {
            array: {
              fields: {
                name: { pattern: /^[a-z0-9]{1,11}$/ },
                port: 'integer',
                type: {
                  enum: ['internal', 'route', 'loadbalancer', 'nodeport', 'ingress', 'cluster-ip'],
                },
                tls: 'boolean',
                authentication: {
                  fields: { type: { enum: ['tls', 'scram-sha-512', 'oauth', 'custom'] } },
                  required: ['type'],
                },
                configuration: 'any',
                networkPolicyPeers: 'any',
              },
              required: ['name', 'port', 'type', 'tls'],
            },
            minItems: 1,
          },
          authorization: {
            fields: {
              type: { enum: ['simple', 'keycloak', 'custom'] },
              superUsers: { array: 'string' },
            },
            required: ['type'],
          },
          config: 'map',
          rack: 'any',
          image: 'string',
          logging: 'any',
          metricsConfig: 'any',
          template: 'any',
          jvmOptions: 'any',
          quotas: 'any',
          tieredStorage: 'any',
        },
        required: ['listeners'],
      },
      entityOperator: {
        fields: { topicOperator: 'map', userOperator: 'map', template: 'any' },
      },
      clusterCa: 'any',
      clientsCa: 'any',
      cruiseControl: 'any',
      kafkaExporter: 'any',
      maintenanceTimeWindows: 'any',
    },
    required: ['kafka'],
  }),
  // Altinity operator, clickhouse.altinity.com/v1 (ClickHouseInstallation reference).
  'clickhouse.altinity.com/v1/ClickHouseInstallation': resource({
    fields: {
      defaults: {
        fields: {
          replicasUseFQDN: 'any',
          distributedDDL: 'any',
          storageManagement: 'any',
          templates: {
            fields: {
              hostTemplate: 'string',
              podTemplate: 'string',
              dataVolumeClaimTemplate: 'string',
              logVolumeClaimTemplate: 'string',
              serviceTemplate: 'string',
              clusterServiceTemplate: 'string',
              shardServiceTemplate: 'string',
              replicaServiceTemplate: 'string',
            },
          },
        },
      },
      configuration: {
        fields: {
          zookeeper: 'any',
          users: {
            fields: {},
            open: true,
            // Keys are <user>/<setting>; a password must never be written inline.
            check: (value, at) =>
              Object.keys(value).flatMap((key) => {
                if (!/^[A-Za-z0-9_]+\/[a-z0-9_/]+$/.test(key)) return [`${at}: bad key ${key}`];
                if (/\/password(_sha256_hex|_double_sha1_hex)?$/.test(key)) {
                  return [`${at}.${key}: inline password; use k8s_secret_password`];
                }
                return [];
              }),
          },
          profiles: 'map',
          quotas: 'map',
          settings: 'map',
          files: 'map',
          clusters: {
            array: {
              fields: {
                name: { pattern: /^[a-z0-9-]{1,15}$/ },
                layout: {
                  fields: {
                    shardsCount: 'integer',
                    replicasCount: 'integer',
                    shards: 'any',
                    replicas: 'any',
                  },
                },
                templates: 'map',
                zookeeper: 'any',
                schemaPolicy: 'any',
                secure: 'any',
                secret: 'any',
              },
              required: ['name'],
            },
            minItems: 1,
          },
        },
        required: ['clusters'],
      },
      templates: {
        fields: {
          hostTemplates: 'any',
          podTemplates: {
            array: {
              fields: {
                name: 'string',
                generateName: 'string',
                metadata: 'map',
                spec: 'map',
                zone: 'any',
                distribution: 'any',
                podDistribution: 'any',
              },
              required: ['name', 'spec'],
            },
          },
          volumeClaimTemplates: {
            array: {
              fields: {
                name: 'string',
                reclaimPolicy: { enum: ['Retain', 'Delete'] },
                metadata: 'map',
                spec: 'map',
              },
              required: ['name', 'spec'],
            },
          },
          serviceTemplates: {
            array: {
              fields: { name: 'string', generateName: 'string', metadata: 'map', spec: 'map' },
              required: ['name', 'spec'],
            },
          },
        },
      },
      templating: 'any',
      reconciling: 'any',
      stop: 'any',
      restart: 'any',
      troubleshoot: 'any',
      namespaceDomainPattern: 'string',
      useTemplates: 'any',
      taskID: 'string',
    },
    required: ['configuration'],
  }),
  // Prometheus Operator, monitoring.coreos.com/v1 (ServiceMonitor, PodMonitor).
  'monitoring.coreos.com/v1/ServiceMonitor': resource({
    fields: {
      selector: 'map',
      namespaceSelector: { fields: { matchNames: { array: 'string' }, any: 'boolean' } },
      endpoints: { array: SCRAPE_ENDPOINT, minItems: 1 },
      jobLabel: 'string',
    },
    required: ['selector', 'endpoints'],
  }),
  'monitoring.coreos.com/v1/PodMonitor': resource({
    fields: {
      selector: 'map',
      namespaceSelector: { fields: { matchNames: { array: 'string' }, any: 'boolean' } },
      podMetricsEndpoints: { array: SCRAPE_ENDPOINT, minItems: 1 },
      jobLabel: 'string',
    },
    required: ['selector', 'podMetricsEndpoints'],
  }),
};

/**
 * Validates one object against its schema and returns the problems (empty when valid).
 * Objects nested in custom resources (ClickHouse pod, volume and service templates) go
 * through the core schemas too.
 */
export function validateManifest(manifest: Manifest): string[] {
  const key = `${manifest.apiVersion}/${manifest.kind}`;
  const name = `${key} ${manifest.metadata.name}`;
  const core = CORE[key];
  if (core !== undefined) {
    try {
      core(manifest).validate();
      return [];
    } catch (error) {
      return [`${name}: ${error instanceof Error ? error.message : String(error)}`];
    }
  }
  const shape = CRDS[key];
  if (shape === undefined) return [`${name}: no schema known for this kind`];
  const errors = checkShape(manifest, shape, name);
  if (manifest.kind === 'ClickHouseInstallation')
    errors.push(...validateChiTemplates(manifest, name));
  return errors;
}

/** The pod, volume claim and service templates of a ClickHouse (or Keeper) installation. */
export function validateChiTemplates(manifest: Manifest, name: string): string[] {
  const templates = ((manifest.spec as Record<string, unknown>).templates ?? {}) as {
    podTemplates?: { name: string; spec: unknown }[];
    volumeClaimTemplates?: { name: string; spec: unknown }[];
    serviceTemplates?: { name: string; spec: unknown }[];
  };
  const nested: [string, Validatable][] = [
    ...(templates.podTemplates ?? []).map((t): [string, Validatable] => [
      `podTemplate ${t.name}`,
      new Pod({ metadata: { name: t.name }, spec: t.spec as never }),
    ]),
    ...(templates.volumeClaimTemplates ?? []).map((t): [string, Validatable] => [
      `volumeClaimTemplate ${t.name}`,
      new PersistentVolumeClaim({ metadata: { name: t.name }, spec: t.spec as never }),
    ]),
    ...(templates.serviceTemplates ?? []).map((t): [string, Validatable] => [
      `serviceTemplate ${t.name}`,
      new Service({ metadata: { name: t.name }, spec: t.spec as never }),
    ]),
  ];
  return nested.flatMap(([what, model]) => {
    try {
      model.validate();
      return [];
    } catch (error) {
      return [`${name} ${what}: ${error instanceof Error ? error.message : String(error)}`];
    }
  });
}
