/**
 * The identity commands: login / whoami / logout, token delegate / list /
 * revoke / rotate-key, and connect. All but rotate-key talk to a running
 * gateway's admin API with the user's own credential.
 */
import { api, call, callOk, CliError, getConfig, json, out, parse, type Api, type Values } from './cli-common.js';
import { parseDuration } from './config/index.js';
import { cachedLogin, deviceLogin, forgetLogin, loginCredential, revokeAtIssuer, saveLogin, type LoginIssuer } from './login.js';

const err = (s: string): void => void process.stderr.write(s + '\n');

function list(v: string | boolean | undefined): string[] | undefined {
  return typeof v === 'string' ? v.split(',').map((x) => x.trim()).filter(Boolean) : undefined;
}

function until(iso: string | null): string {
  if (!iso) return 'does not expire';
  const ms = Date.parse(iso) - Date.now();
  if (ms <= 0) return `expired ${iso}`;
  const m = Math.round(ms / 60_000);
  return `expires ${iso} (in ${m >= 120 ? `${Math.round(m / 60)}h` : `${m}m`})`;
}

export async function cmdLogin(args: string[]): Promise<void> {
  const { values } = parse(args, { issuer: { type: 'string' } });
  const a = api(values, getConfig(values));
  const r = await call(a, 'GET', '/api/login');
  if (r.status >= 400) throw new CliError(`${r.status}: ${r.body?.error ?? 'cannot read the login settings'}`);
  const issuers: LoginIssuer[] = r.body.issuers ?? [];
  if (!issuers.length) throw new CliError(`the gateway at ${a.server} offers no login: configure identity.oidc[].clientId (a public client with the device flow) — or use an API key with --token`);
  const want = typeof values.issuer === 'string' ? values.issuer.replace(/\/+$/, '') : undefined;
  const chosen = want ? issuers.find((i) => i.issuer.replace(/\/+$/, '') === want) : issuers[0];
  if (!chosen) throw new CliError(`--issuer ${want} is not one the gateway trusts (${issuers.map((i) => i.issuer).join(', ')})`);
  const login = await deviceLogin(chosen, (p) => {
    // One write, so a reader never sees the URL without the code.
    err(`To sign in, open ${p.verificationUriComplete ?? p.verificationUri}\nand confirm the code ${p.userCode} (valid for ${Math.round(p.expiresInSec / 60)} minutes).\nWaiting…`);
  }).catch((e: Error & { error?: string }) => {
    if (e.error === 'access_denied') throw new CliError('login denied at the identity provider');
    if (e.error === 'expired_token') throw new CliError('the code expired before it was confirmed: run sluice login again');
    throw new CliError(`login failed: ${e.message}`);
  });
  // Ask the gateway whether it accepts the token before keeping it.
  const who = await call({ ...a, token: login.credential }, 'GET', '/api/whoami');
  if (who.status !== 200) {
    throw new CliError(`the identity provider signed you in, but the gateway does not accept its token (${who.body?.error ?? who.status}); check identity.oidc audience and groupsClaim`);
  }
  saveLogin(a.server, { ...login, subject: who.body.subject });
  if (values.json) return json({ server: a.server, ...who.body });
  out(`Logged in to ${a.server} as ${who.body.who} [${(who.body.groups as string[]).join(', ')}], ${until(who.body.expiresAt)}`);
}

export async function cmdWhoami(args: string[]): Promise<void> {
  const { values } = parse(args);
  const a = api(values, getConfig(values));
  const r = await callOk(a, 'GET', '/api/whoami');
  if (values.json) return json(r);
  out(`subject: ${r.subject}`);
  out(`groups:  ${(r.groups as string[]).join(', ') || '(none)'}`);
  out(`actors:  ${(r.actors as string[]).join(' → ') || '(none: acting directly)'}`);
  out(`via:     ${r.via}${r.credentialId ? ` (${r.credentialId})` : ''}`);
  if (r.connections) out(`limited to connections: ${(r.connections as string[]).join(', ')}`);
  out(`expiry:  ${until(r.expiresAt)}`);
}

export async function cmdLogout(args: string[]): Promise<void> {
  const { values } = parse(args);
  const a = api(values, getConfig(values));
  const had = forgetLogin(a.server);
  if (!had) return out(`not logged in to ${a.server}`);
  const revoked = await revokeAtIssuer(had);
  out(`logged out of ${a.server}${revoked ? ' (refresh token revoked at the identity provider)' : ''}`);
}

async function tokenApi(values: Values): Promise<Api> {
  return api(values, getConfig(values));
}

