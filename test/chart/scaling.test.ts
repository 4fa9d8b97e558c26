import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { parse } from 'yaml';

import {
  all,
  at,
  CHART,
  containers,
  only,
  render,
  resolvedEnv,
  template,
  VALUES_FILES,
  type Manifest,
} from './support.js';

function valuesOf(files: readonly string[]): Record<string, unknown> {
  // Later files win, key by key, as in helm; enough for the scalar keys read here.
  const merge = (
    base: Record<string, unknown>,
    over: Record<string, unknown>,
  ): Record<string, unknown> => {
    const result = { ...base };
    for (const [key, value] of Object.entries(over)) {
      const current = result[key];
      result[key] =
        typeof value === 'object' &&
        value !== null &&
        !Array.isArray(value) &&
        typeof current === 'object' &&
        current !== null
          ? merge(current as Record<string, unknown>, value as Record<string, unknown>)
          : value;
    }
    return result;
  };
  return ['values.yaml', ...files].reduce<Record<string, unknown>>(
    (merged, file) =>
      merge(merged, parse(readFileSync(path.join(CHART, file), 'utf8')) as Record<string, unknown>),
    {},
  );
}

function consumerEnv(manifests: readonly Manifest[]): Record<string, string> {
  const [consumer] = containers(only(manifests, 'Deployment'));
  assert.ok(consumer);
  return resolvedEnv(consumer);
}

