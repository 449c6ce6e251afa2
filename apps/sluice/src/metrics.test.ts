import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.js';

const value = (text: string, line: string) => {
  const m = new RegExp(`^${line.replace(/[{}+.()]/g, '\\$&')} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
};

describe('metrics', () => {
  it('counts on the hot path are in the scrape, once', async () => {
    const { registry, core } = createMetrics();
    core.sessionOpened('postgres');
    core.command('postgres', 'allow');
    core.command('postgres', 'allow');
    core.command('postgres', 'block');
    core.command('mysql', 'allow');
    core.bytesRelayed('in', 100, 'postgres');
    core.bytesRelayed('out', 5, 'postgres');
    core.bytesRelayed('out', 7, 'postgres');
    core.storeAppend(0.0003, 2);
    core.storeAppend(0.002, 1);
    core.storeAppend(3, 1);
    let text = await registry.metrics();
    expect(value(text, 'sluice_commands_total{protocol="postgres",decision="allow"}')).toBe(2);
    expect(value(text, 'sluice_commands_total{protocol="postgres",decision="block"}')).toBe(1);
    expect(value(text, 'sluice_commands_total{protocol="mysql",decision="allow"}')).toBe(1);
    expect(text).not.toMatch(/decision="approve"/);
    expect(value(text, 'sluice_bytes_relayed_total{protocol="postgres",direction="out"}')).toBe(12);
    expect(value(text, 'sluice_events_appended_total')).toBe(4);
    expect(text).toMatch(/^# TYPE sluice_store_append_seconds histogram$/m);
    expect(value(text, 'sluice_store_append_seconds_bucket{le="0.0001"}')).toBe(0);
    expect(value(text, 'sluice_store_append_seconds_bucket{le="0.0005"}')).toBe(1);
    expect(value(text, 'sluice_store_append_seconds_bucket{le="0.0025"}')).toBe(2);
    expect(value(text, 'sluice_store_append_seconds_bucket{le="1"}')).toBe(2);
    expect(value(text, 'sluice_store_append_seconds_bucket{le="+Inf"}')).toBe(3);
    expect(value(text, 'sluice_store_append_seconds_count')).toBe(3);
    expect(value(text, 'sluice_store_append_seconds_sum')).toBeCloseTo(3.0023, 6);
    // A second scrape does not add the same counts again.
    core.command('postgres', 'allow');
    text = await registry.metrics();
    expect(value(text, 'sluice_commands_total{protocol="postgres",decision="allow"}')).toBe(3);
    expect(value(text, 'sluice_events_appended_total')).toBe(4);
    expect(value(text, 'sluice_bytes_relayed_total{protocol="postgres",direction="out"}')).toBe(12);
  });
});
