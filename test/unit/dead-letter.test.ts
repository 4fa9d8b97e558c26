import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { deadLetterMessage, DLQ_HEADERS } from '../../src/pipeline/dead-letter.js';

describe('deadLetterMessage', () => {
  it('keeps the original bytes, key and headers and adds the error context', () => {
    const value = Buffer.from([0x7b, 0xff]);
    const message = deadLetterMessage(
      {
        key: Buffer.from('k1'),
        value,
        offset: '17',
        timestampMs: 0,
        headers: { traceparent: Buffer.from('00-abc'), empty: undefined },
      },
      { topic: 'regs', partition: 4, groupId: 'offers' },
      { reason: 'not_json', detail: 'the value is not valid UTF-8' },
    );
    assert.equal(message.value, value);
    assert.deepEqual(message.key, Buffer.from('k1'));
    const headers = message.headers ?? {};
    assert.deepEqual(headers.traceparent, Buffer.from('00-abc'));
    assert.equal('empty' in headers, false);
    assert.equal(headers[DLQ_HEADERS.topic], 'regs');
    assert.equal(headers[DLQ_HEADERS.partition], '4');
    assert.equal(headers[DLQ_HEADERS.offset], '17');
    assert.equal(headers[DLQ_HEADERS.connectorName], 'offers');
    assert.equal(headers[DLQ_HEADERS.consumerGroup], 'offers');
    assert.equal(headers[DLQ_HEADERS.reason], 'not_json');
    assert.equal(headers[DLQ_HEADERS.exceptionMessage], 'the value is not valid UTF-8');
    assert.equal(headers[DLQ_HEADERS.exceptionClass], 'InvalidRegistration.not_json');
  });
});
