// Summarises a V8 .cpuprofile (from `node --cpu-prof`): self time per
// function and per area of the code, so a bench run can say where time goes.
import { readFileSync } from 'node:fs';

function area(url, root) {
  if (!url) return '(native/V8)';
  let u = url.replace(/^file:\/\//, '');
  if (u.startsWith('node:')) return 'node: internals';
  if (u.startsWith(root)) u = u.slice(root.length + 1);
  const pkg = /node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+)/.exec(u);
  if (pkg) {
    if (pkg[1].startsWith('@sluice/')) return pkg[1];
    return `dep ${pkg[1]}`;
  }
  const ws = /^(packages|apps)\/([^/]+)\//.exec(u);
  if (ws) return `@sluice/${ws[2] === 'sluice' ? 'app' : ws[2]}`;
  return u;
}

function shortUrl(url, root) {
  let u = (url || '').replace(/^file:\/\//, '');
  if (u.startsWith(root)) u = u.slice(root.length + 1);
  u = u.replace(/node_modules\/\.pnpm\/[^/]+\/node_modules\//, 'node_modules/');
  return u;
}

/**
 * @returns {{totalMs: number, functions: {name: string, where: string, ms: number, pct: number}[], areas: {area: string, ms: number, pct: number}[]}}
 */
export function summarizeProfile(file, root, top = 25) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map(); // node id -> µs
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = p.timeDeltas[i] ?? 0;
    total += dt;
    self.set(p.samples[i], (self.get(p.samples[i]) ?? 0) + dt);
  }
  const fns = new Map();
  const areas = new Map();
  for (const [id, us] of self) {
    const cf = byId.get(id).callFrame;
    const name = cf.functionName || '(anonymous)';
    const where = cf.url ? `${shortUrl(cf.url, root)}:${cf.lineNumber + 1}` : '';
    const key = `${name}\u0000${where}`;
    const f = fns.get(key) ?? { name, where, us: 0 };
    f.us += us;
    fns.set(key, f);
    const a = name === '(idle)' || name === '(program)' || name === '(garbage collector)' ? name : area(cf.url, root);
    areas.set(a, (areas.get(a) ?? 0) + us);
  }
  // Percentages of *busy* time (idle excluded): what the gateway spends its CPU on.
  const idle = areas.get('(idle)') ?? 0;
  const busy = Math.max(1, total - idle);
  const functions = [...fns.values()]
    .filter((f) => f.name !== '(idle)')
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((f) => ({ name: f.name, where: f.where, ms: f.us / 1000, pct: (100 * f.us) / busy }));
  const areaList = [...areas.entries()]
    .filter(([a]) => a !== '(idle)')
    .sort((a, b) => b[1] - a[1])
    .map(([a, us]) => ({ area: a, ms: us / 1000, pct: (100 * us) / busy }));
  return { totalMs: total / 1000, busyMs: busy / 1000, idleMs: idle / 1000, functions, areas: areaList };
}
