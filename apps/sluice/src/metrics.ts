import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CoreMetrics } from '@sluice/core';

/** prom-client backing for core's metric hooks; served at /metrics. */
export function createMetrics(): { registry: Registry; core: CoreMetrics } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sluice_process_' });
  const active = new Gauge({ name: 'sluice_sessions_active', help: 'Open client sessions', labelNames: ['protocol'], registers: [registry] });
  const sessions = new Counter({ name: 'sluice_sessions_total', help: 'Sessions opened', labelNames: ['protocol'], registers: [registry] });
  const commands = new Counter({ name: 'sluice_commands_total', help: 'Commands judged, by decision', labelNames: ['protocol', 'decision'], registers: [registry] });
  const pending = new Gauge({ name: 'sluice_approvals_pending', help: 'Approval requests waiting for a decision', registers: [registry] });
  const masked = new Counter({ name: 'sluice_masked_cells_total', help: 'Values masked in results', labelNames: ['protocol'], registers: [registry] });
  const bytes = new Counter({ name: 'sluice_bytes_relayed_total', help: 'Bytes relayed (in = from clients, out = to clients)', labelNames: ['protocol', 'direction'], registers: [registry] });
  const append = new Histogram({
    name: 'sluice_store_append_seconds',
    help: 'Latency of one group commit of events to the store',
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
    registers: [registry],
  });
  const appended = new Counter({ name: 'sluice_events_appended_total', help: 'Events appended to the log', registers: [registry] });
  // Counters are bumped per command/chunk: keep label lookups out of the hot path.
  const cmdChildren = new Map<string, Counter.Internal>();
  const byteChildren = new Map<string, Counter.Internal>();
  const core: CoreMetrics = {
    sessionOpened: (p) => {
      active.inc({ protocol: p });
      sessions.inc({ protocol: p });
    },
    sessionClosed: (p) => active.dec({ protocol: p }),
    command: (p, d) => {
      const k = `${p}\u0000${d}`;
      let c = cmdChildren.get(k);
      if (!c) cmdChildren.set(k, (c = commands.labels(p, d)));
      c.inc();
    },
    approvalsPending: (delta) => pending.inc(delta),
    maskedCells: (p, n) => masked.inc({ protocol: p }, n),
    storeAppend: (s, n) => {
      append.observe(s);
      appended.inc(n);
    },
    bytesRelayed: (dir, n, p) => {
      const k = `${p}\u0000${dir}`;
      let c = byteChildren.get(k);
      if (!c) byteChildren.set(k, (c = bytes.labels(p, dir)));
      c.inc(n);
    },
  };
  return { registry, core };
}