describe('chart: KEDA scaling', () => {
  for (const { name, files } of VALUES_FILES) {
    it(`the ScaledObject scales the Deployment on its group and topic (${name} values)`, () => {
      const manifests = render(files);
      const deployment = only(manifests, 'Deployment');
      const scaled = only(manifests, 'ScaledObject');
      const env = consumerEnv(manifests);
      assert.deepEqual(at(scaled, 'spec', 'scaleTargetRef'), {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        name: deployment.metadata.name,
      });
      const triggers = at(scaled, 'spec', 'triggers') as {
        type: string;
        metadata: Record<string, string>;
      }[];
      assert.equal(triggers.length, 1);
      const trigger = triggers[0];
      assert.ok(trigger);
      assert.equal(trigger.type, 'kafka');
      assert.equal(trigger.metadata.consumerGroup, env.KAFKA_GROUP_ID);
      assert.equal(trigger.metadata.topic, env.KAFKA_TOPIC);
      assert.equal(trigger.metadata.offsetResetPolicy, env.KAFKA_OFFSET_RESET);
      assert.equal(trigger.metadata.allowIdleConsumers, 'false');
      // KEDA's default protocol version (1.0.0) is refused by Kafka 4.x brokers.
      assert.match(trigger.metadata.version ?? '', /^[4-9]\.\d+\.\d+$/);
      for (const key of ['lagThreshold', 'activationLagThreshold', 'bootstrapServers']) {
        assert.ok(trigger.metadata[key], `no ${key}`);
      }
      assert.ok(
        at(scaled, 'spec', 'advanced', 'horizontalPodAutoscalerConfig', 'behavior', 'scaleDown'),
      );
    });

    it(`never scales beyond the input topic's partitions (${name} values)`, () => {
      const manifests = render(files);
      const max = at(only(manifests, 'ScaledObject'), 'spec', 'maxReplicaCount') as number;
      const min = at(only(manifests, 'ScaledObject'), 'spec', 'minReplicaCount') as number;
      const env = consumerEnv(manifests);
      const inputTopic = all(manifests, 'KafkaTopic').find(
        (topic) => at(topic, 'spec', 'topicName') === env.KAFKA_TOPIC,
      );
      const partitions = inputTopic
        ? (at(inputTopic, 'spec', 'partitions') as number)
        : (at(valuesOf(files), 'kafka', 'topicPartitions') as number);
      assert.ok(
        Number.isInteger(max) && max >= 1 && max <= partitions,
        `max ${max} > partitions ${partitions}`,
      );
      assert.ok(min <= max);
    });

    it(`leaves replicas to KEDA when autoscaling is on, and sets them when off (${name} values)`, () => {
      assert.equal(at(only(render(files), 'Deployment'), 'spec', 'replicas'), undefined);
      const off = render(files, ['autoscaling.enabled=false', 'replicaCount=3']);
      assert.equal(at(only(off, 'Deployment'), 'spec', 'replicas'), 3);
      assert.equal(all(off, 'ScaledObject').length, 0);
    });

    it(`gives the service time to shut down before the kubelet kills it (${name} values)`, () => {
      const manifests = render(files);
      const grace = at(
        only(manifests, 'Deployment'),
        'spec',
        'template',
        'spec',
        'terminationGracePeriodSeconds',
      ) as number;
      assert.ok(grace * 1000 > Number(consumerEnv(manifests).SHUTDOWN_GRACE_MS));
    });
  }

  it('refuses more replicas than partitions, and a grace period shorter than the shutdown', () => {
    const tooMany = template([], ['autoscaling.maxReplicas=13', 'kafka.topicPartitions=12']);
    assert.notEqual(tooMany.status, 0);
    assert.match(tooMany.stderr, /maxReplicas \(13\) must not exceed kafka.topicPartitions \(12\)/);
    const tooShort = template([], ['terminationGracePeriodSeconds=20', 'shutdownGraceMs=25000']);
    assert.notEqual(tooShort.status, 0);
    assert.match(tooShort.stderr, /terminationGracePeriodSeconds/);
  });

  it("authenticates KEDA with the consumer's Secrets when Kafka needs SASL/TLS", () => {
    const manifests = render(['values-production-example.yaml']);
    const auth = only(manifests, 'TriggerAuthentication');
    const scaled = only(manifests, 'ScaledObject');
    const trigger = (at(scaled, 'spec', 'triggers', 0) ?? {}) as {
      metadata: Record<string, string>;
      authenticationRef?: { name: string };
    };
    assert.equal(trigger.authenticationRef?.name, auth.metadata.name);
    assert.equal(trigger.metadata.sasl, 'scram_sha512');
    assert.equal(trigger.metadata.tls, 'enable');
    const refs = at(auth, 'spec', 'secretTargetRef') as {
      parameter: string;
      name: string;
      key: string;
    }[];
    const [consumer] = containers(only(manifests, 'Deployment'));
    const passwordRef = consumer?.env?.find((variable) => variable.name === 'KAFKA_SASL_PASSWORD')
      ?.valueFrom?.secretKeyRef;
    assert.deepEqual(
      refs.find((ref) => ref.parameter === 'password'),
      { parameter: 'password', name: passwordRef?.name, key: passwordRef?.key },
    );
    assert.ok(refs.some((ref) => ref.parameter === 'ca'));
    assert.deepEqual(at(auth, 'spec', 'env'), [
      { parameter: 'username', name: 'KAFKA_SASL_USERNAME', containerName: 'consumer' },
    ]);
  });

  it("gives the consumer's KafkaUser only the ACLs it needs", () => {
    const users = all(render(['values-kind.yaml']), 'KafkaUser');
    const consumer = users.find((user) => !user.metadata.name.endsWith('-smoke'));
    assert.ok(consumer);
    assert.equal(at(consumer, 'spec', 'authentication', 'type'), 'scram-sha-512');
    const acls = (
      at(consumer, 'spec', 'authorization', 'acls') as {
        resource: { type: string; name: string };
        operations: string[];
      }[]
    ).map(
      (acl) => `${acl.resource.type}:${acl.resource.name}:${[...acl.operations].sort().join('+')}`,
    );
    assert.deepEqual(acls.sort(), [
      'group:realtime-offers:Describe+Read',
      'topic:streaming-user-registration.dlq:Describe+DescribeConfigs+Write',
      'topic:streaming-user-registration:Describe+Read',
    ]);
  });
});
