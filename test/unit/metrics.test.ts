import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { REJECT_REASONS } from '../../src/contract/decode.js';
import { createMetrics, SINKS, STAGES } from '../../src/telemetry/metrics.js';

describe('metrics', () => {
  it('has the shadow table as a sink only with a shadow model', async () => {
    const without = await createMetrics().registry.metrics();
    assert.doesNotMatch(without, /sink="clickhouse_shadow"/);
    assert.match(without, /^offers_sink_up\{sink="clickhouse"\} 1$/m);
    const withShadow = await createMetrics(undefined, { shadow: true }).registry.metrics();
    assert.match(withShadow, /^offers_sink_up\{sink="clickhouse_shadow"\} 1$/m);
  });

  it('has every label set at 0 from the start, so rates and alerts see the series', async () => {
    const text = await createMetrics(undefined, { shadow: true }).registry.metrics();
    for (const sink of SINKS) {
      assert.match(text, new RegExp(`^offers_sink_up\\{sink="${sink}"\\} 1$`, 'm'));
      assert.match(text, new RegExp(`^offers_sink_retries_total\\{sink="${sink}"\\} 0$`, 'm'));
      assert.match(
        text,
        new RegExp(`^offers_sink_write_duration_seconds_count\\{sink="${sink}"\\} 0$`, 'm'),
      );
      for (const retriable of ['true', 'false']) {
        const series = `offers_sink_errors_total\\{sink="${sink}",retriable="${retriable}"\\} 0`;
        assert.match(text, new RegExp(`^${series}$`, 'm'));
      }
    }
    for (const reason of REJECT_REASONS) {
      assert.match(text, new RegExp(`^offers_dead_lettered_total\\{reason="${reason}"\\} 0$`, 'm'));
    }
    for (const stage of STAGES) {
      assert.match(
        text,
        new RegExp(`^offers_stage_duration_seconds_count\\{stage="${stage}"\\} 0$`, 'm'),
      );
    }
    assert.match(text, /^offers_chunk_duration_seconds_count 0$/m);
    assert.match(text, /^offers_kafka_membership_lost_total 0$/m);
    assert.match(text, /^offers_kafka_in_group 0$/m);
  });

  it('says which build runs', async () => {
    const metrics = createMetrics();
    metrics.buildInfo.set({ version: '1.2.3', model_version: 'm1', node_version: 'v20' }, 1);
    assert.match(
      await metrics.registry.metrics(),
      /^offers_build_info\{version="1.2.3",model_version="m1",node_version="v20"\} 1$/m,
    );
  });
});
