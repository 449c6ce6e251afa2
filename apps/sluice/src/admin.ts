import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { mayApprove, splitHostPort, type DelegationRecord, type Gateway, type Identity, type SessionRecord } from '@sluice/core';
import type { DelegationIssuer } from '@sluice/identity-oidc';
import { parseDuration } from './config/duration.js';
import type { OidcIssuerSettings } from './config/load.js';

export interface AdminOptions {
  gateway: Gateway;
  registry: Registry;
  /** Groups whose members may use the admin API (approving needs only the rule's approvers). */
  adminGroups: string[];
  listen: string;
  /** The gateway's own token issuer (`sluice token delegate`); created once the admin URL is known. */
  delegation?: (adminUrl: string) => Promise<DelegationIssuer>;
  /** Issuers `sluice login` may use (those with a clientId). */
  login?: OidcIssuerSettings[];
  /** protocol → bound listener, for `sluice connect`. */
  listeners?: Record<string, { address: string; port: number }>;
}

export interface AdminServer {
  server: Server;
  url: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** "billing-agent for alice@example.com", or just the subject. */
export function describeIdentity(i: { subject: string; actors: string[] }): string {
  return i.actors.length ? `${i.actors.join(' via ')} for ${i.subject}` : i.subject;
}


function identityJson(i: Identity) {
  return {
    subject: i.subject,
    actors: i.actors,
    groups: i.groups,
    via: i.via,
    ...(i.connections ? { connections: i.connections } : {}),
    expiresAt: i.expiresAt ? i.expiresAt.toISOString() : null,
    credentialId: i.credentialId ?? null,
    who: describeIdentity(i),
  };
}

function tokenJson(d: DelegationRecord) {
  return { ...d, who: describeIdentity(d) };
}

function strList(v: unknown, name: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || !x)) throw new HttpError(400, `${name} must be a list of names`);
  return v as string[];
}

function sessionJson(s: SessionRecord, live: boolean) {
  return { ...s, live, who: describeIdentity(s) };
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > 64 * 1024) throw new HttpError(413, 'request body too large');
    chunks.push(c as Buffer);
  }
  if (n === 0) return {};
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error();
    return v as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'body must be a JSON object');
  }
}

/**
 * The admin API (CONTRACT "Admin API"). Every /api route needs a bearer
 * credential; all but approve/deny need membership of `admin.groups`. A
 * failure to verify a credential refuses (401), never passes.
 */
