import { describe, expect, it } from 'vitest';
import { PolicyEngine, globToRegExp } from './policy.js';
import type { Command, Identity, Policy } from './types.js';

const human: Identity = { subject: 'alice@example.com', actors: [], groups: ['agents', 'dba'], via: 'api-key' };
const agent: Identity = { subject: 'alice@example.com', actors: ['billing-agent'], groups: ['agents'], via: 'api-key' };
const sql = (kind: string, flags: string[] = [], objects: string[] = [], text = kind): Command => ({ protocol: 'postgres', kind, text, objects, flags });

const policies: Policy[] = [
  { name: 'no-ddl', block: { sql: ['DROP', 'TRUNCATE'] } },
  { name: 'bulk', approve: { sql: ['DELETE', 'UPDATE'], unbounded: true, approvers: ['dba'], timeoutMs: 1000 } },
  { name: 'agents-no-orders', actors: 'any', block: { objects: ['orders'], sql: ['UPDATE'] } },
  { name: 'only-orders-conn', connections: ['orders'], block: { match: 'pg_sleep' } },
  { name: 'humans-only', actors: 'none', approve: { flags: ['multi-statement'], approvers: ['dba'], timeoutMs: 1000 } },
];

describe('policy engine', () => {
  const engine = new PolicyEngine(policies);
  const forAgent = engine.forSession(agent, 'orders');
  const forHuman = engine.forSession(human, 'orders');

  it('a schema-qualified object rule covers the table named without its schema (the search path may resolve it there)', () => {
    const e = new PolicyEngine([
      { name: 'payroll', block: { objects: ['payroll.salaries', 'billing.inv*'] } },
      { name: 'sales', block: { objects: ['sales.*'] } },
    ]).forSession(human, 'orders');
    expect(e.decide(sql('DELETE', [], ['salaries']))).toMatchObject({ effect: 'block', policy: 'payroll' });
    expect(e.decide(sql('SELECT', [], ['payroll.salaries']))).toMatchObject({ effect: 'block', policy: 'payroll' });
    expect(e.decide(sql('SELECT', [], ['invoices'])).effect).toBe('block');
    expect(e.decide(sql('SELECT', [], ['hr.salaries'])).effect).toBe('allow'); // another schema, named
    // A whole-schema rule covers only what names that schema (a bare '*' would cover every table).
    expect(e.decide(sql('SELECT', [], ['sales.leads'])).effect).toBe('block');
    expect(e.decide(sql('SELECT', [], ['leads'])).effect).toBe('allow');
    // Not for other protocols' objects.
    expect(e.decide({ protocol: 'kubernetes', kind: 'get pods', text: 'get pods', objects: ['salaries'], flags: [] }).effect).toBe('allow');
  });
  it('allows what no rule matches', () => {
    expect(forAgent.decide(sql('SELECT')).effect).toBe('allow');
  });
  it('blocks by statement kind and names the policy', () => {
    expect(forAgent.decide(sql('DROP'))).toMatchObject({ effect: 'block', policy: 'no-ddl' });
  });
  it('asks for approval only when unbounded', () => {
    expect(forAgent.decide(sql('DELETE', ['unbounded']))).toMatchObject({ effect: 'approve', policy: 'bulk', approvers: ['dba'] });
    expect(forAgent.decide(sql('DELETE')).effect).toBe('allow');
  });
  it('block beats approve whatever the order', () => {
    const d = forAgent.decide({ ...sql('MULTI', ['multi-statement']), parts: [sql('DELETE', ['unbounded']), sql('DROP')] });
    expect(d).toMatchObject({ effect: 'block', policy: 'no-ddl' });
  });
  it('judges every part of a multi-statement string', () => {
    const d = forAgent.decide({ ...sql('MULTI', ['multi-statement']), parts: [sql('SELECT'), sql('TRUNCATE', ['unbounded'])] });
    expect(d.effect).toBe('block');
  });
  it('treats dynamic SQL as any statement unless trusted', () => {
    expect(forAgent.decide(sql('DO', ['dynamic-sql'])).effect).toBe('block');
    const trusting = new PolicyEngine([{ ...policies[0]!, trustDynamicSql: true }]).forSession(agent, 'x');
    expect(trusting.decide(sql('DO', ['dynamic-sql'])).effect).toBe('allow');
  });
  it('refuses what did not parse, whatever the policies', () => {
    const none = new PolicyEngine([]).forSession(agent, 'orders');
    expect(none.decide({ ...sql('UNKNOWN', ['parse-error']), error: 'syntax error' })).toMatchObject({ effect: 'block', code: 'SLUICE_PARSE_ERROR' });
  });
  it('matches actors: any (agents only) and none (humans only)', () => {
    expect(forAgent.decide(sql('UPDATE', [], ['public.orders']))).toMatchObject({ effect: 'block', policy: 'agents-no-orders' });
    expect(forHuman.decide(sql('UPDATE', [], ['public.orders'])).effect).toBe('allow');
    expect(forHuman.decide(sql('SELECT', ['multi-statement'])).effect).toBe('approve');
    expect(forAgent.decide(sql('SELECT', ['multi-statement'])).effect).toBe('allow');
  });
  it('restricts policies to their connections', () => {
    expect(forAgent.decide(sql('SELECT', [], [], 'select pg_sleep(1)')).effect).toBe('block');
    expect(engine.forSession(agent, 'other').decide(sql('SELECT', [], [], 'select pg_sleep(1)')).effect).toBe('allow');
  });
  it('protocol matchers only match their protocol', () => {
    const e = new PolicyEngine([{ name: 'r', block: { redis: ['FLUSHALL'] } }]).forSession(agent, 'c');
    expect(e.decide({ protocol: 'redis', kind: 'FLUSHALL', text: 'FLUSHALL', objects: [], flags: [] }).effect).toBe('block');
    expect(e.decide(sql('FLUSHALL')).effect).toBe('allow');
  });
  it('gates access by connection groups; none granted = closed', () => {
    const conn = { name: 'c', type: 'postgres', target: '', access: ['dba'], secrets: {}, options: {} };
    expect(PolicyEngine.canAccess(human, conn)).toBe(true);
    expect(PolicyEngine.canAccess(agent, conn)).toBe(false);
    expect(PolicyEngine.canAccess(human, { ...conn, access: [] })).toBe(false);
  });
  it('globs', () => {
    expect(globToRegExp('rm -rf *').test('rm -rf /')).toBe(true);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
  });
});

