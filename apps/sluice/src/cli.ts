import { readFileSync, writeFileSync } from 'node:fs';
import type { ParseArgsConfig } from 'node:util';
import { addSshKey, createApiKey, verifyEvents, type ApprovalRecord, type SessionRecord, type StoredEvent } from '@sluice/core';
import { checkConfig, parseDuration } from './config/index.js';
import { describeIdentity } from './admin.js';
import { openStore } from './store.js';
import { renderTimeline } from './timeline.js';
import { api, callOk, CliError, configPath, getConfig, json, need, out, parse, readOnly, type Values } from './cli-common.js';

// The gateway runtime (TLS, protocol plugins, SQL parser, metrics, logger) and
// the demo (PGlite) are loaded only by the commands that use them: help, config
// check, keys and the admin API client start several times faster without them.
const runtime = () => import('./runtime.js');

const HELP = `sluice — an access gateway for people and AI agents

Usage: sluice <command> [options]

  start [-c sluice.yaml]              run the gateway in the foreground; SIGTERM drains
  demo                                gateway + embedded PostgreSQL with sample data
  config check [-c FILE]              validate a config; errors as FILE:LINE: message
  keys create --name NAME [--groups a,b] [--on-behalf-of SUBJECT] [--ttl 1h] [--json]
  keys list [--json] | keys revoke ID
  keys add-ssh --key FILE --id KEY_ID  bind an SSH public key (.pub) to an API key's identity
  keys list-ssh [--json] | keys remove-ssh FINGERPRINT
  login [--issuer URL]                sign in with the identity provider (device flow)
  whoami [--json]                     who the gateway thinks you are
  logout                              forget the cached login
  token delegate --agent NAME [--ttl 15m] [--groups a,b] [--connections c1,c2] [--json]
                                      mint a short-lived token for an agent acting for you
  token list [--json] | token revoke ID | token rotate-key
  connect CONNECTION [--port N]       local listener that logs clients in for you (postgres, mysql)
  approvals list [--pending] [--json]
  approvals approve ID [--reason TEXT] | approvals deny ID [--reason TEXT]
  sessions list [--json] [--connection C] [--subject S] [--limit N] [--before TIME]
  sessions show ID [--json] | sessions kill ID
  sessions replay ID [--speed N] [--max-idle SEC] [--cast FILE]
                                      a SQL session as a timeline; a shell played at its pace or saved as asciicast
  audit verify [--json]

Options for every command:
  -c, --config FILE    config file (default: $SLUICE_CONFIG, else ./sluice.yaml if present)
  --server URL         admin API of a running gateway (default: $SLUICE_SERVER, else the config's admin.listen)
  --token TOKEN        API key or token for the admin API (default: $SLUICE_TOKEN)
  -h, --help           this help

Without --server or a token, read-only commands (sessions, approvals list, audit verify)
read the configured store directly.`;

// ------------------------------------------------------------- commands