export async function startAdmin(opts: AdminOptions): Promise<AdminServer> {
  const { gateway } = opts;
  const auth = async (req: IncomingMessage): Promise<Identity> => {
    const h = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    if (!m) throw new HttpError(401, 'missing bearer token (use --token or SLUICE_TOKEN)');
    const id = await gateway.authenticate(m[1]!);
    if (!id) throw new HttpError(401, 'invalid or expired token');
    return id;
  };
  const admin = async (req: IncomingMessage): Promise<Identity> => {
    const id = await auth(req);
    if (!opts.adminGroups.some((g) => id.groups.includes(g))) {
      throw new HttpError(403, `the admin API needs membership of: ${opts.adminGroups.join(', ') || '(no admin groups configured)'}`);
    }
    return id;
  };

  const isAdmin = (id: Identity) => opts.adminGroups.some((g) => id.groups.includes(g));
  let issuer: DelegationIssuer | null = null;
  const needIssuer = (): DelegationIssuer => {
    if (!issuer) throw new HttpError(404, 'this gateway does not issue delegated tokens');
    return issuer;
  };
  const mayOpen = (groups: string[], name: string) => {
    const c = gateway.connection(name);
    return !!c && c.access.some((g) => groups.includes(g));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const send = (status: number, body: unknown) => {
      const s = JSON.stringify(body, null, 2);
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(s + '\n');
    };
    const method = req.method ?? 'GET';

    if (path === '/healthz' && method === 'GET') return send(200, { ok: true, sessions: gateway.liveSessions.length });
    if (path === '/metrics' && method === 'GET') {
      res.writeHead(200, { 'content-type': opts.registry.contentType });
      res.end(await opts.registry.metrics());
      return;
    }
    if (path === '/.well-known/jwks.json' && method === 'GET') return send(200, needIssuer().jwks());
    if (path === '/.well-known/openid-configuration' && method === 'GET') {
      const iss = needIssuer().issuer;
      return send(200, { issuer: iss, jwks_uri: `${iss}/.well-known/jwks.json`, id_token_signing_alg_values_supported: ['EdDSA'], subject_types_supported: ['public'] });
    }
    if (path === '/api/login' && method === 'GET') {
      // Public: what `sluice login` needs to start a device flow (no secrets).
      const issuers = (opts.login ?? []).filter((i) => i.clientId).map((i) => ({ issuer: i.issuer, clientId: i.clientId, scopes: i.scopes ?? null, resource: i.resource ?? null, audience: i.audience }));
      return send(200, { issuers });
    }
    if (path === '/api/whoami' && method === 'GET') return send(200, identityJson(await auth(req)));
    if (path === '/api/connections' && method === 'GET') {
      const who = await auth(req);
      const list = gateway.connectionNames
        .map((n) => gateway.connection(n)!)
        .filter((c) => (!who.connections || who.connections.includes(c.name)) && c.access.some((g) => who.groups.includes(g)))
        .map((c) => ({ name: c.name, type: c.type, listen: opts.listeners?.[c.type]?.address ?? null }));
      return send(200, { connections: list, tlsCert: gateway.tls.cert });
    }
    if (path === '/api/tokens' && method === 'POST') {
      const who = await auth(req);
      const body = await readJson(req);
      if (typeof body.agent !== 'string' || !body.agent) throw new HttpError(400, 'agent is required (the name the agent will be recorded as)');
      let ttlMs: number | undefined;
      if (body.ttl !== undefined && body.ttl !== null) {
        try {
          ttlMs = parseDuration(body.ttl as string | number);
        } catch (e) {
          throw new HttpError(400, `ttl: ${(e as Error).message}`);
        }
      }
      try {
        const { token, record } = await needIssuer().delegate(
          who,
          { agent: body.agent, ttlMs, groups: strList(body.groups, 'groups'), connections: strList(body.connections, 'connections') },
          mayOpen,
        );
        gateway.logger.info({ token: record.id, subject: record.subject, actors: record.actors, expiresAt: record.expiresAt }, 'delegated token issued');
        return send(201, { token, ...tokenJson(record) });
      } catch (e) {
        // DelegationError (checked by name: the admin module does not load the OIDC package for the CLI's sake).
        if (e instanceof Error && e.name === 'DelegationError') throw new HttpError((e as Error & { status: number }).status, e.message);
        throw e;
      }
    }
    if (path === '/api/tokens' && method === 'GET') {
      const who = await auth(req);
      const list = await gateway.store.listDelegations(isAdmin(who) ? url.searchParams.get('subject') || undefined : who.subject);
      return send(200, { tokens: list.map(tokenJson) });
    }
    let t = /^\/api\/tokens\/([\w-]+)$/.exec(path);
    if (t && method === 'DELETE') {
      const who = await auth(req);
      const rec = await gateway.store.getDelegation(t[1]!);
      // Someone else's token looks like no token at all (no enumeration).
      if (!rec || (!isAdmin(who) && rec.subject !== who.subject)) throw new HttpError(404, `no token ${t[1]}`);
      if (rec.revokedAt) return send(200, { token: tokenJson(rec), killedSessions: 0 });
      await gateway.store.revokeDelegation(rec.id, new Date().toISOString());
      const killed = await gateway.killSessionsOf(rec.id, 'token revoked');
      gateway.logger.info({ token: rec.id, by: who.subject, killed }, 'delegated token revoked');
      return send(200, { token: tokenJson((await gateway.store.getDelegation(rec.id))!), killedSessions: killed });
    }
    if (path === '/api/sessions' && method === 'GET') {
      await admin(req);
      const limit = url.searchParams.get('limit');
      const list = await gateway.store.listSessions({
        connection: url.searchParams.get('connection') || undefined,
        subject: url.searchParams.get('subject') || undefined,
        before: url.searchParams.get('before') || undefined,
        limit: limit ? Math.max(1, Math.min(1000, Number(limit) || 50)) : undefined,
      });
      return send(200, { sessions: list.map((s) => sessionJson(s, !!gateway.liveSession(s.id))) });
    }
    let m = /^\/api\/sessions\/([\w-]+)$/.exec(path);
    if (m && method === 'GET') {
      await admin(req);
      const s = await gateway.store.getSession(m[1]!);
      if (!s) throw new HttpError(404, `no session ${m[1]}`);
      const events = await gateway.store.getEvents(s.id);
      return send(200, { session: sessionJson(s, !!gateway.liveSession(s.id)), events });
    }
    if (m && method === 'DELETE') {
      await admin(req);
      const killed = await gateway.killSession(m[1]!);
      if (!killed) throw new HttpError(404, `no live session ${m[1]}`);
      return send(200, { killed: m[1] });
    }
    if (path === '/api/approvals' && method === 'GET') {
      // Admins see every request; anyone else (an approver is not necessarily
      // an admin) sees only the requests they may decide.
      const who = await auth(req);
      const isAdmin = opts.adminGroups.some((g) => who.groups.includes(g));
      const status = url.searchParams.get('status') || undefined;
      const valid = ['pending', 'approved', 'denied', 'expired', 'cancelled', 'abandoned'];
      if (status && !valid.includes(status)) throw new HttpError(400, `status must be one of ${valid.join(', ')}`);
      const list = (await gateway.store.listApprovals(status as never)).filter((a) => isAdmin || mayApprove(who, a.requester, a.approvers).ok);
      return send(200, { approvals: list.map((a) => ({ ...a, requestedBy: describeIdentity(a.requester) })) });
    }
    m = /^\/api\/approvals\/([\w-]+)\/(approve|deny)$/.exec(path);
    if (m && method === 'POST') {
      const who = await auth(req);
      const body = await readJson(req);
      const reason = typeof body.reason === 'string' ? body.reason.slice(0, 1000) : null;
      const r = await gateway.broker.decide(m[1]!, who, m[2] === 'approve', reason);
      if (r.status === 200) return send(200, { approval: r.approval });
      return send(r.status, { error: r.error, approval: r.approval });
    }
    if (path === '/api/audit/verify' && method === 'GET') {
      await admin(req);
      return send(200, await gateway.verifyAudit());
    }
    throw new HttpError(404, `no route ${method} ${path}`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      const message = e instanceof HttpError ? e.message : 'internal error';
      if (!(e instanceof HttpError)) gateway.logger.error({ err: (e as Error).message }, 'admin API error');
      if (!res.headersSent) res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: message }) + '\n');
    });
  });
  const { host, port } = splitHostPort(opts.listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  const url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  try {
    if (opts.delegation) issuer = await opts.delegation(url);
  } catch (e) {
    server.close();
    throw e;
  }
  return {
    server,
    url,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
