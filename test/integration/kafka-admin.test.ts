import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';

import { createKafkaClients, type TopicAdmin } from '../../src/kafka/kafka-adapter.js';
import { createLogger } from '../../src/telemetry/logger.js';
import { startInfra } from '../support/infra.js';

describe('Kafka admin on a real broker', () => {
  let admin: TopicAdmin;
  const created: string[] = [];

  before(async () => {
    const infra = await startInfra();
    const kafka = createKafkaClients(
      { brokers: infra.kafkaBrokers, clientId: `test-admin-${randomUUID()}` },
      createLogger('silent'),
    );
    admin = await kafka.admin();
  });

  after(async () => {
    await admin.deleteTopics(created).catch(() => undefined);
    await admin.disconnect();
  });

  // Right after the controller elects leaders, a broker may still answer ListOffsets with
  // NOT_LEADER_OR_FOLLOWER: the load test read a new topic's offsets at once and failed.
  it('returns from ensureTopics only once every partition serves its offsets', async () => {
    for (let round = 0; round < 3; round += 1) {
      const topic = `admin-${randomUUID()}`;
      created.push(topic);
      await admin.ensureTopics([{ name: topic, partitions: 12 }]);
      const ends = await admin.endOffsets(topic);
      assert.equal(ends.size, 12);
      assert.ok([...ends.values()].every((end) => end === '0'));
    }
  });

  it('reads topic configs and grows topics', async () => {
    const topic = `admin-${randomUUID()}`;
    created.push(topic);
    await admin.ensureTopics([
      { name: topic, partitions: 2, config: { 'max.message.bytes': '2000000' } },
    ]);
    assert.equal(await admin.topicConfig(topic, 'max.message.bytes'), '2000000');
    await admin.createPartitions(topic, 4);
    const leaders = await admin.partitionLeaders(topic);
    assert.equal(leaders.size, 4);
  });
});
