import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { isOfferError, OfferError, tlsRefusalOf } from '../../src/errors.js';
import { isKafkaRefusal, kafkaRefusal } from '../../src/kafka/kafka-adapter.js';
import { toClickHouseFailure } from '../../src/sinks/clickhouse-client.js';
import { connectAttempt } from '../../src/sinks/redis-sink.js';
import { networkPolicyHint, StartupWindow } from '../../src/service/startup.js';
import { createLogger } from '../../src/telemetry/logger.js';

/** A clock that only moves when the window waits. */
function fakeClock(): { now: () => number; wait: (ms: number) => Promise<void>; waits: number[] } {
  let time = 0;
  const waits: number[] = [];
  return {
    now: () => time,
    wait: (ms) => {
      waits.push(ms);
      time += ms;
      return Promise.resolve();
    },
    waits,
  };
}

const quiet = createLogger('silent');

describe('StartupWindow', () => {
  it('retries a store that fails for now until it answers, backing off', async () => {
    const clock = fakeClock();
    const window = new StartupWindow(60_000, quiet, clock);
    let attempts = 0;
    const value = await window.ready('Redis', () => {
      attempts += 1;
      return attempts < 5 ? Promise.reject(new Error('ECONNREFUSED')) : Promise.resolve('up');
    });
    assert.equal(value, 'up');
    assert.equal(attempts, 5);
    assert.deepEqual(clock.waits, [500, 1_000, 2_000, 4_000]);
  });

  it('stops at once on a refusal no retry can change', async () => {
    const clock = fakeClock();
    const window = new StartupWindow(60_000, quiet, clock);
    const refusal = new OfferError('REDIS_FAILED', 'WRONGPASS', { retriable: false });
    await assert.rejects(
      window.ready('Redis', () => Promise.reject(refusal)),
      refusal,
    );
    assert.deepEqual(clock.waits, []);
  });

  it('stops when the window closes, naming the store, the variable and the last error', async () => {
    const clock = fakeClock();
    const window = new StartupWindow(10_000, quiet, clock);
    await assert.rejects(
      window.ready('ClickHouse', () => Promise.reject(new Error('connect ECONNREFUSED'))),
      (error: unknown) => {
        assert.ok(isOfferError(error, 'STARTUP_TIMEOUT'));
        assert.equal(error.retriable, false);
        assert.match(
          error.message,
          /^ClickHouse was not ready within 10 s of start \(STARTUP_TIMEOUT_MS\): connect ECONNREFUSED$/,
        );
        return true;
      },
    );
    assert.equal(
      clock.waits.reduce((sum, ms) => sum + ms, 0),
      10_000,
      'waited the whole window, not past it',
    );
  });

  it('says, when asked, that a NetworkPolicy may be why a store timed out', async () => {
    const window = new StartupWindow(1_000, quiet, fakeClock(), networkPolicyHint);
    await assert.rejects(
      window.ready('Redis', () => Promise.reject(new Error('connect ETIMEDOUT'))),
      /Redis was not ready within 1 s of start \(STARTUP_TIMEOUT_MS\): connect ETIMEDOUT; a NetworkPolicy limits this pod's egress \(NETWORK_POLICY_ENABLED=true\): with the chart's, Redis is reachable only on the ports of networkPolicy\.redis\.ports/,
    );
  });

  it('shares one window among the stores', async () => {
    const clock = fakeClock();
    const window = new StartupWindow(5_000, quiet, clock);
    let first = 0;
    await window.ready('Kafka', () =>
      ++first < 3 ? Promise.reject(new Error('x')) : Promise.resolve(),
    );
    await assert.rejects(
      window.ready('Redis', () => Promise.reject(new Error('y'))),
      /Redis was not ready within 5 s/,
    );
    assert.equal(clock.now(), 5_000);
  });
});

describe('isKafkaRefusal', () => {
  const wrapped = (inner: Error): Error => {
    const outer = new Error(`outer: ${inner.message}`);
    outer.name = 'KafkaJSNonRetriableError';
    (outer as { originalError?: unknown }).originalError = inner;
    return outer;
  };

  it('is true for a failed SASL authentication and an untrusted broker certificate', () => {
    const sasl = new Error('SASL SCRAM SHA512 authentication failed: invalid credentials');
    sasl.name = 'KafkaJSSASLAuthenticationError';
    assert.ok(isKafkaRefusal(sasl));
    assert.ok(isKafkaRefusal(wrapped(sasl)));
    const tls = Object.assign(new Error('Connection error: self-signed certificate'), {
      name: 'KafkaJSConnectionError',
      code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
    });
    assert.ok(isKafkaRefusal(wrapped(tls)));
  });

  it('is false for a broker that is not there (yet)', () => {
    const refused = Object.assign(new Error('Connection error: connect ECONNREFUSED'), {
      name: 'KafkaJSConnectionError',
      code: 'ECONNREFUSED',
    });
    assert.ok(!isKafkaRefusal(refused));
    assert.ok(!isKafkaRefusal(wrapped(refused)));
  });
});

describe('TLS refusals', () => {
  const tlsError = (code: string): Error =>
    Object.assign(new Error(`handshake failed (${code})`), { code });

  it('tells the untrusted server certificate, the refused client certificate and no TLS apart', () => {
    assert.deepEqual(tlsRefusalOf(tlsError('SELF_SIGNED_CERT_IN_CHAIN')), {
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
      side: 'server-certificate',
    });
    assert.equal(
      tlsRefusalOf(new Error('x', { cause: tlsError('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED') }))
        ?.side,
      'client-certificate',
    );
    assert.equal(
      tlsRefusalOf(new AggregateError([tlsError('ERR_SSL_WRONG_VERSION_NUMBER')]))?.side,
      'protocol',
    );
    assert.equal(tlsRefusalOf(tlsError('ECONNREFUSED')), undefined);
  });

  it('is final for each store and names its setting', async () => {
    const kafka = kafkaRefusal(
      Object.assign(tlsError('ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE'), {
        name: 'KafkaJSConnectionError',
      }),
    );
    assert.equal(kafka?.retriable, false);
    assert.match(kafka.message, /KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE/);
    const clickhouse = toClickHouseFailure(tlsError('UNABLE_TO_VERIFY_LEAF_SIGNATURE'), 'check');
    assert.equal(clickhouse.retriable, false);
    assert.match(clickhouse.message, /not trusted .*CLICKHOUSE_TLS_CA_FILE/);
    const client = {
      status: 'wait',
      connect: () => Promise.reject(new Error('Connection is closed.')),
    };
    await assert.rejects(
      connectAttempt(client, 'connection', () => [tlsError('DEPTH_ZERO_SELF_SIGNED_CERT')]),
      (error: unknown) => {
        assert.ok(isOfferError(error, 'REDIS_FAILED'));
        assert.equal(error.retriable, false);
        assert.match(error.message, /not trusted .*REDIS_TLS_CA_FILE/);
        return true;
      },
    );
    // An outage stays retriable.
    await assert.rejects(
      connectAttempt(client, 'connection', () => [tlsError('ECONNREFUSED')]),
      (error: unknown) => isOfferError(error) && error.retriable,
    );
  });
});