describe('copies of masked columns', () => {
  const engine = new PolicyEngine([
    { name: 'pii', mask: { columns: ['customers.password_hash', '*.ssn'], strategy: 'redact' } },
    { name: 'emails', mask: { detectors: ['email'], strategy: 'redact' } },
  ]);
  const sp = engine.forSession(agent, 'orders');
  const copying = (copies: { table?: string; column: string }[]): Command => ({ ...sql('INSERT'), copies });

  it('a command copying a rule-covered column (by name, table or whole row) is blocked, naming the policy and the column', () => {
    expect(sp.decide(copying([{ column: 'id' }, { column: 'password_hash' }]))).toMatchObject({ effect: 'block', policy: 'pii' });
    expect(sp.decide(copying([{ table: 'public.customers', column: 'password_hash' }])).message).toMatch(/public\.customers\.password_hash.*"pii"/);
    expect(sp.decide(copying([{ table: 'employees', column: 'ssn' }])).effect).toBe('block');
    expect(sp.decide(copying([{ table: 'customers', column: '*' }])).message).toMatch(/customers row/);
    // In a part of a multi-statement command too.
    expect(sp.decide({ ...sql('SELECT'), parts: [sql('SELECT'), copying([{ column: 'ssn' }])] }).effect).toBe('block');
  });

  it('copies of other columns, or of a rule column of another table, are allowed; so is anything without column rules', () => {
    expect(sp.decide(copying([{ table: 'orders', column: 'password_hash' }, { column: 'name' }])).effect).toBe('allow');
    // A whole row may hold any column a rule names unless the protocol knows the table's columns.
    expect(sp.decide(copying([{ table: 'orders', column: '*' }])).effect).toBe('block');
    const known = { names: new Set(['password_hash', 'ssn']), expandRow: () => [], expandColumn: () => undefined };
    expect(sp.decide(copying([{ table: 'orders', column: '*' }]), known).effect).toBe('allow');
    const noRules = new PolicyEngine([{ name: 'emails', mask: { detectors: ['email'], strategy: 'redact' } }]).forSession(agent, 'orders');
    expect(noRules.decide(copying([{ column: 'password_hash' }])).effect).toBe('allow');
  });

  it("a protocol's lineage makes a view column count as the table column it carries", () => {
    const lineage = {
      names: new Set(['password_hash', 'ssn', 'tax_id']),
      expandRow: () => undefined,
      expandColumn: (table: string | undefined, column: string) => (column === 'tax_id' ? [{ name: 'ssn', table: 'public.customers', column: 'ssn' }] : undefined),
    };
    const cmd = copying([{ table: 'reports.people', column: 'tax_id' }]);
    expect(sp.decide(cmd).effect).toBe('allow');
    expect(sp.decide(cmd, lineage)).toMatchObject({ effect: 'block', policy: 'pii' });
  });

  it('a statement that calls a function storing a covered column (a writer) is blocked even when it copies nothing itself', () => {
    const lineage = {
      names: new Set(['password_hash', 'ssn']),
      expandRow: () => undefined,
      expandColumn: () => undefined,
      writes: (text: string) => (/note_it\(/.test(text) ? [{ name: 'ssn', column: 'ssn' }] : /log_it\(/.test(text) ? [{ name: 'name', column: 'name' }] : undefined),
    };
    const select = (text: string): Command => ({ ...sql('SELECT'), text });
    expect(sp.decide(select('SELECT note_it(1)'), lineage)).toMatchObject({ effect: 'block', policy: 'pii', message: expect.stringMatching(/would copy ssn/) });
    expect(sp.decide({ ...select('SELECT 1; SELECT note_it(2)'), parts: [select('SELECT 1'), select('SELECT note_it(2)')] }, lineage).effect).toBe('block');
    // a writer of columns no rule covers, or no writer at all
    expect(sp.decide(select('SELECT log_it(1)'), lineage).effect).toBe('allow');
    expect(sp.decide(select('SELECT note_it(1)')).effect).toBe('allow');
  });
});
