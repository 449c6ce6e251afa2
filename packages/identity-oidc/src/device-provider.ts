/**
 * A real OpenID provider (oidc-provider 9) on 127.0.0.1 for end-to-end tests
 * of the OAuth 2.0 Device Authorization Grant (RFC 8628), with the user's
 * side scripted: `approve()` / `deny()` walk the same HTTP pages a person in a
 * browser would (verification_uri_complete → confirm the code → log in →
 * consent), over fetch with a small cookie jar. No browser, no HTML forms
 * for login/consent: the provider's interaction URL is answered by this
 * harness, which logs in the account that `approve()` named and grants the
 * requested scopes.
 *
 * Tokens: ID tokens carry `sub` (account id), `email`, `email_verified: true`
 * and `groups` (scopes `openid email profile groups`); `offline_access` gives
 * a refresh token. TTLs are configurable so a test can let tokens expire.
 *
 * Test support only: not exported from the package index (oidc-provider is a
 * dev dependency). It lives here rather than under tests/ because
 * `oidc-provider` and `jose` resolve only from this package (pnpm links them
 * into packages/identity-oidc/node_modules, not the root); tests under tests/
 * import it by relative path.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

export interface TestAccount {
  id: string;
  email: string;
  groups: string[];
}

export interface DeviceProvider {
  /** http://127.0.0.1:PORT (no trailing slash), as tokens' `iss` and discovery spell it. */
  issuer: string;
  /** A public client (token_endpoint_auth_method 'none') allowed device_code + refresh_token. */
  clientId: string;
  /**
   * Completes the user side of a device flow, as a person in a browser would:
   * open verification_uri_complete, confirm the code, log in as `accountId`,
   * consent. Throws with a clear message if any step fails.
   */
  approve(verificationUriComplete: string, accountId: string): Promise<void>;
  /** Same but the user aborts on the confirmation page (the polling client then gets access_denied). */
  deny(verificationUriComplete: string): Promise<void>;
  close(): Promise<void>;
}

export interface DeviceProviderOptions {
  accounts: TestAccount[];
  /** Default 'sluice'. */
  clientId?: string;
  /** Default 3600. */
  accessTokenTtlSec?: number;
  /** Default 3600. */
  idTokenTtlSec?: number;
  /**
   * `interval` put in the device authorization response (default 1).
   * oidc-provider itself sends none, and clients then poll every 5 s.
   */
  pollIntervalSec?: number;
}

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]+)$/;
const MAX_REDIRECTS = 10;

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function unescapeHtml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_m, e: string) =>
    ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'" })[e]!,
  );
}

