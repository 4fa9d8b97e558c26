import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { lint, template } from './support.js';

/** values.schema.json (and the chart's cross-field checks) reject wrong values early. */
const REJECTED: readonly {
  readonly what: string;
  readonly set: string;
  readonly message: RegExp;
}[] = [
  {
    what: 'an unknown top-level key',
    set: 'replicas=3',
    message: /additional properties|replicas/i,
  },
  { what: 'a wrong type', set: 'autoscaling.maxReplicas=ten', message: /maxReplicas/ },
  { what: 'a negative replica count', set: 'replicaCount=-1', message: /replicaCount/ },
  { what: 'a value outside an enum', set: 'kafka.offsetReset=middle', message: /offsetReset/ },
  { what: 'a log level the service does not know', set: 'logLevel=verbose', message: /logLevel/ },
  { what: 'an unknown key in a nested object', set: 'kafka.partitions=12', message: /kafka/ },
  { what: 'a broker list that is not host:port', set: 'kafka.brokers=kafka', message: /brokers/ },
  {
    what: 'a ClickHouse URL that is not http(s)',
    set: 'clickhouse.url=tcp://ch:9000',
    message: /url/,
  },
  {
    what: 'a SASL mechanism the service does not support',
    set: 'kafka.sasl.mechanism=gssapi',
    message: /mechanism/,
  },
  { what: 'a privileged HTTP port', set: 'http.port=80', message: /port/ },
  {
    what: 'a pull policy Kubernetes does not know',
    set: 'image.pullPolicy=Sometimes',
    message: /pullPolicy/,
  },
  { what: 'a sampler ratio above 1', set: 'otel.tracesSamplerArg=2', message: /tracesSamplerArg/ },
  { what: 'a boolean as a string', set: 'autoscaling.enabled=yes', message: /enabled/ },
  {
    what: 'a startup probe period of 0',
    set: 'startupProbe.periodSeconds=0',
    message: /periodSeconds/,
  },
  {
    what: 'an image registry with a scheme',
    set: 'image.registry=https://registry.example.com',
    message: /registry/,
  },
  {
    what: 'an alert the rules do not have',
    set: 'monitoring.prometheusRule.alerts.OffersUnknown.enabled=false',
    message: /alerts/,
  },
  { what: 'a scrape interval without a unit', set: 'podMonitor.interval=30', message: /interval/ },
];

describe('chart: values.schema.json', () => {
  for (const { what, set, message } of REJECTED) {
    it(`rejects ${what} (--set ${set})`, () => {
      const rendered = template([], [set]);
      assert.notEqual(rendered.status, 0, `helm template accepted --set ${set}`);
      assert.match(rendered.stderr, message);
      const linted = lint([], [set]);
      assert.notEqual(linted.status, 0, `helm lint accepted --set ${set}`);
    });
  }

  it('rejects SASL without credentials, and a dead-letter topic equal to the input', () => {
    const sasl = template([], ['kafka.sasl.enabled=true']);
    assert.notEqual(sasl.status, 0);
    assert.match(sasl.stderr, /existingSecret/);
    const dlq = template([], ['kafka.dlqTopic=streaming-user-registration']);
    assert.notEqual(dlq.status, 0);
    assert.match(dlq.stderr, /dlqTopic must differ/);
  });

  it('accepts the values it documents', () => {
    for (const set of [
      'autoscaling.minReplicas=0',
      'kafka.offsetReset=latest',
      'redis.scheme=rediss',
      'podDisruptionBudget.maxUnavailable=25%',
    ]) {
      const result = template([], [set]);
      assert.equal(result.status, 0, `--set ${set}: ${result.stderr}`);
    }
  });
});
