// Kafka record headers as they arrive, and how to read one: shared by the Kafka adapter,
// the dead-letter format and the trace-context extraction.

/** A header value as it is on the wire: bytes, or null (Kafka allows a header without value). */
export type HeaderValue = Buffer | null;

/**
 * Headers as decoded: a name sent more than once holds every value, in order. Own properties
 * only: read them with `lastHeader`, never by indexing (a header may be named `toString`).
 */
export type MessageHeaders = Readonly<Record<string, HeaderValue | readonly HeaderValue[]>>;

function isHeaderList(value: unknown): value is readonly HeaderValue[] {
  return Array.isArray(value);
}

/** The last value of header `name`; undefined when the message has no such header. */
export function lastHeader(headers: MessageHeaders, name: string): HeaderValue | undefined {
  if (!Object.hasOwn(headers, name)) return undefined;
  const value = headers[name];
  if (isHeaderList(value)) return value.at(-1) ?? null;
  return value ?? null;
}
