import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { OfferError } from '../../src/errors.js';
import { backoffDelay, decideFailure } from '../../src/pipeline/failure-policy.js';
import { toClickHouseFailure } from '../../src/sinks/clickhouse-client.js';
import { toRedisFailure } from '../../src/sinks/redis-sink.js';
import { ClickHouseError } from '@clickhouse/client';
import { ReplyError as UntypedReplyError } from 'ioredis';

// ioredis re-exports redis-errors' ReplyError without a constructor type.
const ReplyError = UntypedReplyError as new (message: string) => Error;

describe('decideFailure', () => {
  it('retries retriable errors, abandons aborted work, redelivers the unexpected, stops on the rest', () => {
    assert.equal(decideFailure(new OfferError('REDIS_FAILED', 'x', { retriable: true })), 'retry');
    assert.equal(decideFailure(new OfferError('ABORTED', 'x', { retriable: false })), 'abandon');
    assert.equal(
      decideFailure(new OfferError('CLICKHOUSE_FAILED', 'x', { retriable: false })),
      'fatal',
    );
    assert.equal(decideFailure(new TypeError('bug')), 'redeliver');
  });

  it('classifies ClickHouse errors by server error type', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8123'), {
      code: 'ECONNREFUSED',
    });
    assert.equal(toClickHouseFailure(refused, 'insert').retriable, true);
    const overloaded = new ClickHouseError({
      message: 'Too many parts',
      code: '252',
      type: 'TOO_MANY_PARTS',
    });
    assert.equal(toClickHouseFailure(overloaded, 'insert').retriable, true);
    const missing = new ClickHouseError({
      message: 'Table default.x does not exist',
      code: '60',
      type: 'UNKNOWN_TABLE',
    });
    const failure = toClickHouseFailure(missing, 'insert');
    assert.equal(failure.retriable, false);
    assert.equal(failure.code, 'CLICKHOUSE_FAILED');
    assert.equal(failure.cause, missing);
    // ClickHouse 18.16 answers with a plain error whose text starts with the code.
    const old = new Error(
      "Code: 60, e.displayText() = DB::Exception: Table default.x doesn't exist.",
    );
    assert.equal(toClickHouseFailure(old, 'insert').retriable, false);
    const oldOverloaded = new Error('Code: 252, e.displayText() = DB::Exception: Too many parts');
    assert.equal(toClickHouseFailure(oldOverloaded, 'insert').retriable, true);
  });

  it('classifies Redis errors: connection problems and LOADING retry, script bugs do not', () => {
    assert.equal(toRedisFailure(new Error('Connection is closed.'), 'write').retriable, true);
    assert.equal(
      toRedisFailure(new ReplyError('LOADING Redis is loading'), 'write').retriable,
      true,
    );
    assert.equal(
      toRedisFailure(new ReplyError('WRONGTYPE Operation against a key'), 'write').retriable,
      false,
    );
  });
});

// The classification table of the README: what a retry can fix is retried with backpressure.
const CLICKHOUSE_CODES: readonly [number, string, boolean][] = [
  [159, 'TIMEOUT_EXCEEDED', true],
  [202, 'TOO_MANY_SIMULTANEOUS_QUERIES', true],
  [209, 'SOCKET_TIMEOUT', true],
  [210, 'NETWORK_ERROR', true],
  [225, 'NO_ZOOKEEPER', true],
  [241, 'MEMORY_LIMIT_EXCEEDED', true],
  [242, 'TABLE_IS_READ_ONLY', true],
  [252, 'TOO_MANY_PARTS', true],
  [16, 'NO_SUCH_COLUMN_IN_TABLE', false],
  [27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED', false],
  [53, 'TYPE_MISMATCH', false],
  [60, 'UNKNOWN_TABLE', false],
  [81, 'UNKNOWN_DATABASE', false],
  [164, 'READONLY', false],
  [192, 'UNKNOWN_USER', false],
  [193, 'WRONG_PASSWORD', false],
  [291, 'DATABASE_ACCESS_DENIED', false],
  [497, 'ACCESS_DENIED', false],
  [516, 'AUTHENTICATION_FAILED', false],
];

const REDIS_REPLIES: readonly [string, boolean][] = [
  ['LOADING Redis is loading the dataset in memory', true],
  ['BUSY Redis is busy running a script', true],
  ["OOM command not allowed when used memory > 'maxmemory'.", true],
  [
    'MISCONF Redis is configured to save RDB snapshots, but it is currently unable to persist',
    true,
  ],
  ['NOREPLICAS Not enough good replicas to write.', true],
  ["READONLY You can't write against a read only replica.", true],
  ['MASTERDOWN Link with MASTER is down', true],
  ['TRYAGAIN Multiple keys request during rehashing of slot', true],
  ['CLUSTERDOWN The cluster is down', true],
  ['MOVED 3999 127.0.0.1:6381', true],
  ['ASK 3999 127.0.0.1:6381', true],
  ['NOSCRIPT No matching script.', true],
  ['WRONGPASS invalid username-password pair or user is disabled.', false],
  ['NOPERM this user has no permissions to run the evalsha command', false],
  ['WRONGTYPE Operation against a key holding the wrong kind of value', false],
  ["ERR unknown command 'evalsha'", false],
];

describe('sink error classification', () => {
  for (const [code, type, retriable] of CLICKHOUSE_CODES) {
    it(`ClickHouse ${code} ${type}: ${retriable ? 'retried' : 'fatal'}`, () => {
      const current = new ClickHouseError({ message: type, code: String(code), type });
      const old = new Error(`Code: ${code}, e.displayText() = DB::Exception: ${type}`);
      assert.equal(toClickHouseFailure(current, 'insert').retriable, retriable);
      assert.equal(toClickHouseFailure(old, 'insert').retriable, retriable);
    });
  }
  for (const [reply, retriable] of REDIS_REPLIES) {
    it(`Redis ${reply.split(' ')[0] ?? ''}: ${retriable ? 'retried' : 'fatal'}`, () => {
      assert.equal(toRedisFailure(new ReplyError(reply), 'write').retriable, retriable);
    });
  }
});

describe('backoffDelay', () => {
  it('doubles from the initial delay up to the cap, jittered in the upper half', () => {
    const lowest = () => 0;
    const highest = () => 1;
    assert.equal(backoffDelay(0, 100, 5_000, highest), 100);
    assert.equal(backoffDelay(0, 100, 5_000, lowest), 50);
    assert.equal(backoffDelay(3, 100, 5_000, highest), 800);
    assert.equal(backoffDelay(10, 100, 5_000, highest), 5_000);
    assert.equal(backoffDelay(1_000, 100, 5_000, lowest), 2_500);
  });
});
