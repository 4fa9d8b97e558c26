// Creates the Kafka topics that KafkaTopic resources (YAML on stdin, e.g. the chart's
// templates/kafkatopics.yaml rendered by `helm template`) describe, with their partitions,
// replicas and configs, as Strimzi's topic operator would. Existing topics are left alone.
// Usage: helm template ... --show-only templates/kafkatopics.yaml |
//          node --import tsx test/cluster/create-topics.ts BROKERS
import { readFileSync } from 'node:fs';
import { Kafka, logLevel } from 'kafkajs';
import { parseAllDocuments } from 'yaml';

const brokers = process.argv[2];
if (!brokers) {
  console.error('usage: create-topics.ts BROKERS < kafkatopics.yaml');
  process.exit(2);
}
interface Topic {
  topic: string;
  numPartitions: number;
  replicationFactor: number;
  configEntries: { name: string; value: string }[];
}
interface KafkaTopic {
  kind?: string;
  metadata: { name: string };
  spec?: {
    topicName?: string;
    partitions?: number;
    replicas?: number;
    config?: Record<string, unknown>;
  };
}
const topics: Topic[] = [];
for (const document of parseAllDocuments(readFileSync(0, 'utf8'))) {
  const resource = document.toJS() as KafkaTopic | null;
  if (resource?.kind !== 'KafkaTopic') continue;
  const spec = resource.spec ?? {};
  topics.push({
    topic: spec.topicName ?? resource.metadata.name,
    numPartitions: spec.partitions ?? 1,
    replicationFactor: spec.replicas ?? 1,
    configEntries: Object.entries(spec.config ?? {}).map(([name, value]) => ({
      name,
      value: String(value as string | number | boolean),
    })),
  });
}
if (topics.length === 0) {
  console.error('no KafkaTopic resources on stdin');
  process.exit(1);
}
const admin = new Kafka({ brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
await admin.connect();
try {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter(({ topic }) => !existing.has(topic));
  if (missing.length > 0) await admin.createTopics({ topics: missing, waitForLeaders: true });
  for (const { topic, numPartitions } of topics) {
    console.error(
      `topic ${topic}: ${numPartitions} partitions${existing.has(topic) ? ' (existed)' : ''}`,
    );
  }
} finally {
  await admin.disconnect();
}