/** Machine-readable pages for the device flow: `data-page` says which, `data-error` why it failed. */
function page(name: string, body: string, error?: string): string {
  const err = error ? ` data-error="${escapeHtml(error)}"` : '';
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${name}</title></head><body data-page="${name}"${err}>${body}</body></html>`;
}

interface Form {
  action: string;
  fields: Record<string, string>;
}

/** The first <form> of a page: its action and its hidden inputs. */
function parseForm(html: string, base: string): Form | undefined {
  const form = /<form\b[^>]*\baction="([^"]*)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) return undefined;
  const fields: Record<string, string> = {};
  for (const input of form[2]!.matchAll(/<input\b[^>]*>/gi)) {
    const tag = input[0];
    if (!/\btype="hidden"/i.test(tag)) continue;
    const name = /\bname="([^"]*)"/i.exec(tag)?.[1];
    const value = /\bvalue="([^"]*)"/i.exec(tag)?.[1] ?? '';
    if (name) fields[unescapeHtml(name)] = unescapeHtml(value);
  }
  return { action: new URL(unescapeHtml(form[1]!), base).href, fields };
}

function pageName(html: string): string | undefined {
  return /<body\b[^>]*\bdata-page="([^"]*)"/i.exec(html)?.[1];
}

function pageError(html: string): string | undefined {
  const e = /<body\b[^>]*\bdata-error="([^"]*)"/i.exec(html)?.[1];
  return e === undefined ? undefined : unescapeHtml(e);
}

/** A browser, reduced to what the device pages need: cookies (by name; paths ignored) and manual redirects. */
class Browser {
  private readonly cookies = new Map<string, string>();

  constructor(private readonly issuer: string) {}

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<{ url: string; status: number; location?: string; body: string }> {
    if (new URL(url).origin !== new URL(this.issuer).origin) throw new Error(`refusing to leave the provider: ${url}`);
    const headers: Record<string, string> = { accept: 'text/html' };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: URLSearchParams | undefined;
    if (init.form) {
      body = new URLSearchParams(init.form);
      headers['content-type'] = 'application/x-www-form-urlencoded';
    }
    const res = await fetch(url, { method: init.method ?? (body ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const sc of res.headers.getSetCookie()) this.store(sc);
    const location = res.headers.get('location');
    return { url, status: res.status, location: location ? new URL(location, url).href : undefined, body: await res.text() };
  }

  private store(setCookie: string): void {
    const [pair, ...attrs] = setCookie.split(';');
    const eq = pair!.indexOf('=');
    if (eq <= 0) return;
    const name = pair!.slice(0, eq).trim();
    const value = pair!.slice(eq + 1).trim();
    const expired = attrs.some((a) => {
      const [k, v = ''] = a.split('=').map((s) => s.trim());
      if (k!.toLowerCase() === 'max-age') return Number(v) <= 0;
      if (k!.toLowerCase() === 'expires') return Date.parse(v) <= Date.now();
      return false;
    });
    if (expired || value === '') this.cookies.delete(name);
    else this.cookies.set(name, value);
  }
}

function failure(step: string, r: { url: string; status: number; location?: string; body: string }): string {
  const err = pageError(r.body);
  const what = err ?? (r.body.length > 300 ? r.body.slice(0, 300) + '…' : r.body);
  return `device flow: ${step}: ${r.status} from ${r.url}${r.location ? ` (→ ${r.location})` : ''}: ${what || '(empty body)'}`;
}

export async function startDeviceProvider(opts: DeviceProviderOptions): Promise<DeviceProvider> {
  const clientId = opts.clientId ?? 'sluice';
  const accounts = new Map(opts.accounts.map((a) => [a.id, a]));
  const pollInterval = opts.pollIntervalSec ?? 1;
  /** Interaction uid → the account approve() logs in for it. */
  const pending = new Map<string, string>();

  const server: Server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: 'device-provider-rs256', alg: 'RS256', use: 'sig' };

  const provider = new Provider(issuer, {
    jwks: { keys: [signingKey] },
    cookies: { keys: [randomBytes(32).toString('hex')] },
    clients: [
      {
        client_id: clientId,
        token_endpoint_auth_method: 'none',
        grant_types: [DEVICE_CODE_GRANT, 'refresh_token'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    // Scope → claims. `openid` always gives `sub`.
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['preferred_username'],
      groups: ['groups'],
    },
    // Put scope claims in the ID token even though an access token is issued too.
    conformIdTokenClaims: false,
    findAccount: (_ctx: unknown, sub: string) => {
      const a = accounts.get(sub);
      if (!a) return undefined;
      return {
        accountId: a.id,
        claims: () => ({
          sub: a.id,
          email: a.email,
          email_verified: true,
          preferred_username: a.email.split('@')[0],
          groups: [...a.groups],
        }),
      };
    },
    ttl: {
      AccessToken: opts.accessTokenTtlSec ?? 3600,
      IdToken: opts.idTokenTtlSec ?? 3600,
      RefreshToken: 24 * 3600,
      DeviceCode: 600,
      Interaction: 600,
      Session: 24 * 3600,
      Grant: 24 * 3600,
    },
    interactions: {
      url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}`,
    },
    renderError: (ctx: { type: string; body: unknown }, out: { error: string; error_description?: string }) => {
      ctx.type = 'html';
      ctx.body = page('error', '', `${out.error}${out.error_description ? `: ${out.error_description}` : ''}`);
    },
    features: {
      devInteractions: { enabled: false },
      deviceFlow: {
        enabled: true,
        userCodeInputSource: (ctx: { type: string; body: unknown }, form: string, _out: unknown, err?: Error) => {
          ctx.type = 'html';
          ctx.body = page('input', form, err ? `${err.name}: ${err.message}` : undefined);
        },
        userCodeConfirmSource: (ctx: { type: string; body: unknown }, form: string, _client: unknown, _info: unknown, userCode: string) => {
          ctx.type = 'html';
          ctx.body = page('confirm', `${form}<code>${escapeHtml(userCode)}</code>`);
        },
        successSource: (ctx: { type: string; body: unknown }) => {
          ctx.type = 'html';
          ctx.body = page('success', '<p>Signed in. You can close this page.</p>');
        },
      },
    },
  });
  // The device authorization response has no `interval` in oidc-provider; clients then default to 5 s.
  (provider as any).use(async (ctx: any, next: () => Promise<void>) => {
    await next();
    if (ctx.method === 'POST' && ctx.path === '/device/auth' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && 'device_code' in ctx.body) {
      ctx.body.interval = pollInterval;
    }
  });

  const oidc = provider.callback();

  async function interaction(req: IncomingMessage, res: ServerResponse, uid: string): Promise<void> {
    const p = provider as any;
    const details = await p.interactionDetails(req, res);
    const accountId = pending.get(details.uid);
    if (details.uid !== uid || !accountId) {
      res.writeHead(400, { 'content-type': 'text/html' });
      res.end(page('error', '', `no scripted approval is waiting for interaction ${uid}`));
      return;
    }
    pending.delete(details.uid);
    const params = details.params as { client_id: string; scope?: string };
    const missing = (details.prompt?.details ?? {}) as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const grant = details.grantId ? await p.Grant.find(details.grantId) : new p.Grant({ accountId, clientId: params.client_id });
    if (params.scope) grant.addOIDCScope(params.scope);
    if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const grantId: string = await grant.save();
    await p.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
  }

  server.on('request', (req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const m = req.method === 'GET' ? INTERACTION_PATH.exec(path) : null;
    if (!m) {
      oidc(req, res);
      return;
    }
    interaction(req, res, m[1]!).catch((e: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(500, { 'content-type': 'text/html' });
      res.end(page('error', '', `interaction failed: ${e instanceof Error ? e.message : String(e)}`));
    });
  });

  /** Opens verification_uri_complete and submits the code: returns the browser on the confirmation page. */
  async function openConfirmation(verificationUriComplete: string): Promise<{ browser: Browser; confirm: Form }> {
    const browser = new Browser(issuer);
    const opened = await browser.request(verificationUriComplete);
    const autoPost = opened.status === 200 ? parseForm(opened.body, opened.url) : undefined;
    if (!autoPost || !autoPost.fields.user_code || !autoPost.fields.xsrf) throw new Error(failure('opening verification_uri_complete', opened));
    const submitted = await browser.request(autoPost.action, { form: autoPost.fields });
    const confirm = submitted.status === 200 && pageName(submitted.body) === 'confirm' ? parseForm(submitted.body, submitted.url) : undefined;
    if (!confirm || confirm.fields.confirm === undefined) throw new Error(failure(`submitting user code ${autoPost.fields.user_code}`, submitted));
    return { browser, confirm };
  }

  async function approve(verificationUriComplete: string, accountId: string): Promise<void> {
    if (!accounts.has(accountId)) throw new Error(`device flow: unknown account "${accountId}" (known: ${[...accounts.keys()].join(', ')})`);
    const { browser, confirm } = await openConfirmation(verificationUriComplete);
    let r = await browser.request(confirm.action, { form: confirm.fields });
    const claimed: string[] = [];
    try {
      for (let hops = 0; r.location && r.status >= 300 && r.status < 400; hops++) {
        if (hops >= MAX_REDIRECTS) throw new Error(failure('too many redirects', r));
        const m = INTERACTION_PATH.exec(new URL(r.location).pathname);
        if (m) {
          pending.set(m[1]!, accountId);
          claimed.push(m[1]!);
        }
        r = await browser.request(r.location);
      }
    } finally {
      for (const uid of claimed) pending.delete(uid);
    }
    if (r.status !== 200 || pageName(r.body) !== 'success') throw new Error(failure(`approving as ${accountId}`, r));
  }

  async function deny(verificationUriComplete: string): Promise<void> {
    const { browser, confirm } = await openConfirmation(verificationUriComplete);
    const { confirm: _yes, ...fields } = confirm.fields;
    const r = await browser.request(confirm.action, { form: { ...fields, abort: 'yes' } });
    if (r.status !== 200 || !pageError(r.body)?.startsWith('AbortedError')) throw new Error(failure('aborting', r));
  }

  async function close(): Promise<void> {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  return { issuer, clientId, approve, deny, close };
}
