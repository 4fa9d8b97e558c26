import type { ConnectionOptions } from 'node:tls';

import { Kafka, logLevel as KafkaLogLevel, type LogEntry, type SASLOptions } from 'kafkajs';

import type { KafkaConnectionConfig } from '../config/config.js';
import type { Logger } from '../telemetry/logger.js';
import { createAdmin } from './admin.js';
import { createConsumer } from './consumer.js';
import { createProducer } from './producer.js';
import type { KafkaClients } from './types.js';

/**
 * The Kafka adapter's front door: the clients the service and its commands use, built on
 * kafkajs from one connection config. The files beside it hold the consumer, the producer,
 * the admin client, the error classification and the codecs.
 */
export * from './types.js';
export {
  isKafkaRefusal,
  isMembershipError,
  isPermanentKafkaError,
  kafkaRefusal,
  refusalsAreFinal,
} from './errors.js';
export { requireTopics } from './admin.js';
export {
  groupPositions,
  readGroupPositions,
  type GroupPositions,
  type PartitionPosition,
} from './lag.js';

const LOG_METHODS: Readonly<Record<number, 'error' | 'warn' | 'info' | 'debug'>> = {
  [KafkaLogLevel.ERROR]: 'error',
  [KafkaLogLevel.WARN]: 'warn',
  [KafkaLogLevel.INFO]: 'info',
  [KafkaLogLevel.DEBUG]: 'debug',
};

/**
 * What a Kafka client connects with: the config's brokers, client id, SASL and TLS (`tls.ca`
 * or the system's CAs; with `cert` and `key`, mutual TLS). None of either when undefined.
 */
export type KafkaConnection = Pick<KafkaConnectionConfig, 'brokers' | 'clientId' | 'sasl' | 'tls'>;

/** kafkajs's `ssl`: Node's TLS options, or true for the system's CAs alone. */
function sslOptions(tls: NonNullable<KafkaConnection['tls']>): true | ConnectionOptions {
  const { ca, cert, key, passphrase } = tls;
  if (ca === undefined && cert === undefined) return true;
  return {
    ...(ca === undefined ? {} : { ca: [ca] }),
    ...(cert === undefined ? {} : { cert }),
    ...(key === undefined ? {} : { key }),
    ...(passphrase === undefined ? {} : { passphrase }),
  };
}

function saslOptions(sasl: NonNullable<KafkaConnection['sasl']>): SASLOptions {
  const { username, password } = sasl;
  switch (sasl.mechanism) {
    case 'plain':
      return { mechanism: 'plain', username, password };
    case 'scram-sha-256':
      return { mechanism: 'scram-sha-256', username, password };
    case 'scram-sha-512':
      return { mechanism: 'scram-sha-512', username, password };
  }
}

export function createKafkaClients(connection: KafkaConnection, logger: Logger): KafkaClients {
  const kafkaLogger = logger.child({ component: 'kafkajs' });
  const { sasl, tls } = connection;
  // kafkajs retries connecting with the client's retry settings, whatever an admin client's
  // own say: a caller that retries itself gets a client that does not.
  const client = (retries?: number): Kafka =>
    new Kafka({
      clientId: connection.clientId,
      brokers: [...connection.brokers],
      ...(tls === undefined ? {} : { ssl: sslOptions(tls) }),
      ...(sasl === undefined ? {} : { sasl: saslOptions(sasl) }),
      ...(retries === undefined ? {} : { retry: { retries } }),
      logLevel: KafkaLogLevel.WARN,
      logCreator:
        () =>
        ({ level, log }: LogEntry) => {
          const { message, ...extra } = log;
          kafkaLogger[LOG_METHODS[level] ?? 'info'](extra, message);
        },
    });
  const kafka = client();
  return {
    consumer: (options, events = {}) => createConsumer(kafka, options, events, kafkaLogger),
    producer: () => createProducer(kafka),
    admin: (options = {}) =>
      options.attempts === undefined
        ? createAdmin(kafka)
        : createAdmin(client(options.attempts - 1)),
  };
}
