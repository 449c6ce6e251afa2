/**
 * What every CLI command shares: argument parsing, the config, output, and
 * the admin API client (with the credential from --token, SLUICE_TOKEN or
 * `sluice login`).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Store } from '@sluice/core';
import { loadConfig, parseConfigText, type GatewayConfig } from './config/index.js';
import { openStore } from './store.js';
import { loginCredential } from './login.js';

/** A failure the user caused or can fix: printed as one line, exit 1. */
export class CliError extends Error {}

export const common = {
  config: { type: 'string', short: 'c' },
  server: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

export type Values = Record<string, string | boolean | undefined>;

export function parse(args: string[], extra: ParseArgsConfig['options'] = {}, positionals = 0): { values: Values; positionals: string[] } {
  try {
    const r = parseArgs({ args, options: { ...common, ...extra }, allowPositionals: true, strict: true });
    if (r.positionals.length > positionals) throw new CliError(`unexpected argument "${r.positionals[positionals]}" (see --help)`);
    return { values: r.values as Values, positionals: r.positionals };
  } catch (e) {
    if (e instanceof CliError) throw e;
    throw new CliError((e as Error).message.replace(/\. To specify.*$/s, ''));
  }
}

/** The config file as the user named it (errors quote it that way); the loader resolves paths itself. */
export function configPath(v: Values): string | null {
  if (typeof v.config === 'string') return v.config;
  if (process.env.SLUICE_CONFIG) return process.env.SLUICE_CONFIG;
  return existsSync('sluice.yaml') ? 'sluice.yaml' : null;
}

export function getConfig(v: Values): GatewayConfig {
  const p = configPath(v);
  if (p) {
    if (!existsSync(p)) throw new CliError(`config file not found: ${p}`);
    try {
      return loadConfig(p);
    } catch (e) {
      throw new CliError((e as Error).message);
    }
  }
  return parseConfigText('dataDir: ./.sluice\n', resolve('sluice.yaml'));
}

export function need(v: Values, name: string): string {
  const x = v[name];
  if (typeof x !== 'string' || !x) throw new CliError(`--${name} is required`);
  return x;
}

export const out = (s: string): void => void process.stdout.write(s + "\n");
export const json = (x: unknown) => out(JSON.stringify(x, null, 2));

// ------------------------------------------------------------- admin API client

export interface Api {
  server: string;
  token: string | undefined;
  explicit: boolean;
}

export function api(v: Values, cfg: GatewayConfig): Api {
  const explicit = typeof v.server === 'string' || !!process.env.SLUICE_SERVER;
  const raw = (v.server as string | undefined) ?? process.env.SLUICE_SERVER ?? `http://${cfg.admin.listen}`;
  return { server: raw.replace(/\/+$/, ''), token: (v.token as string | undefined) ?? process.env.SLUICE_TOKEN, explicit };
}

export async function call(a: Api, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  let res: Response;
  try {
    res = await fetch(a.server + path, {
      method,
      headers: { ...(a.token ? { authorization: `Bearer ${a.token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
  } catch (e) {
    const err = new CliError(`cannot reach the gateway at ${a.server} (${(e as any).cause?.code ?? (e as any).cause?.message ?? (e as Error).message}); is it running? (--server)`);
    (err as any).unreachable = true;
    throw err;
  }
  const text = await res.text();
  let parsed: any;
  try {
    parsed = text ? JSON.parse(text) : {};
  } catch {
    parsed = { error: text.trim() };
  }
  return { status: res.status, body: parsed };
}

export async function callOk(a: Api, method: string, path: string, body?: unknown): Promise<any> {
  if (!a.token) {
    try {
      a.token = await loginCredential(a.server);
    } catch (e) {
      throw new CliError((e as Error).message);
    }
  }
  if (!a.token) throw new CliError('this command needs a credential: sluice login, --token or SLUICE_TOKEN');
  const r = await call(a, method, path, body);
  if (r.status >= 400) throw new CliError(`${r.status}: ${r.body?.error ?? 'request failed'}`);
  return r.body;
}

/**
 * Read-only data: from the running gateway when a server or token is given,
 * else straight from the configured store (local access to the store is
 * already full access to it).
 */
export async function readOnly<T>(v: Values, viaApi: (a: Api) => Promise<T>, viaStore: (s: Store) => Promise<T>): Promise<T> {
  const cfg = getConfig(v);
  const a = api(v, cfg);
  if (a.explicit || a.token) return viaApi(a);
  const store = openStore(cfg);
  try {
    return await viaStore(store);
  } finally {
    await store.close();
  }
}

