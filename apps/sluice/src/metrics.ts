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

/**
 * Counts kept in plain objects on the hot path (per command, per relayed
 * chunk) and handed to a prom-client Counter when /metrics is scraped.
 */
function lazyCounter(counter: Counter, labelNames: readonly string[]) {
  // key → [label values, pending amount]
  const pending = new Map<string, [string[], number]>();
  const flush = () => {
    for (const entry of pending.values()) {
      if (entry[1] === 0) continue;
      const labels = Object.fromEntries(labelNames.map((n, i) => [n, entry[0][i]!]));
      counter.inc(labels, entry[1]);
      entry[1] = 0;
    }
  };
  return {
    flush,
    /** The cell for these label values (look it up once per protocol/direction, not per call). */
    cell(...values: string[]): [string[], number] {
      const k = values.join('\u0000');
      let e = pending.get(k);
      if (!e) pending.set(k, (e = [values, 0]));
      return e;
    },
  };
}

/** prom-client backing for core's metric hooks; served at /metrics. */
export function createMetrics(): { registry: Registry; core: CoreMetrics } {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sluice_process_' });
  const active = new Gauge({ name: 'sluice_sessions_active', help: 'Open client sessions', labelNames: ['protocol'], registers: [registry] });
  const sessions = new Counter({ name: 'sluice_sessions_total', help: 'Sessions opened', labelNames: ['protocol'], registers: [registry] });
  const pendingApprovals = new Gauge({ name: 'sluice_approvals_pending', help: 'Approval requests waiting for a decision', registers: [registry] });
  const masked = new Counter({ name: 'sluice_masked_cells_total', help: 'Values masked in results', labelNames: ['protocol'], registers: [registry] });

  const commandCounter: Counter = new Counter({
    name: 'sluice_commands_total',
    help: 'Commands judged, by decision',
    labelNames: ['protocol', 'decision'],
    registers: [registry],
    collect: () => commands.flush(),
  });
  const byteCounter: Counter = new Counter({
    name: 'sluice_bytes_relayed_total',
    help: 'Bytes relayed (in = from clients, out = to clients)',
    labelNames: ['protocol', 'direction'],
    registers: [registry],
    collect: () => bytes.flush(),
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
  const commands = lazyCounter(commandCounter, ['protocol', 'decision']);
  const bytes = lazyCounter(byteCounter, ['protocol', 'direction']);

  // Per-protocol cells, so the hot path is two property reads and an add.
  type Cells = { allow: [string[], number]; block: [string[], number]; approve: [string[], number]; in: [string[], number]; out: [string[], number] };
  const cells: Record<string, Cells> = Object.create(null);
  const cellsOf = (p: string): Cells =>
    (cells[p] ??= {
      allow: commands.cell(p, 'allow'),
      block: commands.cell(p, 'block'),
      approve: commands.cell(p, 'approve'),
      in: bytes.cell(p, 'in'),
      out: bytes.cell(p, 'out'),
    });

  const core: CoreMetrics = {
    sessionOpened: (p) => {
      active.inc({ protocol: p });
      sessions.inc({ protocol: p });
      cellsOf(p);
    },
    sessionClosed: (p) => active.dec({ protocol: p }),
    command: (p, d) => {
      cellsOf(p)[d][1]++;
    },
    approvalsPending: (delta) => pendingApprovals.inc(delta),
    maskedCells: (p, n) => masked.inc({ protocol: p }, n),
    storeAppend: (s, n) => {
      append.observe(s);
      appendedPending += n;
    },
    bytesRelayed: (dir, n, p) => {
      cellsOf(p)[dir][1] += n;
    },
  };
  return { registry, core };
}