export async function cmdToken(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'delegate') {
    const { values } = parse(rest, { agent: { type: 'string' }, ttl: { type: 'string' }, groups: { type: 'string' }, connections: { type: 'string' } });
    if (typeof values.agent !== 'string' || !values.agent) throw new CliError('--agent NAME is required (the name the agent is recorded as)');
    if (typeof values.ttl === 'string') {
      try {
        parseDuration(values.ttl);
      } catch (e) {
        throw new CliError(`--ttl: ${(e as Error).message}`);
      }
    }
    const r = await callOk(await tokenApi(values), 'POST', '/api/tokens', {
      agent: values.agent,
      ttl: values.ttl ?? null,
      groups: list(values.groups) ?? null,
      connections: list(values.connections) ?? null,
    });
    if (values.json) return json(r);
    // The token alone on stdout (PGPASSWORD=$(sluice token delegate …)); the rest on stderr.
    err(`token ${r.id}: ${r.who} [${(r.groups as string[]).join(', ')}]${r.connections ? ` on ${(r.connections as string[]).join(', ')}` : ''}, ${until(r.expiresAt)}`);
    out(r.token);
    return;
  }
  if (sub === 'list') {
    const { values } = parse(rest);
    const r = await callOk(await tokenApi(values), 'GET', '/api/tokens');
    if (values.json) return json(r.tokens);
    if (!r.tokens.length) return out('no delegated tokens');
    for (const t of r.tokens) {
      const state = t.revokedAt ? 'revoked' : Date.parse(t.expiresAt) <= Date.now() ? 'expired' : 'active';
      out(`${t.id}  ${t.who}  [${(t.groups as string[]).join(', ')}]${t.connections ? `  on ${(t.connections as string[]).join(', ')}` : ''}  ${state}  ${until(t.expiresAt)}`);
    }
    return;
  }
  if (sub === 'revoke') {
    const { values, positionals } = parse(rest, {}, 1);
    const id = positionals[0];
    if (!id) throw new CliError('usage: sluice token revoke ID');
    const r = await callOk(await tokenApi(values), 'DELETE', `/api/tokens/${encodeURIComponent(id)}`);
    if (values.json) return json(r);
    out(`revoked ${id}${r.killedSessions ? ` (ended ${r.killedSessions} live session${r.killedSessions > 1 ? 's' : ''})` : ''}`);
    return;
  }
  if (sub === 'rotate-key') {
    const { values } = parse(rest);
    const cfg = getConfig(values);
    const { rotateDelegationKey } = await import('@sluice/identity-oidc');
    const { ensureDataDir } = await import('./store.js');
    ensureDataDir(cfg.dataDir);
    const r = await rotateDelegationKey(cfg.dataDir);
    if (values.json) return json(r);
    out(`new signing key ${r.kid}; tokens signed by earlier keys stay valid until they expire${r.retired.length ? ` (retired: ${r.retired.join(', ')})` : ''}`);
    return;
  }
  throw new CliError('usage: sluice token delegate|list|revoke|rotate-key (see --help)');
}

export async function cmdConnect(args: string[]): Promise<void> {
  const { values, positionals } = parse(args, { port: { type: 'string' }, host: { type: 'string' } }, 1);
  const name = positionals[0];
  if (!name) throw new CliError('usage: sluice connect CONNECTION [--port N]');
  let port = 0;
  if (typeof values.port === 'string') {
    if (!/^\d+$/.test(values.port) || Number(values.port) > 65535) throw new CliError(`--port must be a port number, got "${values.port}"`);
    port = Number(values.port);
  }
  const host = typeof values.host === 'string' ? values.host : '127.0.0.1';
  const a = api(values, getConfig(values));
  const explicitToken = a.token;
  const credential = async (): Promise<string> => {
    const t = explicitToken ?? (await loginCredential(a.server));
    if (!t) throw new Error('not logged in: run sluice login (or pass --token)');
    return t;
  };
  const r = await callOk(a, 'GET', '/api/connections');
  const conn = (r.connections as { name: string; type: string; listen: string | null }[]).find((c) => c.name === name);
  if (!conn) throw new CliError(`no connection "${name}" that you may open (see sluice whoami)`);
  if (!conn.listen) throw new CliError(`the gateway has no ${conn.type} listener, so "${name}" cannot be reached`);
  const { startConnect } = await import('./connect.js');
  const { splitHostPort } = await import('@sluice/core');
  // A listener bound to every interface is reached at the admin server's host.
  const l = splitHostPort(conn.listen);
  const gatewayHost = l.host === '0.0.0.0' || l.host === '::' ? new URL(a.server).hostname : l.host;
  const who = await callOk(a, 'GET', '/api/whoami');
  const user = String(who.subject).replace(/[^\w.@+-]/g, '_') || 'sluice';
  const server = await startConnect({
    connection: name,
    protocol: conn.type,
    gateway: `${gatewayHost.includes(':') ? `[${gatewayHost}]` : gatewayHost}:${l.port}`,
    tlsCert: r.tlsCert,
    credential,
    user,
    listen: { host, port },
    log: err,
  }).catch((e: Error & { code?: string }) => {
    throw new CliError(e.code === 'EADDRINUSE' ? `port ${port} is in use (--port)` : e.message);
  });
  const shownHost = host.includes(':') ? `[${host}]` : host;
  err(`Forwarding ${shownHost}:${server.port} → ${name} (${conn.type}) as ${who.who}. Press Ctrl-C to stop.`);
  out(
    conn.type === 'mysql'
      ? `mysql -h ${host} -P ${server.port} -u ${user} ${name}`
      : `psql "host=${host} port=${server.port} dbname=${name} user=${user}"`,
  );
  await new Promise<void>((done) => {
    const stop = () => void server.close().then(done, done);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

export { cachedLogin };
