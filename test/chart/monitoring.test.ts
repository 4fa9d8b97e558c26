import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';

import { parse } from 'yaml';

import { prometheusTool } from '../support/prometheus.js';
import { all, CHART, only, render, REPO, type Manifest } from './support.js';
import { validateManifest } from './validate.js';

/**
 * The alerts (monitoring/rules.yaml) and the Grafana dashboard (monitoring/dashboard.json):
 * promtool checks and unit-tests the rules, the chart ships both unchanged. That they work
 * on a real Prometheus fed by the service is test/integration/monitoring.test.ts.
 */

const RULES_FILE = path.join(CHART, 'monitoring/rules.yaml');
const DASHBOARD_FILE = path.join(CHART, 'monitoring/dashboard.json');
const RULE_TESTS = path.join(REPO, 'test/chart/monitoring/rules.test.yaml');

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleGroups {
  groups: { name: string; rules: Rule[] }[];
}
interface Panel {
  type: string;
  id: number;
  title: string;
  datasource?: { type: string; uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: { expr: string; datasource?: { uid: string } }[];
}
interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}

const rules = parse(readFileSync(RULES_FILE, 'utf8')) as RuleGroups;
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as Dashboard;
const alerts = rules.groups.flatMap((group) => group.rules).filter((rule) => rule.alert);

function promtool(args: readonly string[]): { status: number | null; output: string } {
  const result = spawnSync(prometheusTool('promtool'), [...args], { cwd: REPO, encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

const ENABLED = [
  'monitoring.prometheusRule.enabled=true',
  'monitoring.grafanaDashboard.enabled=true',
];

describe('chart: monitoring (alert rules and Grafana dashboard)', () => {
  it('promtool accepts the rule file', () => {
    const { status, output } = promtool(['check', 'rules', RULES_FILE]);
    assert.equal(status, 0, output);
    assert.match(output, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  });

  it('passes its promtool unit tests', () => {
    const { status, output } = promtool(['test', 'rules', RULE_TESTS]);
    assert.equal(status, 0, output);
    assert.match(output, /SUCCESS/);
  });

  it('unit-tests every alert both firing and staying quiet', () => {
    const tests = parse(readFileSync(RULE_TESTS, 'utf8')) as {
      tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
    };
    const cases = tests.tests.flatMap((test) => test.alert_rule_test ?? []);
    assert.ok(alerts.length >= 5, `only ${alerts.length} alerts`);
    for (const { alert } of alerts) {
      const own = cases.filter((c) => c.alertname === alert);
      assert.ok(
        own.some((c) => c.exp_alerts.length > 0),
        `${alert}: no case where it fires`,
      );
      assert.ok(
        own.some((c) => c.exp_alerts.length === 0),
        `${alert}: no case where it stays quiet`,
      );
    }
  });

  it('gives every alert a severity and runbook-style annotations', () => {
    for (const rule of alerts) {
      assert.match(rule.labels?.severity ?? '', /^(critical|warning)$/, rule.alert);
      for (const annotation of ['summary', 'description', 'runbook_url']) {
        assert.ok(rule.annotations?.[annotation], `${rule.alert}: no ${annotation}`);
      }
      assert.ok(rule.for, `${rule.alert}: no for`);
    }
  });

  it('renders neither unless asked', () => {
    const manifests = render([]);
    assert.equal(all(manifests, 'PrometheusRule').length, 0);
    assert.equal(all(manifests, 'ConfigMap').length, 0);
  });

  it('ships the rule groups unchanged in a PrometheusRule that validates against its CRD schema', () => {
    const manifests = render([], [...ENABLED, 'monitoring.prometheusRule.labels.release=kps']);
    const rule = only(manifests, 'PrometheusRule');
    assert.deepEqual(validateManifest(rule), []);
    assert.deepEqual((rule.spec as RuleGroups).groups, rules.groups);
    const labels = rule.metadata.labels ?? {};
    assert.equal(labels.release, 'kps');
    assert.equal(labels['app.kubernetes.io/name'], 'realtime-offers');
  });

  it('ships the dashboard unchanged in a ConfigMap the Grafana sidecar picks up', () => {
    const manifests = render(
      [],
      [
        ...ENABLED,
        'monitoring.grafanaDashboard.namespace=grafana',
        'monitoring.grafanaDashboard.annotations.grafana_folder=offers',
      ],
    );
    const configMap = only(manifests, 'ConfigMap') as Manifest & {
      data: Record<string, string>;
      metadata: { annotations?: Record<string, string> };
    };
    assert.deepEqual(validateManifest(configMap), []);
    assert.equal(configMap.metadata.labels?.grafana_dashboard, '1');
    assert.equal(configMap.metadata.namespace, 'grafana');
    assert.equal(configMap.metadata.annotations?.grafana_folder, 'offers');
    const [key, ...others] = Object.keys(configMap.data);
    assert.equal(others.length, 0);
    assert.match(key ?? '', /\.json$/);
    assert.deepEqual(JSON.parse(configMap.data[key ?? ''] ?? ''), dashboard);
  });

  it('has a datasource variable and namespace/job variables every query uses', () => {
    const variables = new Map(dashboard.templating.list.map((v) => [v.name, v]));
    assert.equal(variables.get('datasource')?.type, 'datasource');
    assert.equal(variables.get('datasource')?.query, 'prometheus');
    for (const name of ['namespace', 'job']) assert.equal(variables.get(name)?.type, 'query');
    const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
    assert.ok(panels.length >= 10, `only ${panels.length} panels`);
    for (const panel of panels) {
      assert.equal(panel.datasource?.uid, '${datasource}', panel.title);
      assert.ok((panel.targets ?? []).length > 0, `${panel.title}: no query`);
      for (const target of panel.targets ?? []) {
        assert.equal(target.datasource?.uid, '${datasource}', panel.title);
        // Each metric selector of the query carries both variables.
        const selectors = target.expr.match(/[a-z_:]+\{[^}]*\}/g) ?? [];
        assert.ok(selectors.length > 0, `${panel.title}: ${target.expr}`);
        for (const selector of selectors) {
          assert.match(selector, /namespace="\$namespace"/, `${panel.title}: ${selector}`);
          assert.match(selector, /job="\$job"/, `${panel.title}: ${selector}`);
        }
      }
    }
  });

  it('lays the panels out on the 24-column grid without overlap, with unique ids', () => {
    const ids = dashboard.panels.map((panel) => panel.id);
    assert.equal(new Set(ids).size, ids.length, 'duplicate panel ids');
    const cells = new Set<string>();
    for (const { title, gridPos } of dashboard.panels) {
      assert.ok(gridPos.x >= 0 && gridPos.x + gridPos.w <= 24, `${title} leaves the grid`);
      for (let x = gridPos.x; x < gridPos.x + gridPos.w; x += 1) {
        for (let y = gridPos.y; y < gridPos.y + gridPos.h; y += 1) {
          assert.ok(!cells.has(`${x},${y}`), `${title} overlaps another panel at ${x},${y}`);
          cells.add(`${x},${y}`);
        }
      }
    }
  });
});
