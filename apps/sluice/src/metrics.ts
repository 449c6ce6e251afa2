import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { CoreMetrics } from '@sluice/core';

const APPEND_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1];

/**
 * A histogram that only adds to plain numbers when observed and builds its
 * samples when scraped (prom-client's Histogram does label hashing and
 * bookkeeping on every observation: too much for once per command).
 * Registered in a prom-client Registry, which only calls `get()`.
 */
class ScrapedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
  ) {
    this.counts = buckets.map(() => 0);
  }

  observe(v: number): void {
    const b = this.buckets;
    for (let i = 0; i < b.length; i++) {
      if (v <= b[i]!) {
        this.counts[i]!++;
        break;
      }
    }
    this.sum += v;
    this.count++;
  }

  get() {
    let acc = 0;
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = this.buckets.map((le, i) => {
      acc += this.counts[i]!;
      return { metricName: `${this.name}_bucket`, labels: { le }, value: acc };
    });
    values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf' }, value: this.count });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.count });
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = this.count = 0;
  }
}

/** What the hot path counts per protocol, between two scrapes. */
interface Pending {
  allow: number;
  block: number;
  approve: number;
  in: number;
  out: number;
}

/** prom-client backing for core's metric hooks; served at /metrics. */
export function createMetrics(): { registry: Registry; core: CoreMetrics } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sluice_process_' });
  const active = new Gauge({ name: 'sluice_sessions_active', help: 'Open client sessions', labelNames: ['protocol'], registers: [registry] });
  const sessions = new Counter({ name: 'sluice_sessions_total', help: 'Sessions opened', labelNames: ['protocol'], registers: [registry] });
  const pendingApprovals = new Gauge({ name: 'sluice_approvals_pending', help: 'Approval requests waiting for a decision', registers: [registry] });
  const masked = new Counter({ name: 'sluice_masked_cells_total', help: 'Values masked in results', labelNames: ['protocol'], registers: [registry] });

  // Per-command and per-chunk counts are plain additions here, handed to
  // prom-client's Counters (label hashing and all) only when /metrics is scraped.
  const pending: Record<string, Pending> = Object.create(null);
  const of = (p: string): Pending => (pending[p] ??= { allow: 0, block: 0, approve: 0, in: 0, out: 0 });
  const drain = (counter: Counter, label: string, keys: readonly (keyof Pending)[]): void => {
    for (const protocol in pending) {
      const c = pending[protocol]!;
      for (const k of keys) {
        if (c[k] === 0) continue;
        counter.inc({ protocol, [label]: k }, c[k]);
        c[k] = 0;
      }
    }
  };
  const commands: Counter = new Counter({
    name: 'sluice_commands_total',
    help: 'Commands judged, by decision',
    labelNames: ['protocol', 'decision'],
    registers: [registry],
    collect: () => drain(commands, 'decision', ['allow', 'block', 'approve']),
  });
  const bytes: Counter = new Counter({
    name: 'sluice_bytes_relayed_total',
    help: 'Bytes relayed (in = from clients, out = to clients)',
    labelNames: ['protocol', 'direction'],
    registers: [registry],
    collect: () => drain(bytes, 'direction', ['in', 'out']),
  });
  let appendedPending = 0;
  const appended: Counter = new Counter({
    name: 'sluice_events_appended_total',
    help: 'Events appended to the log',
    registers: [registry],
    collect: () => {
      appended.inc(appendedPending);
      appendedPending = 0;
    },
  });
  const append = new ScrapedHistogram('sluice_store_append_seconds', 'Latency of one group commit of events to the store', APPEND_BUCKETS);
  registry.registerMetric(append as never);

  const core: CoreMetrics = {
    sessionOpened: (p) => {
      active.inc({ protocol: p });
      sessions.inc({ protocol: p });
    },
    sessionClosed: (p) => active.dec({ protocol: p }),
    command: (p, d) => {
      of(p)[d]++;
    },
    approvalsPending: (delta) => pendingApprovals.inc(delta),
    maskedCells: (p, n) => masked.inc({ protocol: p }, n),
    storeAppend: (s, n) => {
      append.observe(s);
      appendedPending += n;
    },
    bytesRelayed: (dir, n, p) => {
      of(p)[dir] += n;
    },
  };
  return { registry, core };
}
