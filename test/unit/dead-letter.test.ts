import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import type { InboundMessage, OutboundMessage } from '../../src/kafka/kafka-adapter.js';
import {
  deadLetterMessage,
  DLQ_HEADERS,
  HEADERS_KEPT_BYTES,
  KEY_KEPT_BYTES,
  recordBytes,
  sendGroups,
  TOO_LARGE_KEPT_BYTES,
} from '../../src/sinks/dead-letter.js';

const SOURCE = { topic: 'regs', partition: 4, groupId: 'offers' };
const NOT_JSON = { reason: 'not_json', detail: 'the value is not valid UTF-8' } as const;

function inbound(fields: Partial<InboundMessage>): InboundMessage {
  return { key: null, value: null, offset: '17', timestampMs: 0, headers: {}, ...fields };
}

describe('deadLetterMessage', () => {
  it('keeps the original bytes, key and headers and adds the error context', () => {
    const value = Buffer.from([0x7b, 0xff]);
    const message = deadLetterMessage(
      inbound({ key: Buffer.from('k1'), value, headers: { traceparent: Buffer.from('00-abc') } }),
      SOURCE,
      NOT_JSON,
    );
    assert.equal(message.value, value);
    assert.deepEqual(message.key, Buffer.from('k1'));
    const headers = message.headers ?? {};
    assert.deepEqual(headers.traceparent, Buffer.from('00-abc'));
    assert.equal(headers[DLQ_HEADERS.topic], 'regs');
    assert.equal(headers[DLQ_HEADERS.partition], '4');
    assert.equal(headers[DLQ_HEADERS.offset], '17');
    assert.equal(headers[DLQ_HEADERS.connectorName], 'offers');
    assert.equal(headers[DLQ_HEADERS.consumerGroup], 'offers');
    assert.equal(headers[DLQ_HEADERS.reason], 'not_json');
    assert.equal(headers[DLQ_HEADERS.exceptionMessage], 'the value is not valid UTF-8');
    assert.equal(headers[DLQ_HEADERS.exceptionClass], 'InvalidRegistration.not_json');
    for (const name of [
      DLQ_HEADERS.valueTruncated,
      DLQ_HEADERS.keyTruncated,
      DLQ_HEADERS.headersDropped,
    ]) {
      assert.equal(name in headers, false, `${name} only when something was cut`);
    }
  });

  it('keeps repeated header names with every value in order, and null values', () => {
    const message = deadLetterMessage(
      inbound({
        value: Buffer.from('x'),
        headers: {
          trace: [Buffer.from('a'), null, Buffer.from('c')],
          nothing: null,
          toString: Buffer.from('not the prototype'),
        },
      }),
      SOURCE,
      NOT_JSON,
    );
    const headers = message.headers ?? {};
    assert.deepEqual(headers.trace, [Buffer.from('a'), null, Buffer.from('c')]);
    assert.equal(headers.nothing, null);
    assert.ok(Object.hasOwn(headers, 'nothing'));
    assert.deepEqual(
      Object.getOwnPropertyDescriptor(headers, 'toString')?.value,
      Buffer.from('not the prototype'),
    );
  });

  it('drops headers beyond its budget and says how many, keeping the ones that fit', () => {
    const big = Buffer.alloc(HEADERS_KEPT_BYTES + 1, 0x61);
    const message = deadLetterMessage(
      inbound({
        value: Buffer.from('x'),
        headers: { small: Buffer.from('s'), huge: big, after: [Buffer.from('1'), big] },
      }),
      SOURCE,
      NOT_JSON,
    );
    const headers = message.headers ?? {};
    assert.deepEqual(headers.small, Buffer.from('s'));
    assert.equal('huge' in headers, false);
    assert.deepEqual(headers.after, Buffer.from('1'));
    // 'huge' and one value of 'after': names and values, in bytes.
    const droppedBytes = 'huge'.length + big.length + 'after'.length + big.length;
    assert.equal(headers[DLQ_HEADERS.headersDropped], `2 values, ${droppedBytes} bytes`);
  });

  it('cuts a huge key and, for every reason, a value that would not fit the DLQ topic', () => {
    const key = Buffer.alloc(KEY_KEPT_BYTES * 2, 0x6b);
    const value = Buffer.alloc(300_000, 0x20);
    const maxMessageBytes = 100_000;
    const message = deadLetterMessage(inbound({ key, value }), SOURCE, NOT_JSON, maxMessageBytes);
    const headers = message.headers ?? {};
    assert.equal((message.key as Buffer).length, KEY_KEPT_BYTES);
    assert.equal(headers[DLQ_HEADERS.keyTruncated], String(key.length));
    assert.equal(headers[DLQ_HEADERS.valueTruncated], String(value.length));
    const size = recordBytes(message);
    assert.ok(size <= maxMessageBytes, `the dead letter (${size} bytes) fits the topic`);
    assert.ok(size > maxMessageBytes - 1_000, `and keeps as much of the value as fits (${size})`);
  });

  it('keeps only the head of a too_large value', () => {
    const value = Buffer.alloc(2 * TOO_LARGE_KEPT_BYTES, 0x20);
    const message = deadLetterMessage(inbound({ value }), SOURCE, {
      reason: 'too_large',
      detail: 'too large',
    });
    assert.equal((message.value as Buffer).length, TOO_LARGE_KEPT_BYTES);
    assert.equal(message.headers?.[DLQ_HEADERS.valueTruncated], String(value.length));
  });
});

describe('sendGroups', () => {
  it('splits dead letters so that each send fits the topic limit, in order', () => {
    const letters: OutboundMessage[] = Array.from({ length: 25 }, (_, index) => ({
      key: String(index),
      value: Buffer.alloc(10_000),
    }));
    const groups = sendGroups(letters, 50_000);
    assert.deepEqual(groups.flat(), letters);
    assert.ok(groups.length >= 6);
    for (const group of groups) {
      const bytes = group.reduce((sum, letter) => sum + recordBytes(letter), 0);
      assert.ok(bytes <= 50_000, `a send of ${bytes} bytes`);
    }
  });
});
