import { setTimeout as sleep } from 'node:timers/promises';

import kafkajs, { type Admin, type Kafka } from 'kafkajs';

import { isPermanentKafkaError, isUnknownTopic } from './errors.js';
import type { TopicAdmin } from './types.js';

// kafkajs is CommonJS; Node's named-export detection misses this one.
const { ConfigResourceTypes } = kafkajs;

const TOPIC_READY_TIMEOUT_MS = 30_000;

/**
 * Waits until every partition of `names` has a leader that also serves it. kafkajs's own
 * wait retries only LEADER_NOT_AVAILABLE: on a cluster of several brokers the one it asks
 * may not know the topic yet (UNKNOWN_TOPIC_OR_PARTITION), and right after the controller
 * elects a leader that broker can still answer NOT_LEADER_OR_FOLLOWER. A client of its own
 * asks: the offsets request makes a kafkajs admin refresh these topics' metadata from then
 * on, which fails all its later calls once one of them is deleted.
 */
async function waitUntilServed(kafka: Kafka, names: readonly string[]): Promise<void> {
  const probe = kafka.admin();
  await probe.connect();
  try {
    const deadline = Date.now() + TOPIC_READY_TIMEOUT_MS;
    for (;;) {
      const ready = await probe
        .fetchTopicMetadata({ topics: [...names] })
        .then(async ({ topics: found }) => {
          const led = found.every((topic) =>
            topic.partitions.every((partition) => partition.leader >= 0),
          );
          if (!led) return false;
          await Promise.all(names.map((name) => probe.fetchTopicOffsets(name)));
          return true;
        })
        .catch((error: unknown) => {
          if (isPermanentKafkaError(error) && !isUnknownTopic(error)) throw error;
          return false;
        });
      if (ready) return;
      if (Date.now() > deadline) {
        throw new Error(
          `topics ${names.join(', ')} have no leaders after ${TOPIC_READY_TIMEOUT_MS} ms`,
        );
      }
      await sleep(200);
    }
  } finally {
    await probe.disconnect();
  }
}

/**
 * Throws naming every topic of `names` that does not exist or this client may not see,
 * and how to create it. Start-up retries it within its window: a topic operator may be on
 * its way.
 */
export async function requireTopics(admin: TopicAdmin, names: readonly string[]): Promise<void> {
  const missing = await admin.missingTopics(names);
  if (missing.length === 0) return;
  const which = missing
    .map((name) => `Kafka topic ${name} does not exist or this client may not see it`)
    .join('; ');
  throw new Error(
    `${which} (Describe ACL); create ${missing.length === 1 ? 'it' : 'them'} first (realtime-offers topics, or the chart's KafkaTopic resources)`,
  );
}

export async function createAdmin(kafka: Kafka): Promise<TopicAdmin> {
  const admin: Admin = kafka.admin();
  await admin.connect();
  return {
    async ensureTopics(topics) {
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((topic) => !existing.has(topic.name));
      if (missing.length === 0) return;
      await admin.createTopics({
        waitForLeaders: false,
        topics: missing.map((topic) => ({
          topic: topic.name,
          numPartitions: topic.partitions,
          configEntries: Object.entries(topic.config ?? {}).map(([name, value]) => ({
            name,
            value,
          })),
        })),
      });
      await waitUntilServed(
        kafka,
        missing.map((topic) => topic.name),
      );
    },
    async missingTopics(names) {
      const existing = new Set(await admin.listTopics());
      return names.filter((name) => !existing.has(name));
    },
    async deleteTopics(names) {
      await admin.deleteTopics({ topics: [...names] });
    },
    async endOffsets(topic) {
      const offsets = await admin.fetchTopicOffsets(topic);
      return new Map(offsets.map((entry) => [entry.partition, entry.high]));
    },
    async committedOffsets(groupId, topic) {
      const [entry] = await admin.fetchOffsets({ groupId, topics: [topic] });
      return new Map((entry?.partitions ?? []).map((p) => [p.partition, p.offset]));
    },
    async offsetsAtTime(topic, timestampMs) {
      const offsets = await admin.fetchTopicOffsetsByTimestamp(topic, timestampMs);
      return new Map(offsets.map((entry) => [entry.partition, entry.offset]));
    },
    async setGroupOffsets(groupId, topic, offsets) {
      await admin.setOffsets({
        groupId,
        topic,
        partitions: [...offsets].map(([partition, offset]) => ({ partition, offset })),
      });
    },
    async topicConfig(topic, name) {
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: [name] }],
      });
      const [resource] = resources;
      if (resource !== undefined && resource.errorCode !== 0) {
        throw new Error(`describing topic ${topic} failed: ${resource.errorMessage}`);
      }
      return resource?.configEntries.find((entry) => entry.configName === name)?.configValue;
    },
    async createPartitions(topic, count) {
      await admin.createPartitions({ topicPartitions: [{ topic, count }] });
    },
    async partitionLeaders(topic) {
      const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
      const partitions = topics[0]?.partitions ?? [];
      return new Map(partitions.map((p) => [p.partitionId, p.leader]));
    },
    disconnect: () => admin.disconnect(),
  };
}
