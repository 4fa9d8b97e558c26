import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { before, describe, it } from 'node:test';

import { createClient } from '@clickhouse/client';

import { startInfra, type InfraEnv } from '../support/infra.js';
import { fatalMessage, runCli } from '../support/service.js';

const UNREACHABLE = {
  KAFKA_BROKERS: '127.0.0.1:1',
  CLICKHOUSE_URL: 'http://127.0.0.1:1',
  REDIS_URL: 'redis://127.0.0.1:1',
  // The HTTP server listens before anything else starts: on a free port of loopback.
  HTTP_HOST: '127.0.0.1',
  HTTP_PORT: '0',
};
const COMMANDS = ['consume', 'migrate', 'replay', 'topics', 'send', 'lag', 'smoke'] as const;

describe('CLI start-up errors', () => {
  it('consume exits 1 with one JSON line naming each bad variable and its allowed values', async () => {
    const result = await runCli(['consume'], {
      ...UNREACHABLE,
      LOG_LEVEL: 'chatty',
      KAFKA_OFFSET_RESET: 'middle',
    });
    assert.equal(result.code, 1);
    const message = fatalMessage(result.stderr);
    assert.match(
      message,
      /LOG_LEVEL \("chatty"\): must be one of fatal, error, warn, info, debug, trace, silent/,
    );
    assert.match(message, /KAFKA_OFFSET_RESET \("middle"\): must be one of earliest, latest/);
  });

  it('consume exits 1 with a clear message when the model file is missing', async () => {
    const result = await runCli(['consume'], {
      ...UNREACHABLE,
      MODEL_PATH: 'model/does-not-exist.onnx',
    });
    assert.equal(result.code, 1);
    assert.match(fatalMessage(result.stderr), /cannot read model .*does-not-exist\.onnx/);
  });
});

describe('CLI usage', () => {
  it('answers --help and -h of every command with its usage, starting nothing', async () => {
    // No configuration at all: a command that started would fail on it.
    for (const command of COMMANDS) {
      for (const flag of ['--help', '-h']) {
        const result = await runCli([command, flag], {});
        assert.equal(result.code, 0, `${command} ${flag}: ${result.stderr}`);
        assert.match(result.stdout, new RegExp(`^Usage: realtime-offers ${command} `), command);
        assert.equal(result.stderr, '', `${command} ${flag} wrote to stderr`);
      }
    }
    const help = await runCli(['--help'], {});
    assert.equal(help.code, 0);
    for (const command of COMMANDS) assert.match(help.stdout, new RegExp(`\\n  ${command}\\b`));
  });

  it('prints the version of the package and the Node.js it runs on with --version', async () => {
    const { version } = JSON.parse(await readFile('package.json', 'utf8')) as { version: string };
    const pinned = (await readFile('.node-version', 'utf8')).trim();
    const result = await runCli(['--version'], {});
    assert.equal(result.code, 0);
    assert.equal(result.stdout.trim(), `${version} (Node.js ${pinned})`);
  });

  it('exits 2 on an unknown command, an unknown option or a bad value, naming it', async () => {
    const unknown = await runCli(['frobnicate'], {});
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'frobnicate'/);
    const option = await runCli(['send', '--cuont', '5'], UNREACHABLE);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /unknown option '--cuont'/);
    const negative = await runCli(['send', '--count', '-5'], UNREACHABLE);
    assert.equal(negative.code, 2);
    assert.match(
      negative.stderr,
      /'--count <n>' argument '-5' is invalid\. must be a whole number >= 0/,
    );
    const none = await runCli([], {});
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^Usage: realtime-offers /);
  });
});

describe('CLI against a real Kafka', () => {
  let infra: InfraEnv;
  before(async () => {
    infra = await startInfra();
  });

  it('consume with REDIS_MODE=cluster against one Redis exits 1 at once naming why', async () => {
    // ClickHouse is checked first: a table of this test's own, created at start.
    const table = `cli_redis_mode_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
    try {
      const result = await runCli(['consume'], {
        KAFKA_BROKERS: infra.kafkaBrokers.join(','),
        CLICKHOUSE_URL: infra.clickhouseUrl,
        CLICKHOUSE_USER: infra.clickhouseUser,
        CLICKHOUSE_PASSWORD: infra.clickhousePassword,
        CLICKHOUSE_TABLE: table,
        CLICKHOUSE_CREATE_TABLE: 'true',
        REDIS_URL: infra.redisUrl,
        REDIS_MODE: 'cluster',
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: '0',
      });
      assert.equal(result.code, 1);
      assert.match(fatalMessage(result.stderr), /cluster support disabled/);
    } finally {
      const client = createClient({
        url: infra.clickhouseUrl,
        username: infra.clickhouseUser,
        password: infra.clickhousePassword,
      });
      await client.command({ query: `DROP TABLE IF EXISTS default.${table}` });
      await client.close();
    }
  });

  it('lag on a topic that does not exist says so', async () => {
    const result = await runCli(['lag'], {
      KAFKA_BROKERS: infra.kafkaBrokers.join(','),
      KAFKA_TOPIC: 'no-such-topic-for-lag',
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /topic no-such-topic-for-lag does not exist/);
  });
});
