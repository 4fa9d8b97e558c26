import { trace } from '@opentelemetry/api';

import {
  loadKafkaConfig,
  loadTracingConfig,
  type KafkaConnectionConfig,
} from '../config/config.js';
import { createKafkaClients, readGroupPositions } from '../kafka/kafka-adapter.js';
import { createLogger } from '../telemetry/logger.js';
import { TRACER_NAME } from '../telemetry/semconv.js';
import { startTracing } from '../telemetry/tracing.js';
import { sendRegistrations } from './send.js';

// The commands that work on the Kafka side only (KAFKA_*): topics, send, lag.

/** `topics`: creates the input and dead-letter topics when missing. */
export async function topicsCommand(partitions: number): Promise<void> {
  const config = loadKafkaConfig();
  const admin = await createKafkaClients(config, createLogger('warn')).admin();
  try {
    await admin.ensureTopics([
      { name: config.topic, partitions },
      { name: config.dlqTopic, partitions: Math.min(partitions, 3) },
    ]);
  } finally {
    await admin.disconnect();
  }
  console.log(`topics ${config.topic} and ${config.dlqTopic} are in place`);
}

export interface SendCommandOptions {
  readonly count: number;
  readonly rate: number;
  readonly firstId: number;
  readonly seed: number;
  readonly invalid: number;
  readonly progress: boolean;
}

/** `send`: produces generated registrations (traced when OTEL_* say so). */
export async function sendCommand(options: SendCommandOptions): Promise<void> {
  const config = loadKafkaConfig();
  const logger = createLogger('warn');
  const tracing = startTracing(loadTracingConfig(), logger);
  const producer = createKafkaClients(config, logger).producer();
  await producer.connect();
  try {
    const result = await sendRegistrations(producer, {
      ...(tracing.enabled ? { tracer: trace.getTracer(TRACER_NAME) } : {}),
      topic: config.topic,
      count: options.count,
      rate: options.rate,
      firstUserId: options.firstId,
      seed: options.seed,
      invalid: options.invalid,
      progress: options.progress,
    });
    console.log(
      `sent ${result.sent} messages (${result.invalid} invalid) to ${config.topic} in ${result.seconds.toFixed(2)} s (${Math.round(result.sent / Math.max(result.seconds, 0.001))} msg/s)`,
    );
  } finally {
    await producer.disconnect();
    await tracing.shutdown();
  }
}

/** `lag`: prints the group's lag; with `wait`, until it is 0 (exit code 1 at the timeout). */
export async function lagCommand(wait: boolean, timeoutSeconds: number): Promise<number> {
  const config = loadKafkaConfig();
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const { total, lines } = await groupLag(config);
    if (!wait || total === 0) {
      for (const line of lines) console.log(line);
      console.log(`group ${config.groupId} on ${config.topic}: total lag ${total}`);
      return 0;
    }
    if (Date.now() > deadline) {
      for (const line of lines) console.log(line);
      console.error(`lag is still ${total} after the timeout`);
      return 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function groupLag(
  config: KafkaConnectionConfig,
): Promise<{ total: number; lines: string[] }> {
  const admin = await createKafkaClients(config, createLogger('warn')).admin();
  try {
    if ((await admin.missingTopics([config.topic])).length > 0) {
      throw new Error(`topic ${config.topic} does not exist (KAFKA_TOPIC)`);
    }
    let total = 0;
    const lines: string[] = [];
    for (const position of await readGroupPositions(admin, config.groupId, config.topic)) {
      const { partition, end, committed, lag } = position;
      total += lag;
      lines.push(`partition ${partition}: end ${end}, committed ${committed}, lag ${lag}`);
    }
    return { total, lines };
  } finally {
    await admin.disconnect();
  }
}