async function cmdStart(args: string[]): Promise<void> {
  const { values } = parse(args);
  const cfg = getConfig(values);
  const logger = (await import('./logger.js')).createLogger();
  const running = await (await runtime()).startGateway(cfg, logger).catch((e: Error) => {
    throw new CliError(`cannot start: ${e.message}`);
  });
  for (const [proto, l] of Object.entries(running.listeners)) logger.info({ protocol: proto, address: l.address }, 'listening');
  logger.info({ url: running.admin.url }, 'admin API listening');
  await new Promise<void>((done) => {
    let stopping = false;
    const stop = (sig: string) => {
      if (stopping) {
        logger.warn({ signal: sig }, 'second signal: stopping now');
        process.exit(1);
      }
      stopping = true;
      logger.info({ signal: sig }, 'draining: no new clients; open sessions get 10 s to finish');
      running.stop(`gateway stopped (${sig})`).then(done, done);
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

async function cmdConfig(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'check') throw new CliError('usage: sluice config check [-c FILE]');
  const { values } = parse(rest);
  const p = configPath(values);
  if (!p) throw new CliError('no config file: pass -c FILE (or create ./sluice.yaml)');
  const r = checkConfig(p);
  if (!r.ok) {
    for (const e of r.errors) process.stderr.write(e.message + '\n');
    process.exitCode = 1;
    return;
  }
  for (const w of (r as { warnings?: string[] }).warnings ?? []) process.stderr.write(`warning: ${w}\n`);
  out(`${p}: ok (${r.config.connections.length} connections, ${r.config.policies.length} policies)`);
}

async function cmdKeys(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'create') {
    const { values } = parse(rest, { name: { type: 'string' }, groups: { type: 'string' }, 'on-behalf-of': { type: 'string' }, ttl: { type: 'string' } });
    const name = need(values, 'name');
    const groups = typeof values.groups === 'string' ? values.groups.split(',').map((g) => g.trim()).filter(Boolean) : [];
    let ttlMs: number | null = null;
    if (typeof values.ttl === 'string') {
      try {
        ttlMs = parseDuration(values.ttl);
      } catch (e) {
        throw new CliError(`--ttl: ${(e as Error).message}`);
      }
      // A zero TTL would mean "never expires" to the key store: refuse it.
      if (ttlMs <= 0) throw new CliError('--ttl must be longer than 0 (leave it out for a key that does not expire)');
    }
    const store = openStore(getConfig(values));
    try {
      const { record, secret } = await createApiKey(store, { name, groups, onBehalfOf: (values['on-behalf-of'] as string) ?? null, ttlMs }).catch((e: Error) => {
        throw new CliError(e.message);
      });
      if (values.json) json({ id: record.id, secret, name: record.name, groups: record.groups, onBehalfOf: record.onBehalfOf, expiresAt: record.expiresAt });
      else {
        out(`created key ${record.id} for ${describeIdentity({ subject: record.onBehalfOf ?? record.name, actors: record.onBehalfOf ? [record.name] : [] })} [${record.groups.join(', ')}]${record.expiresAt ? `, expires ${record.expiresAt}` : ''}`);
        out(`secret (shown once): ${secret}`);
      }
    } finally {
      await store.close();
    }
    return;
  }
  if (sub === 'list') {
    const { values } = parse(rest);
    const store = openStore(getConfig(values));
    try {
      const keys = await store.listApiKeys();
      const shown = keys.map(({ hash: _h, ...k }) => k);
      if (values.json) return json(shown);
      if (!shown.length) return out('no keys');
      for (const k of shown) {
        const state = k.revokedAt ? 'revoked' : k.expiresAt && Date.parse(k.expiresAt) <= Date.now() ? 'expired' : 'active';
        out(`${k.id}  ${k.name}${k.onBehalfOf ? ` for ${k.onBehalfOf}` : ''}  [${k.groups.join(', ')}]  ${state}${k.expiresAt ? `  expires ${k.expiresAt}` : ''}`);
      }
    } finally {
      await store.close();
    }
    return;
  }
  if (sub === 'revoke') {
    const { values, positionals } = parse(rest, {}, 1);
    const id = positionals[0];
    if (!id) throw new CliError('usage: sluice keys revoke ID');
    const store = openStore(getConfig(values));
    try {
      if (!(await store.revokeApiKey(id, new Date().toISOString()))) throw new CliError(`no active key ${id}`);
      out(`revoked ${id}`);
    } finally {
      await store.close();
    }
    return;
  }
  if (sub === 'add-ssh') {
    const { values } = parse(rest, { key: { type: 'string' }, id: { type: 'string' } });
    const file = need(values, 'key');
    const keyId = need(values, 'id');
    let line: string;
    try {
      line = readFileSync(file, 'utf8').split('\n').find((l) => l.trim() && !l.startsWith('#')) ?? '';
    } catch (e) {
      throw new CliError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    if (/PRIVATE KEY/.test(line)) throw new CliError(`${file} is a private key: give the public one (${file}.pub)`);
    const store = openStore(getConfig(values));
    try {
      const rec = await addSshKey(store, keyId, line).catch((e: Error) => {
        throw new CliError(`${file}: ${e.message}`);
      });
      if (values.json) return json(rec);
      out(`added ${rec.algo} key ${rec.fingerprint}${rec.comment ? ` (${rec.comment})` : ''} for API key ${keyId}`);
    } finally {
      await store.close();
    }
    return;
  }
  if (sub === 'list-ssh') {
    const { values } = parse(rest);
    const store = openStore(getConfig(values));
    try {
      const keys = await store.listSshKeys();
      if (values.json) return json(keys);
      if (!keys.length) return out('no SSH keys');
      for (const k of keys) out(`${k.fingerprint}  ${k.algo}  key ${k.keyId}${k.comment ? `  ${k.comment}` : ''}`);
    } finally {
      await store.close();
    }
    return;
  }
  if (sub === 'remove-ssh') {
    const { values, positionals } = parse(rest, {}, 1);
    const fp = positionals[0];
    if (!fp) throw new CliError('usage: sluice keys remove-ssh FINGERPRINT');
    const store = openStore(getConfig(values));
    try {
      if (!(await store.deleteSshKey(fp))) throw new CliError(`no SSH key ${fp}`);
      out(`removed ${fp}`);
    } finally {
      await store.close();
    }
    return;
  }
  throw new CliError('usage: sluice keys create|list|revoke|add-ssh|list-ssh|remove-ssh (see --help)');
}

function printApprovals(list: (ApprovalRecord & { requestedBy?: string })[], asJson: boolean): void {
  if (asJson) return json(list);
  if (!list.length) return out('no approvals');
  for (const a of list) {
    out(`${a.id}  ${a.status}  ${a.requestedBy ?? describeIdentity(a.requester)}  [${a.policy}]  approvers: ${a.approvers.join(', ')}  expires ${a.expiresAt}`);
    out(`    ${a.command.text.replace(/\s+/g, ' ').slice(0, 160)}`);
  }
}

async function cmdApprovals(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'list') {
    const { values } = parse(rest, { pending: { type: 'boolean' } });
    const list = await readOnly(
      values,
      async (a) => (await callOk(a, 'GET', `/api/approvals${values.pending ? '?status=pending' : ''}`)).approvals,
      (s) => s.listApprovals(values.pending ? 'pending' : undefined),
    );
    return printApprovals(list, !!values.json);
  }
  if (sub === 'approve' || sub === 'deny') {
    const { values, positionals } = parse(rest, { reason: { type: 'string' } }, 1);
    const id = positionals[0];
    if (!id) throw new CliError(`usage: sluice approvals ${sub} ID [--reason TEXT]`);
    const a = api(values, getConfig(values));
    const r = await callOk(a, 'POST', `/api/approvals/${encodeURIComponent(id)}/${sub}`, { reason: values.reason ?? null });
    if (values.json) return json(r.approval);
    out(`${id} ${r.approval.status}`);
    return;
  }
  throw new CliError('usage: sluice approvals list|approve|deny (see --help)');
}

async function getSessionWithEvents(values: Values, id: string): Promise<{ session: SessionRecord; events: StoredEvent[] }> {
  return readOnly(
    values,
    (a) => callOk(a, 'GET', `/api/sessions/${encodeURIComponent(id)}`),
    async (s) => {
      const session = await s.getSession(id);
      if (!session) throw new CliError(`no session ${id}`);
      return { session: { ...session, who: describeIdentity(session) } as SessionRecord, events: await s.getEvents(id) };
    },
  );
}

/**
 * A terminal session (SSH) played back at its real pace (`--speed`, idle
 * gaps capped by `--max-idle` seconds), or exported as asciicast v2 with
 * `--cast FILE` (playable by asciinema). What was recorded is already masked.
 */
async function replayTerminal(session: SessionRecord, events: StoredEvent[], values: Values): Promise<void> {
  const speed = typeof values.speed === 'string' ? Number(values.speed) : 1;
  if (!(speed > 0) || !Number.isFinite(speed)) throw new CliError(`--speed must be a positive number, got "${values.speed}"`);
  const maxIdle = typeof values['max-idle'] === 'string' ? Number(values['max-idle']) : undefined;
  if (maxIdle !== undefined && !(maxIdle >= 0)) throw new CliError(`--max-idle must be a number of seconds, got "${values['max-idle']}"`);
  const { toAsciicast, playEvents } = await import('@sluice/ssh');
  const term = events
    .filter((e) => e.type === 'output' || e.type === 'resize')
    .map((e) => ({ at: e.at, type: e.type as 'output' | 'resize', ...(e.data as object) }));
  const first = term.find((e) => e.type === 'resize') as { cols?: number; rows?: number } | undefined;
  if (typeof values.cast === 'string') {
    const text = toAsciicast(term, { width: first?.cols ?? 80, height: first?.rows ?? 24, title: `${session.connection} ${describeIdentity(session)} ${session.id}` });
    try {
      writeFileSync(values.cast, text);
    } catch (e) {
      throw new CliError(`cannot write ${values.cast}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    out(`wrote ${values.cast} (asciicast v2, ${text.split('\n').length - 2} events)`);
    return;
  }
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  try {
    await playEvents(term, { speed, maxIdleSec: maxIdle, write: (d: string) => void process.stdout.write(d), signal: ac.signal });
  } finally {
    process.removeListener('SIGINT', stop);
  }
  if (!ac.signal.aborted) process.stdout.write(`\r\n[session ${session.id} ended: ${session.endReason ?? 'still open'}]\r\n`);
}

async function cmdSessions(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'list') {
    const { values } = parse(rest, { connection: { type: 'string' }, subject: { type: 'string' }, limit: { type: 'string' }, before: { type: 'string' } });
    if (typeof values.limit === 'string' && !/^[1-9]\d*$/.test(values.limit)) throw new CliError(`--limit must be a positive whole number, got "${values.limit}"`);
    if (typeof values.before === 'string') {
      const t = Date.parse(values.before);
      if (Number.isNaN(t)) throw new CliError(`--before must be a time such as 2026-11-26T10:00:00Z, got "${values.before}"`);
      values.before = new Date(t).toISOString();
    }
    const q = new URLSearchParams();
    for (const k of ['connection', 'subject', 'limit', 'before']) if (typeof values[k] === 'string') q.set(k, values[k] as string);
    const list: (SessionRecord & { who?: string; live?: boolean })[] = await readOnly(
      values,
      async (a) => (await callOk(a, 'GET', `/api/sessions?${q}`)).sessions,
      async (s) =>
        (await s.listSessions({ connection: values.connection as string, subject: values.subject as string, before: values.before as string | undefined, limit: values.limit ? Number(values.limit) : undefined })).map((x) => ({
          ...x,
          who: describeIdentity(x),
          live: x.endedAt === null,
        })),
    );
    if (values.json) return json(list);
    if (!list.length) return out('no sessions');
    for (const s of list) out(`${s.id}  ${s.startedAt}  ${s.protocol}/${s.connection}  ${s.who ?? describeIdentity(s)}  ${s.endedAt ? `ended: ${s.endReason}` : 'open'}`);
    return;
  }
  if (sub === 'show' || sub === 'replay') {
    const extra: ParseArgsConfig['options'] = sub === 'replay' ? { speed: { type: 'string' }, cast: { type: 'string' }, 'max-idle': { type: 'string' } } : {};
    const { values, positionals } = parse(rest, extra, 1);
    const id = positionals[0];
    if (!id) throw new CliError(`usage: sluice sessions ${sub} ID`);
    const r = await getSessionWithEvents(values, id);
    if (sub === 'show' && values.json) return json(r);
    if (sub === 'replay' && r.events.some((e) => e.type === 'output')) return replayTerminal(r.session, r.events, values);
    if (sub === 'replay' && (values.cast || values.speed)) throw new CliError(`session ${id} recorded no terminal output: --speed and --cast apply to shell sessions`);
    out(renderTimeline(r.session, r.events));
    return;
  }
  if (sub === 'kill') {
    const { values, positionals } = parse(rest, {}, 1);
    const id = positionals[0];
    if (!id) throw new CliError('usage: sluice sessions kill ID');
    await callOk(api(values, getConfig(values)), 'DELETE', `/api/sessions/${encodeURIComponent(id)}`);
    out(`killed ${id}`);
    return;
  }
  throw new CliError('usage: sluice sessions list|show|replay|kill (see --help)');
}

async function cmdAudit(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub !== 'verify') throw new CliError('usage: sluice audit verify');
  const { values } = parse(rest);
  const r = await readOnly(
    values,
    (a) => callOk(a, 'GET', '/api/audit/verify'),
    (s) => verifyEvents(s.iterateEvents()),
  );
  if (values.json) json(r);
  else if (r.ok) out(`audit ok: ${r.events} events in ${r.sessions} sessions, hash chains intact`);
  else out(`audit FAILED at session ${r.firstBad.session} event #${r.firstBad.seq} (${r.firstBad.type}): ${r.firstBad.reason}`);
  if (!r.ok) process.exitCode = 1;
}

const COMMANDS = ['start', 'demo', 'config', 'keys', 'approvals', 'sessions', 'audit', 'login', 'whoami', 'logout', 'token', 'connect'];

/** The usage lines of one command, plus the options every command takes. */
function commandHelp(cmd: string): string {
  const lines = HELP.split('\n');
  const usage: string[] = [];
  lines.forEach((l, i) => {
    if (!l.startsWith(`  ${cmd} `) && l !== `  ${cmd}`) return;
    usage.push(`  sluice ${l.slice(2)}`);
    // continuation lines (deeper indent) belong to the usage line above
    for (let j = i + 1; j < lines.length && /^ {10,}\S/.test(lines[j]!); j++) usage.push(`      ${lines[j]!.trim()}`);
  });
  const opts = lines.slice(lines.findIndex((l) => l.startsWith('Options for every command')));
  return ['Usage:', ...usage, '', ...opts].join('\n');
}

export async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help') return out(HELP);
  if (cmd === 'help') {
    const topic = rest[0];
    if (topic && !COMMANDS.includes(topic)) throw new CliError(`unknown command "${topic}" (see sluice --help)`);
    return out(topic ? commandHelp(topic) : HELP);
  }
  if (!COMMANDS.includes(cmd)) throw new CliError(`unknown command "${cmd}" (see sluice --help)`);
  if (rest.includes('--help') || rest.includes('-h')) return out(commandHelp(cmd));
  switch (cmd) {
    case 'start':
      return cmdStart(rest);
    case 'demo':
      return (await import('./demo/run.js')).runDemo(parse(rest, { port: { type: 'string' } }).values);
    case 'config':
      return cmdConfig(rest);
    case 'keys':
      return cmdKeys(rest);
    case 'approvals':
      return cmdApprovals(rest);
    case 'sessions':
      return cmdSessions(rest);
    case 'audit':
      return cmdAudit(rest);
    case 'login':
      return (await import('./cli-identity.js')).cmdLogin(rest);
    case 'whoami':
      return (await import('./cli-identity.js')).cmdWhoami(rest);
    case 'logout':
      return (await import('./cli-identity.js')).cmdLogout(rest);
    case 'token':
      return (await import('./cli-identity.js')).cmdToken(rest);
    case 'connect':
      return (await import('./cli-identity.js')).cmdConnect(rest);
    default:
      throw new CliError(`unknown command "${cmd}" (see sluice --help)`);
  }
}

main(process.argv.slice(2)).catch((e: unknown) => {
  if (e instanceof CliError) process.stderr.write(`sluice: ${e.message}\n`);
  else process.stderr.write(`sluice: ${(e as Error)?.message ?? String(e)}\n`);
  process.exitCode = process.exitCode || 1;
});
