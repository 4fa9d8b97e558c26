/**
 * Attribute names of the spans this service writes, in one place. Names follow the
 * OpenTelemetry semantic conventions (messaging, database); `offers.*` are our own.
 */
export const ATTR = {
  messagingSystem: 'messaging.system',
  messagingOperationType: 'messaging.operation.type',
  messagingOperationName: 'messaging.operation.name',
  messagingDestination: 'messaging.destination.name',
  messagingPartition: 'messaging.destination.partition.id',
  messagingConsumerGroup: 'messaging.consumer.group.name',
  messagingBatchCount: 'messaging.batch.message_count',
  kafkaOffset: 'messaging.kafka.offset',
  kafkaMessageKey: 'messaging.kafka.message.key',
  dbSystem: 'db.system',
  dbSystemName: 'db.system.name',
  dbCollection: 'db.collection.name',
  dbOperation: 'db.operation.name',
  dbBatchSize: 'db.operation.batch.size',
  userId: 'user.id',
  errorType: 'error.type',
  rejectionReason: 'offers.rejection.reason',
  modelVersion: 'offers.model.version',
  batchSize: 'offers.batch.size',
  batchId: 'offers.batch.id',
  redisKey: 'offers.redis.key',
  sink: 'offers.sink',
  retryAttempt: 'offers.retry.attempt',
  retryDelayMs: 'offers.retry.delay_ms',
} as const;

export const TRACER_NAME = 'realtime-offers';
