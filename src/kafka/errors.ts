import { describeTlsRefusal, errorMessage, OfferError, tlsRefusalOf } from '../errors.js';

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

/**
 * True when the brokers refused this client for good at connection time: SASL
 * authentication failed, a TLS handshake failed on a certificate (the broker's, untrusted;
 * or this client's, refused or missing), or the broker answered with a non-retriable
 * protocol error (an authorization failure). Start-up stops on these at once instead of
 * retrying them.
 */
export function isKafkaRefusal(error: unknown): boolean {
  return kafkaRefusal(error) !== undefined;
}

function isSaslFailure(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 10 && current instanceof Error; depth += 1) {
    if (current.name === 'KafkaJSSASLAuthenticationError') return true;
    const next = current as { cause?: unknown; originalError?: unknown };
    current = next.cause ?? next.originalError;
  }
  return false;
}

/**
 * The refusal in `error` as a start-up error that names what to change (the settings of the
 * failing part), or undefined when `error` is not one (an outage, which start-up retries).
 */
export function kafkaRefusal(error: unknown): OfferError | undefined {
  const tls = tlsRefusalOf(error);
  let advice: string | undefined;
  if (tls !== undefined) {
    advice = describeTlsRefusal(tls, { prefix: 'KAFKA', tls: 'KAFKA_TLS and KAFKA_BROKERS' });
  } else if (isSaslFailure(error)) {
    advice =
      'check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD against the user on the brokers';
  } else if (isPermanentKafkaError(error)) {
    advice =
      "the brokers' answer does not change on a retry: for an authorization failure, grant the ACLs of the README's rights table to this client's principal (the SASL user, or the certificate's subject with mutual TLS)";
  }
  if (advice === undefined) return undefined;
  return new OfferError(
    'KAFKA_REFUSED',
    `Kafka refused the connection: ${errorMessage(error)}; ${advice}`,
    { retriable: false, cause: error },
  );
}

/** Runs a Kafka call whose refusals (SASL, TLS certificates, authorization) are final. */
export async function refusalsAreFinal<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof OfferError) throw error;
    throw kafkaRefusal(error) ?? error;
  }
}
