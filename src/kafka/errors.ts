// What kafkajs's errors mean for the service, decided from the broker's error type in the
// cause chain, never from message text.

/** The deepest kafkajs protocol error (the broker's answer) in an error's cause chain. */
function protocolErrorOf(error: unknown): { type?: unknown; retriable?: unknown } | undefined {
  let current: unknown = error;
  let protocol: { type?: unknown; retriable?: unknown } | undefined;
  for (let depth = 0; depth < 10 && current instanceof Error; depth += 1) {
    if (current.name === 'KafkaJSProtocolError') protocol = current as { retriable?: unknown };
    current = (current as { cause?: unknown }).cause;
  }
  return protocol;
}

/**
 * True when the broker refused a request in a way no retry can change: the deepest kafkajs
 * protocol error in the cause chain is not retriable (TOPIC_AUTHORIZATION_FAILED,
 * MESSAGE_TOO_LARGE, ...). kafkajs wraps retriable errors it gave up on (a deleted topic's
 * UNKNOWN_TOPIC_OR_PARTITION, a broker that is down) in a "non-retriable" error too, so the
 * outer flag alone says nothing.
 */
export function isPermanentKafkaError(error: unknown): boolean {
  return protocolErrorOf(error)?.retriable === false && !isMembershipError(error);
}

// The group coordinator's ways of saying "this member's generation is over": it was evicted
// (session expired, e.g. a network cut or a batch longer than the session timeout), the group
// is rebalancing, or the coordinator moved. kafkajs re-joins on its own once its fetch loop or
// heartbeat sees them; a commit or heartbeat made during a batch must not turn them into a crash.
const MEMBERSHIP_ERRORS: ReadonlySet<unknown> = new Set([
  'UNKNOWN_MEMBER_ID',
  'ILLEGAL_GENERATION',
  'REBALANCE_IN_PROGRESS',
  'FENCED_INSTANCE_ID',
  'NOT_COORDINATOR',
  'NOT_COORDINATOR_FOR_GROUP',
  'COORDINATOR_NOT_AVAILABLE',
  'GROUP_COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'GROUP_LOAD_IN_PROGRESS',
]);

export function isMembershipError(error: unknown): boolean {
  return MEMBERSHIP_ERRORS.has(protocolErrorOf(error)?.type);
}

export function isUnknownTopic(error: unknown): boolean {
  return protocolErrorOf(error)?.type === 'UNKNOWN_TOPIC_OR_PARTITION';
}

// TLS verification failures (Node's codes, which kafkajs keeps on its connection errors):
// the broker's certificate is not one this client will ever trust as configured.
const TLS_REFUSALS: ReadonlySet<unknown> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * True when the brokers refused this client for good at connection time: SASL
 * authentication failed, the broker's certificate is not trusted, or the broker answered
 * with a non-retriable protocol error (an authorization failure). Start-up stops on these
 * at once instead of retrying them.
 */
export function isKafkaRefusal(error: unknown): boolean {
  if (isPermanentKafkaError(error)) return true;
  let current: unknown = error;
  for (let depth = 0; depth < 10 && current instanceof Error; depth += 1) {
    if (current.name === 'KafkaJSSASLAuthenticationError') return true;
    if (TLS_REFUSALS.has((current as { code?: unknown }).code)) return true;
    const next = current as { cause?: unknown; originalError?: unknown };
    current = next.cause ?? next.originalError;
  }
  return false;
}
