import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createLogger } from '../../src/telemetry/logger.js';
import { diagnosticsLogger } from '../../src/telemetry/tracing.js';

/** The JSON lines a logger writes, parsed. */
function capturingLogger(): {
  lines: Record<string, unknown>[];
  logger: ReturnType<typeof createLogger>;
} {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger('trace', 'test', {
    write: (line: string) => {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    },
  });
  return { lines, logger };
}

describe("OpenTelemetry's diagnostics as log lines", () => {
  it('an Error argument becomes a structured err with its type, message and stack', () => {
    const { lines, logger } = capturingLogger();
    const cause = new TypeError('connect ECONNREFUSED 127.0.0.1:4318');
    diagnosticsLogger(logger).error('OTLPExporterError', cause);
    assert.equal(lines.length, 1);
    const line = lines[0];
    assert.ok(line);
    assert.equal(line.level, 'error');
    assert.equal(line.msg, 'OTLPExporterError');
    assert.equal(line.component, 'opentelemetry');
    const err = line.err as Record<string, unknown>;
    assert.equal(err.type, 'TypeError');
    assert.equal(err.message, 'connect ECONNREFUSED 127.0.0.1:4318');
    assert.match(String(err.stack), /^TypeError: connect ECONNREFUSED/);
    assert.equal(line.args, undefined);
  });

  it('other arguments are kept as values, further errors serialised too', () => {
    const { lines, logger } = capturingLogger();
    diagnosticsLogger(logger).warn(
      'export retry',
      { attempt: 2 },
      new Error('first'),
      'text',
      new RangeError('second'),
    );
    const line = lines[0];
    assert.ok(line);
    assert.equal(line.level, 'warn');
    assert.deepEqual(line.args, [{ attempt: 2 }, 'text']);
    assert.equal((line.err as Record<string, unknown>).message, 'first');
    const errors = line.errors as Record<string, unknown>[];
    assert.equal(errors.length, 1);
    const [second] = errors;
    assert.ok(second);
    assert.equal(second.type, 'RangeError');
    assert.equal(second.message, 'second');
  });

  it('every level maps to a pino level', () => {
    const { lines, logger } = capturingLogger();
    const diagnostics = diagnosticsLogger(logger);
    diagnostics.error('e');
    diagnostics.warn('w');
    diagnostics.info('i');
    diagnostics.debug('d');
    diagnostics.verbose('v');
    assert.deepEqual(
      lines.map((line) => [line.level, line.msg]),
      [
        ['error', 'e'],
        ['warn', 'w'],
        ['info', 'i'],
        ['debug', 'd'],
        ['trace', 'v'],
      ],
    );
  });
});
