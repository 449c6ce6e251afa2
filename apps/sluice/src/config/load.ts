/**
 * `sluice.yaml` → GatewayConfig.
 *
 * The file is parsed with the `yaml` Document API and walked node by node, so
 * every problem carries the line of the offending key or value. Nothing is
 * lenient: unknown keys are errors (a typo such as `blok:` must not silently
 * disable a policy), and so are rules that would match every command by
 * accident. Values are never echoed when they came from a `${…}` reference
 * (the reference is shown instead) or belong to a secret key.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument } from 'yaml';
import type { Document, Scalar, YAMLMap, YAMLSeq } from 'yaml';
import { DETECTOR_NAMES } from '@sluice/core';
import type {
  ApproveRule,
  BlockRule,
  ConnectionConfig,
  DetectorName,
  MaskRule,
  MaskStrategy,
  Matcher,
  Policy,
} from '@sluice/core';
import { ConfigError, formatDiagnostic } from './errors.js';
import { DURATION_HINT, parseDuration } from './duration.js';
import { fsReason, resolvePath, resolveRefs } from './secrets.js';

// ---------------------------------------------------------------- the result

export interface GatewayConfig {
  /** Absolute path of the config file, or null for built-in defaults. */
  file: string | null;
  /** Absolute; relative values resolve against the config file's directory. Default `.sluice`. */
  dataDir: string;
  store: { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };
  /** SQLite `synchronous`: normal (survives kill -9) or full (survives power loss). */
  storeSync: 'normal' | 'full';
  admin: { listen: string; groups: string[] };
  /** Protocol → 'host:port', only the protocols listed. */
  listeners: Record<string, string>;
  /** Absolute file paths, if configured. */
  tls: { cert: string; key: string } | null;
  identity: {
    oidc: OidcIssuerSettings[];
    /** The gateway's own issuer for delegated tokens (`sluice token delegate`). */
    delegation: { issuer: string | null; maxTtlMs: number; defaultTtlMs: number };
  };
  connections: ConnectionConfig[];
  policies: Policy[];
  /** Non-fatal findings, each `FILE:LINE: key: message` (the caller adds "warning: "). */
  warnings: string[];
}

export type CheckResult =
  | { ok: true; config: GatewayConfig; warnings: string[] }
  | { ok: false; errors: ConfigError[]; warnings: string[] };

export interface OidcIssuerSettings {
  issuer: string;
  audience: string;
  groupsClaim: string;
  /** Public client `sluice login` uses for the device flow; absent = login not offered for this issuer. */
  clientId?: string;
  /** Scopes asked for at login (default openid email profile offline_access). */
  scopes?: string[];
  /** RFC 8707 resource indicator sent at login (IdPs that mint JWT access tokens per resource). */
  resource?: string;
}

export const DEFAULT_DELEGATION_MAX_TTL_MS = 60 * 60_000;
export const DEFAULT_DELEGATION_TTL_MS = 15 * 60_000;

// ---------------------------------------------------------------- vocabulary

export const PROTOCOLS = ['postgres', 'mysql', 'ssh', 'redis', 'kubernetes'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

export const DEFAULT_ADMIN_LISTEN = '127.0.0.1:8080';
export const DEFAULT_DATA_DIR = '.sluice';
export const DEFAULT_APPROVAL_TIMEOUT_MS = 10 * 60_000;
/** setTimeout cannot wait longer than 2^31-1 ms (it fires at once instead). */
export const MAX_TIMEOUT_MS = 2_147_483_647;

const TOP_KEYS = ['dataDir', 'store', 'storeSync', 'admin', 'listeners', 'tls', 'identity', 'connections', 'policies'];
const ADMIN_KEYS = ['listen', 'groups'];
const TLS_KEYS = ['cert', 'key'];
const IDENTITY_KEYS = ['oidc', 'delegation'];
const OIDC_KEYS = ['issuer', 'audience', 'groupsClaim', 'clientId', 'scopes', 'resource'];
const DELEGATION_KEYS = ['issuer', 'maxTtl', 'defaultTtl'];
const SECRET_KEYS = ['password', 'privateKey', 'token'] as const;
const CONNECTION_KEYS = ['name', 'type', 'target', 'access', ...SECRET_KEYS, 'hostKey', 'caFile', 'forward'];
/** Keys beyond name/type/target/access that each connection type takes. */
const TYPE_KEYS: Record<Protocol, string[]> = {
  postgres: ['password', 'caFile'],
  mysql: ['password', 'caFile'],
  redis: ['password', 'caFile'],
  ssh: ['password', 'privateKey', 'hostKey', 'forward'],
  kubernetes: ['token', 'caFile'],
};
const TARGET_SCHEMES: Record<Protocol, string[]> = {
  postgres: ['postgres', 'postgresql'],
  mysql: ['mysql'],
  redis: ['redis', 'rediss'],
  ssh: ['ssh'],
  kubernetes: ['https'],
};
const TARGET_EXAMPLE: Record<Protocol, string> = {
  postgres: 'postgres://user@host:5432/dbname',
  mysql: 'mysql://user@host:3306/dbname',
  redis: 'redis://host:6379/0',
  ssh: 'ssh://user@host:22',
  kubernetes: 'https://host:6443',
};

const POLICY_KEYS = ['name', 'connections', 'groups', 'actors', 'trustDynamicSql', 'block', 'approve', 'mask'];
const MATCHER_KEYS = ['sql', 'unbounded', 'flags', 'objects', 'match', 'commands', 'redis', 'kubernetes'] as const;
const BLOCK_KEYS = [...MATCHER_KEYS, 'message'];
const APPROVE_KEYS = [...MATCHER_KEYS, 'approvers', 'timeout'];
const MASK_KEYS = ['detectors', 'columns', 'strategy'];
const STRATEGIES: MaskStrategy[] = ['redact', 'partial', 'hash'];
/** Which connection types a protocol-specific matcher can ever match. */
const MATCHER_TYPES: Record<string, Protocol[]> = {
  sql: ['postgres', 'mysql'],
  commands: ['ssh'],
  redis: ['redis'],
  kubernetes: ['kubernetes'],
};
const KNOWN_FLAGS = ['unbounded', 'multi-statement', 'dynamic-sql', 'copy-program', 'parse-error'];
/** Statement kinds of PostgreSQL and MySQL, only to catch typos (unknown kinds get a warning). */
const KNOWN_SQL_KINDS = [
  'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'MERGE', 'REPLACE', 'TRUNCATE', 'DROP', 'ALTER', 'CREATE',
  'RENAME', 'GRANT', 'REVOKE', 'COPY', 'CALL', 'DO', 'EXECUTE', 'PREPARE', 'DEALLOCATE', 'SET', 'RESET',
  'SHOW', 'BEGIN', 'START', 'COMMIT', 'ROLLBACK', 'SAVEPOINT', 'RELEASE', 'ABORT', 'END', 'LOCK', 'UNLOCK',
  'VACUUM', 'ANALYZE', 'REINDEX', 'CLUSTER', 'REFRESH', 'LISTEN', 'NOTIFY', 'UNLISTEN', 'DISCARD',
  'EXPLAIN', 'COMMENT', 'SECURITY', 'IMPORT', 'LOAD', 'USE', 'OPTIMIZE', 'FLUSH', 'KILL', 'HANDLER',
  'CHECKPOINT', 'FETCH', 'MOVE', 'CLOSE', 'DECLARE', 'VALUES', 'TABLE', 'DESCRIBE', 'SHUTDOWN',
  'INSTALL', 'UNINSTALL', 'PURGE', 'CHANGE', 'CHECKSUM', 'REPAIR', 'CHECK', 'XA', 'HELP',
];

// ---------------------------------------------------------------- helpers

type YNode = Scalar | YAMLMap | YAMLSeq;

/** A value found at a key path, with the line to report problems on. */
interface Val {
  node: YNode | null;
  path: string;
  line: number;
}

/** A string value, resolved, with what may safely be shown of it. */
interface Str {
  value: string;
  /** Quoted, safe to print: the reference text when it came from `${…}`, '(hidden)' for secrets. */
  shown: string;
  hadRef: boolean;
  line: number;
  path: string;
}

class Fields {
  constructor(
    readonly path: string,
    readonly line: number,
    private readonly entries: Map<string, Val & { keyLine: number }>,
    /** Whether the mapping had unknown keys (already reported). */
    readonly hadUnknown: boolean,
  ) {}
  get(key: string): (Val & { keyLine: number }) | undefined {
    return this.entries.get(key);
  }
  keys(): string[] {
    return [...this.entries.keys()];
  }
}

function isNull(n: YNode | null): boolean {
  return n === null || (isScalar(n) && n.value === null);
}

function joinPath(base: string, key: string): string {
  return base ? `${base}.${key}` : key;
}

function quote(s: string): string {
  return JSON.stringify(s.length > 80 ? `${s.slice(0, 77)}…` : s);
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = prev[j]!;
      prev[j] = Math.min(prev[j]! + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = tmp;
    }
  }
  return prev[b.length]!;
}

/** The closest candidate, if it is close enough to be a likely typo. */
export function suggest(word: string, candidates: readonly string[]): string | undefined {
  const w = word.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(w, c.toLowerCase());
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  const limit = Math.max(1, Math.min(3, Math.floor(w.length / 3)));
  return bestD <= limit ? best : undefined;
}

function didYouMean(word: string, candidates: readonly string[]): string {
  const s = suggest(word, candidates);
  return s ? ` (did you mean "${s}"?)` : '';
}

function oneOfText(values: readonly string[]): string {
  return values.join(', ');
}

function parseHostPort(s: string): { host: string; port: number } | null {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([^\s:[\]/@]+):(\d{1,5})$/.exec(s);
  if (!m) return null;
  return { host: m[1]!, port: Number(m[2]) };
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '']);

// ---------------------------------------------------------------- the checker

class Checker {
  readonly errors: ConfigError[] = [];
  private readonly warns: { line: number; text: string }[] = [];
  private readonly lastLine: number;

  constructor(
    private readonly doc: Document.Parsed,
    private readonly lc: LineCounter,
    readonly file: string,
    text: string,
    readonly baseDir: string,
    readonly env: NodeJS.ProcessEnv,
  ) {
    const end = text.trimEnd().length;
    this.lastLine = end === 0 ? 1 : lc.linePos(end - 1).line;
  }

  lineAt(offset: number): number {
    return Math.max(1, Math.min(this.lc.linePos(offset).line, this.lastLine));
  }

  lineOf(node: unknown, fallback: number): number {
    const r = (node as { range?: [number, number, number] | null } | null | undefined)?.range;
    return r ? this.lineAt(r[0]) : fallback;
  }

  error(line: number, key: string, detail: string): void {
    this.errors.push(new ConfigError(this.file, line, key, detail));
  }

  warn(line: number, key: string, detail: string): void {
    this.warns.push({ line, text: formatDiagnostic(this.file, line, key, detail) });
  }

  warnings(): string[] {
    return [...this.warns].sort((a, b) => a.line - b.line).map((w) => w.text);
  }

  deref(n: unknown): YNode | null {
    let cur = n;
    for (let i = 0; i < 64 && isAlias(cur); i++) cur = cur.resolve(this.doc);
    return isScalar(cur) || isMap(cur) || isSeq(cur) ? cur : null;
  }

  /** A mapping with only the allowed keys. Null when absent/null or not a mapping (reported). */
  map(v: Val, allowed: readonly string[], example?: string): Fields | null {
    if (isNull(v.node)) return null;
    if (!isMap(v.node)) {
      this.error(v.line, v.path, `expected a mapping${example ? `, e.g. ${example}` : ''}`);
      return null;
    }
    const entries = new Map<string, Val & { keyLine: number }>();
    let hadUnknown = false;
    for (const pair of v.node.items) {
      const k = this.deref(pair.key);
      const keyLine = this.lineOf(pair.key, v.line);
      if (!isScalar(k) || (typeof k.value !== 'string' && typeof k.value !== 'number')) {
        hadUnknown = true;
        this.error(keyLine, v.path, 'keys must be plain names');
        continue;
      }
      const name = String(k.value);
      const path = joinPath(v.path, name);
      if (!allowed.includes(name)) {
        hadUnknown = true;
        if (name === '<<') this.error(keyLine, path, 'merge keys (<<) are not supported; write the settings out');
        else {
          const hint = suggest(name, allowed);
          this.error(
            keyLine,
            path,
            hint ? `unknown key "${name}" (did you mean "${hint}"?)` : `unknown key "${name}" (expected one of: ${oneOfText(allowed)})`,
          );
        }
        continue;
      }
      const node = this.deref(pair.value);
      const line = node && !isNull(node) && isScalar(node) ? this.lineOf(pair.value, keyLine) : keyLine;
      entries.set(name, { node, path, line, keyLine });
    }
    return new Fields(v.path, v.line, entries, hadUnknown);
  }

  /** The items of a list. Null when absent/null, not a list, or empty when that is not allowed (reported). */
  list(v: Val, opts: { example?: string; allowEmpty?: boolean; emptyMessage?: string } = {}): Val[] | null {
    if (isNull(v.node)) return null;
    if (!isSeq(v.node)) {
      this.error(v.line, v.path, `expected a list${opts.example ? `, e.g. ${opts.example}` : ''}`);
      return null;
    }
    const items = v.node.items.map((it, i) => ({
      node: this.deref(it),
      path: `${v.path}[${i}]`,
      line: this.lineOf(it, v.line),
    }));
    if (items.length === 0 && !opts.allowEmpty) {
      this.error(v.line, v.path, opts.emptyMessage ?? 'empty list (remove the key or list at least one value)');
      return null;
    }
    return items;
  }

  /** A string (plain scalars such as 0123 keep their source text), with references resolved. */
  str(v: Val, opts: { secret?: boolean; allowEmpty?: boolean } = {}): Str | undefined {
    const n = v.node;
    if (isNull(n)) {
      this.error(v.line, v.path, 'missing value');
      return undefined;
    }
    if (!isScalar(n)) {
      this.error(v.line, v.path, `expected a string, not a ${isMap(n) ? 'mapping' : 'list'}`);
      return undefined;
    }
    const raw = typeof n.value === 'string' ? n.value : (n.source ?? String(n.value));
    const r = resolveRefs(raw, this.env, this.baseDir);
    for (const p of r.problems) this.error(v.line, v.path, p);
    if (r.problems.length) return undefined;
    if (!opts.allowEmpty && r.value.trim() === '') {
      this.error(v.line, v.path, r.hadRef ? `${quote(raw)} resolves to an empty value` : 'empty value');
      return undefined;
    }
    const shown = opts.secret ? '(hidden)' : quote(r.hadRef ? raw : r.value);
    return { value: r.value, shown, hadRef: r.hadRef, line: v.line, path: v.path };
  }

  /** A list of strings; `check` returns an error message for a bad item. Undefined if anything was wrong (reported). */
  strList(
    v: Val,
    opts: { example?: string; allowEmpty?: boolean; emptyMessage?: string; check?: (s: Str) => string | undefined } = {},
  ): Str[] | undefined {
    const items = this.list(v, opts);
    if (!items) return undefined;
    const out: Str[] = [];
    let bad = false;
    for (const it of items) {
      const s = this.str(it);
      const problem = s && opts.check?.(s);
      if (problem) this.error(s.line, s.path, problem);
      if (!s || problem) bad = true;
      else out.push(s);
    }
    return bad ? undefined : out;
  }

  bool(v: Val): boolean | undefined {
    if (isScalar(v.node) && typeof v.node.value === 'boolean') return v.node.value;
    this.error(v.line, v.path, 'expected true or false');
    return undefined;
  }

  oneOf<T extends string>(v: Val, values: readonly T[]): T | undefined {
    const s = this.str(v);
    if (!s) return undefined;
    if ((values as readonly string[]).includes(s.value)) return s.value as T;
    this.error(
      s.line,
      s.path,
      `invalid value ${s.shown}${didYouMean(s.value, values)} (expected one of: ${oneOfText(values)})`,
    );
    return undefined;
  }

  hostPort(v: Val): string | undefined {
    const s = this.str(v);
    if (!s) return undefined;
    const hp = parseHostPort(s.value);
    if (!hp) {
      this.error(s.line, s.path, `expected host:port (e.g. 127.0.0.1:15432), got ${s.shown}`);
      return undefined;
    }
    if (hp.port > 65535) {
      this.error(s.line, s.path, `port ${hp.port} is out of range (0-65535)`);
      return undefined;
    }
    return s.value;
  }

  /** A path to a readable file, absolute. */
  filePath(v: Val): string | undefined {
    const s = this.str(v);
    if (!s) return undefined;
    const p = resolvePath(s.value, this.baseDir);
    try {
      accessSync(p, constants.R_OK);
      if (!statSync(p).isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    } catch (e) {
      this.error(s.line, s.path, `cannot read file ${s.hadRef ? s.shown : quote(p)} (${fsReason(e)})`);
      return undefined;
    }
    return p;
  }

  duration(v: Val): number | undefined {
    const n = v.node;
    if (isScalar(n) && typeof n.value === 'number') {
      try {
        return parseDuration(n.value);
      } catch {
        this.error(v.line, v.path, `invalid duration ${n.source ?? String(n.value)} (${DURATION_HINT})`);
        return undefined;
      }
    }
    const s = this.str(v);
    if (!s) return undefined;
    try {
      return parseDuration(s.value);
    } catch {
      this.error(s.line, s.path, `invalid duration ${s.shown} (${DURATION_HINT})`);
      return undefined;
    }
  }
}

// ---------------------------------------------------------------- sections

interface Address {
  host: string;
  port: number;
  path: string;
  line: number;
}

function checkAddressClashes(c: Checker, addresses: Address[]): void {
  const sorted = [...addresses].sort((a, b) => a.line - b.line);
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i]!;
    if (a.port === 0) continue;
    for (let j = 0; j < i; j++) {
      const b = sorted[j]!;
      const sameHost = a.host === b.host || WILDCARD_HOSTS.has(a.host) || WILDCARD_HOSTS.has(b.host);
      if (b.port === a.port && sameHost) {
        c.error(a.line, a.path, `port ${a.port} is already used by ${b.path} (line ${b.line})`);
        break;
      }
    }
  }
}

function addressOf(value: string, path: string, line: number): Address {
  const hp = parseHostPort(value)!;
  return { host: hp.host, port: hp.port, path, line };
}

function parseConnections(c: Checker, root: Fields, listeners: Record<string, string>): ConnectionConfig[] {
  const v = root.get('connections');
  const out: ConnectionConfig[] = [];
  if (!v) return out;
  const items = c.list(v, { allowEmpty: true, example: '[{name: orders, type: postgres, target: …}]' });
  if (!items) return out;
  const seen = new Map<string, number>();
  for (const item of items) {
    const f = c.map(item, CONNECTION_KEYS, '{name: orders, type: postgres, target: postgres://…}');
    if (!f) {
      if (isNull(item.node)) c.error(item.line, item.path, 'empty connection');
      continue;
    }
    let ok = true;
    const need = (key: string): Val | undefined => {
      const e = f.get(key);
      if (!e) {
        c.error(f.line, joinPath(f.path, key), `missing required key "${key}"`);
        ok = false;
      }
      return e;
    };

    let name: string | undefined;
    const nameV = need('name');
    if (nameV) {
      const s = c.str(nameV);
      if (!s) ok = false;
      else if (!/^[A-Za-z0-9_.-]+$/.test(s.value)) {
        c.error(s.line, s.path, `invalid name ${s.shown} (use letters, digits, "_", "." and "-")`);
        ok = false;
      } else {
        name = s.value;
        const first = seen.get(name);
        if (first !== undefined) {
          c.error(s.line, s.path, `duplicate connection name ${s.shown} (first defined on line ${first})`);
          ok = false;
        } else seen.set(name, s.line);
      }
    }

    let type: Protocol | undefined;
    const typeV = need('type');
    if (typeV) {
      type = c.oneOf(typeV, PROTOCOLS);
      if (!type) ok = false;
    }

    let target: string | undefined;
    const targetV = need('target');
    if (targetV) {
      const s = c.str(targetV);
      if (!s) ok = false;
      else if (type) {
        const problem = checkTarget(s.value, type);
        if (problem) {
          c.error(s.line, s.path, problem);
          ok = false;
        } else {
          target = s.value;
          if (!s.hadRef && /^[a-z]+:\/\/[^/@]*:[^/@]*@/i.test(s.value)) {
            c.warn(s.line, s.path, 'contains a password; move it to `password: ${env:NAME}` or `${file:PATH}`');
          }
        }
      } else target = s.value;
    }

    let access: string[] = [];
    const accessV = f.get('access');
    if (accessV && !isNull(accessV.node)) {
      const list = c.strList(accessV, { allowEmpty: true, example: '[agents, dba]' });
      if (list) access = list.map((s) => s.value);
      else ok = false;
    }

    // Keys that do not belong to this type of connection.
    if (type) {
      for (const key of f.keys()) {
        if (['name', 'type', 'target', 'access'].includes(key) || TYPE_KEYS[type].includes(key)) continue;
        const e = f.get(key)!;
        c.error(e.keyLine, e.path, `not used by ${type} connections (${type} connections take: ${TYPE_KEYS[type].join(', ')})`);
        ok = false;
      }
    }

    const secrets: Record<string, string | undefined> = {};
    for (const key of SECRET_KEYS) {
      const e = f.get(key);
      if (!e || (type && !TYPE_KEYS[type].includes(key))) continue;
      const s = c.str(e, { secret: true });
      if (!s) {
        ok = false;
        continue;
      }
      if (!s.hadRef) {
        c.warn(s.line, s.path, 'secret written in the config file; prefer ${env:NAME} or ${file:PATH}');
      }
      if (key === 'privateKey' && !/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(s.value)) {
        c.error(s.line, s.path, 'does not look like a private key (expected a PEM or OpenSSH "-----BEGIN … PRIVATE KEY-----" block)');
        ok = false;
        continue;
      }
      secrets[key] = s.value;
    }

    const options: Record<string, unknown> = {};
    const hostKeyV = f.get('hostKey');
    if (hostKeyV && (!type || TYPE_KEYS[type].includes('hostKey'))) {
      const s = c.str(hostKeyV);
      if (!s) ok = false;
      else if (!/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(s.value.trim())) {
        c.error(
          s.line,
          s.path,
          `expected a host key fingerprint like SHA256:<43 base64 characters> (ssh-keyscan HOST | ssh-keygen -lf -), got ${s.shown}`,
        );
        ok = false;
      } else options.hostKey = s.value.trim();
    }
    // ssh: allow-list of port-forwarding destinations, `host:port` globs; absent = none.
    const forwardV = f.get('forward');
    if (forwardV && !isNull(forwardV.node) && (!type || TYPE_KEYS[type].includes('forward'))) {
      const list = c.strList(forwardV, { allowEmpty: true, example: '["127.0.0.1:5432", "db-*.internal:*"]', check: checkForwardGlob });
      if (list) options.forward = list.map((s) => s.value.trim());
      else ok = false;
    }
    const caV = f.get('caFile');
    if (caV && (!type || TYPE_KEYS[type].includes('caFile'))) {
      const p = c.filePath(caV);
      if (p) options.caFile = p;
      else ok = false;
    }

    if (!ok || !name || !type || !target) continue;

    if (type === 'ssh' && !options.hostKey) {
      c.warn(f.line, joinPath(f.path, 'hostKey'), `not set: the host key of "${name}" is not pinned by the config`);
    }
    if (access.length === 0) {
      c.warn(f.line, joinPath(f.path, 'access'), `empty: nobody can open sessions on "${name}"`);
    }
    if (!listeners[type]) {
      c.warn(typeV!.line, typeV!.path, `no listeners.${type} is configured, so clients cannot reach "${name}"`);
    }
    out.push({ name, type, target, access, secrets, options });
  }
  return out;
}

/** A `forward` entry: `host:port` (`[v6]:port` for IPv6), either part a shell-style glob. */
function checkForwardGlob(s: { value: string; shown: string }): string | undefined {
  const m = /^(\[[^\]\s]+\]|[^\s:[\]]+):([0-9*?]+)$/.exec(s.value.trim());
  if (!m) return `expected "host:port" (globs allowed, e.g. 127.0.0.1:5432 or db-*.internal:*), got ${s.shown}`;
  if (/^[0-9]+$/.test(m[2]!) && Number(m[2]) > 65535) return `port ${m[2]} is out of range (1-65535) in ${s.shown}`;
  return undefined;
}

function checkTarget(target: string, type: Protocol): string | undefined {
  const example = TARGET_EXAMPLE[type];
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return `not a valid URL (expected e.g. ${example})`;
  }
  const scheme = url.protocol.replace(/:$/, '').toLowerCase();
  const allowed = TARGET_SCHEMES[type];
  if (!allowed.includes(scheme)) {
    return `scheme "${scheme}://" does not match type ${type} (expected ${allowed.map((s) => `${s}://`).join(' or ')}, e.g. ${example})`;
  }
  if (!url.hostname) return `no host (expected e.g. ${example})`;
  if (type === 'ssh' && !url.username) return `no user name (expected e.g. ${example})`;
  return undefined;
}

interface MatcherResult {
  matcher: Matcher;
  /** Whether any field constrains the match. */
  constrained: boolean;
  /** Protocol-specific fields given (sql, commands, redis, kubernetes). */
  protoFields: string[];
}

function parseMatcher(c: Checker, f: Fields): MatcherResult | undefined {
  const m: Matcher = {};
  let ok = true;
  const protoFields: string[] = [];
  const listOf = (key: string, example: string, check?: (s: Str) => string | undefined): string[] | undefined => {
    const v = f.get(key);
    if (!v) return undefined;
    const list = c.strList(v, { example, check });
    if (!list) {
      ok = false;
      return undefined;
    }
    if (key in MATCHER_TYPES) protoFields.push(key);
    return list.map((s) => s.value);
  };

  const sqlV = f.get('sql');
  m.sql = listOf('sql', '[DROP, TRUNCATE]', (s) =>
    /^[A-Za-z][A-Za-z_]*(?: +[A-Za-z_]+)*$/.test(s.value.trim())
      ? undefined
      : `${s.shown} is not a statement kind (use keywords such as DROP, DELETE)`,
  )?.map((k) => k.trim().toUpperCase());
  if (m.sql && sqlV) {
    const items = isSeq(sqlV.node) ? sqlV.node.items : [];
    m.sql.forEach((kind, i) => {
      const line = c.lineOf(items[i], sqlV.line);
      const path = `${sqlV.path}[${i}]`;
      if (kind.includes(' ')) {
        c.warn(line, path, `statement kinds are single keywords ("${kind.split(/ +/)[0]}"); "${kind}" never matches — narrow with objects instead`);
      } else if (!KNOWN_SQL_KINDS.includes(kind)) {
        const s = suggest(kind, KNOWN_SQL_KINDS);
        if (s) c.warn(line, path, `"${kind}" is not a known statement kind (did you mean "${s}"?)`);
      }
    });
  }
  const unboundedV = f.get('unbounded');
  if (unboundedV) {
    const b = c.bool(unboundedV);
    if (b === undefined) ok = false;
    else if (b) m.unbounded = true;
  }
  const flagsV = f.get('flags');
  m.flags = listOf('flags', '[multi-statement]');
  if (m.flags && flagsV) {
    const items = isSeq(flagsV.node) ? flagsV.node.items : [];
    m.flags.forEach((flag, i) => {
      if (KNOWN_FLAGS.includes(flag)) return;
      c.warn(
        c.lineOf(items[i], flagsV.line),
        `${flagsV.path}[${i}]`,
        `"${flag}" is not a flag Sluice sets${didYouMean(flag, KNOWN_FLAGS)} (known: ${KNOWN_FLAGS.join(', ')})`,
      );
    });
  }
  m.objects = listOf('objects', '["public.*", orders]');
  const matchV = f.get('match');
  if (matchV) {
    const s = c.str(matchV);
    if (!s) ok = false;
    else {
      try {
        new RegExp(s.value, 'is');
        m.match = s.value;
      } catch (e) {
        const why = String((e as Error).message).split(': ').pop();
        c.error(s.line, s.path, `invalid regular expression ${s.shown}: ${why}`);
        ok = false;
      }
    }
  }
  m.commands = listOf('commands', '["rm -rf *", "shutdown*"]');
  m.redis = listOf('redis', '[FLUSHALL, FLUSHDB]', (s) =>
    /^[A-Za-z][A-Za-z0-9_|.-]*(?: +[A-Za-z][A-Za-z0-9_|.-]*)?$/.test(s.value.trim())
      ? undefined
      : `${s.shown} is not a Redis command name (e.g. FLUSHALL, "CONFIG SET")`,
  )?.map((k) => k.trim().replace(/ +/g, ' ').toUpperCase());
  m.kubernetes = listOf('kubernetes', '["delete namespaces", "exec pods"]', (s) =>
    /^\S+ +\S+$/.test(s.value.trim()) ? undefined : `expected "verb resource" (e.g. "delete namespaces"), got ${s.shown}`,
  )?.map((k) => k.trim().replace(/ +/g, ' ').toLowerCase());

  for (const key of MATCHER_KEYS) if (m[key] === undefined) delete m[key];
  if (!ok) return undefined;
  const constrained = MATCHER_KEYS.some((k) => m[k] !== undefined);
  return { matcher: m, constrained, protoFields };
}

function requireConstrained(c: Checker, f: Fields, r: MatcherResult): boolean {
  if (r.constrained || f.hadUnknown) return r.constrained;
  c.error(
    f.line,
    f.path,
    `no matcher given, so this would apply to every command; add one of ${MATCHER_KEYS.join(', ')} (or match: ".*" if that is really intended)`,
  );
  return false;
}

function parseMask(c: Checker, f: Fields): MaskRule | undefined {
  let ok = true;
  const rule: MaskRule = {};
  const detV = f.get('detectors');
  if (detV) {
    const list = c.strList(detV, {
      example: '[credit_card, email]',
      check: (s) =>
        (DETECTOR_NAMES as readonly string[]).includes(s.value)
          ? undefined
          : `unknown detector ${s.shown}${didYouMean(s.value, DETECTOR_NAMES)} (known: ${DETECTOR_NAMES.join(', ')})`,
    });
    if (list) rule.detectors = list.map((s) => s.value as DetectorName);
    else ok = false;
  }
  const colV = f.get('columns');
  if (colV) {
    const list = c.strList(colV, {
      example: '["*.ssn", customers.phone]',
      check: (s) => (validColumn(s.value) ? undefined : `invalid column ${s.shown} (use table.column, schema.table.column or *.column)`),
    });
    if (list) rule.columns = list.map((s) => s.value);
    else ok = false;
  }
  const stratV = f.get('strategy');
  if (stratV) {
    const s = c.oneOf(stratV, STRATEGIES);
    if (s) rule.strategy = s;
    else ok = false;
  } else rule.strategy = 'redact';
  if (!ok) return undefined;
  if (!rule.detectors && !rule.columns) {
    if (!f.hadUnknown) c.error(f.line, f.path, 'nothing to mask: give detectors, columns or both');
    return undefined;
  }
  return rule;
}

function validColumn(s: string): boolean {
  const parts = s.split('.');
  if (parts.length < 2 || parts.length > 3) return false;
  if (parts.some((p) => p === '' || /\s/.test(p) || (p !== '*' && p.includes('*')))) return false;
  return parts[parts.length - 1] !== '*';
}

function parsePolicies(c: Checker, root: Fields, connections: Map<string, Protocol | undefined>): Policy[] {
  const v = root.get('policies');
  const out: Policy[] = [];
  if (!v) return out;
  const items = c.list(v, { allowEmpty: true, example: '[{name: no-ddl, block: {sql: [DROP]}}]' });
  if (!items) return out;
  const seen = new Map<string, number>();
  for (const item of items) {
    const f = c.map(item, POLICY_KEYS, '{name: no-ddl, block: {sql: [DROP]}}');
    if (!f) {
      if (isNull(item.node)) c.error(item.line, item.path, 'empty policy');
      continue;
    }
    let ok = true;
    const policy: Policy = { name: '' };

    const nameV = f.get('name');
    if (!nameV) {
      c.error(f.line, joinPath(f.path, 'name'), 'missing required key "name"');
      ok = false;
    } else {
      const s = c.str(nameV);
      if (!s) ok = false;
      else if (/[\r\n]/.test(s.value)) {
        c.error(s.line, s.path, 'a policy name must be one line');
        ok = false;
      } else {
        const first = seen.get(s.value);
        if (first !== undefined) {
          c.error(s.line, s.path, `duplicate policy name ${s.shown} (first defined on line ${first})`);
          ok = false;
        } else seen.set(s.value, s.line);
        policy.name = s.value;
      }
    }

    const connV = f.get('connections');
    if (connV) {
      const list = c.strList(connV, {
        example: '[orders]',
        emptyMessage: 'empty list applies the policy to no connection; omit "connections" to apply it to all',
        check: (s) =>
          connections.has(s.value)
            ? undefined
            : `unknown connection ${s.shown}${didYouMean(s.value, [...connections.keys()])}`,
      });
      if (list) policy.connections = list.map((s) => s.value);
      else ok = false;
    }

    const groupsV = f.get('groups');
    if (groupsV) {
      const list = c.strList(groupsV, {
        example: '[agents]',
        emptyMessage: 'empty list applies the policy to nobody; omit "groups" to apply it to everyone',
      });
      if (list) policy.groups = list.map((s) => s.value);
      else ok = false;
    }

    const actorsV = f.get('actors');
    if (actorsV) {
      if (isSeq(actorsV.node)) {
        const list = c.strList(actorsV, {
          emptyMessage: 'empty list matches no agent; use "none" for direct (non-agent) identities, or omit "actors"',
        });
        if (list) policy.actors = list.map((s) => s.value);
        else ok = false;
      } else {
        const s = c.str(actorsV);
        if (s && (s.value === 'any' || s.value === 'none')) policy.actors = s.value;
        else {
          if (s) c.error(s.line, s.path, `expected any, none or a list of agent names, got ${s.shown}`);
          ok = false;
        }
      }
    }

    const trustV = f.get('trustDynamicSql');
    if (trustV) {
      const b = c.bool(trustV);
      if (b === undefined) ok = false;
      else policy.trustDynamicSql = b;
    }

    const sections: string[] = [];
    const blockV = f.get('block');
    if (blockV) {
      sections.push('block');
      const bf = c.map(blockV, BLOCK_KEYS, '{sql: [DROP], message: …}');
      if (!bf) {
        if (isNull(blockV.node)) c.error(blockV.line, blockV.path, 'empty: give a matcher, e.g. {sql: [DROP]}');
        ok = false;
      } else {
        const r = parseMatcher(c, bf);
        let message: string | undefined;
        const msgV = bf.get('message');
        if (msgV) {
          const s = c.str(msgV);
          if (s) message = s.value;
          else ok = false;
        }
        if (!r || !requireConstrained(c, bf, r)) ok = false;
        else {
          const rule: BlockRule = { ...r.matcher };
          if (message !== undefined) rule.message = message;
          policy.block = rule;
          neverMatchesWarning(c, bf, r, policy, connections);
        }
      }
    }

    const approveV = f.get('approve');
    if (approveV) {
      sections.push('approve');
      const af = c.map(approveV, APPROVE_KEYS, '{sql: [DELETE], approvers: [dba], timeout: 10m}');
      if (!af) {
        if (isNull(approveV.node)) {
          c.error(approveV.line, approveV.path, 'empty: give a matcher and approvers, e.g. {sql: [DELETE], approvers: [dba]}');
        }
        ok = false;
      } else {
        const r = parseMatcher(c, af);
        let approvers: string[] | undefined;
        const apV = af.get('approvers');
        if (!apV) {
          c.error(af.line, joinPath(af.path, 'approvers'), 'missing required key "approvers" (groups who may approve; "$subject" = the human an agent acts for)');
        } else {
          const list = c.strList(apV, {
            example: '[dba, $subject]',
            emptyMessage: 'empty list: nobody could approve; list the approving groups',
            check: (s) =>
              s.value.startsWith('$') && s.value !== '$subject'
                ? `unknown special approver ${s.shown} (the only one is "$subject")`
                : undefined,
          });
          if (list) approvers = list.map((s) => s.value);
        }
        let timeoutMs = DEFAULT_APPROVAL_TIMEOUT_MS;
        const toV = af.get('timeout');
        if (toV) {
          const ms = c.duration(toV);
          if (ms === undefined) ok = false;
          else if (ms <= 0) {
            c.error(toV.line, toV.path, 'must be longer than 0');
            ok = false;
          } else if (ms > MAX_TIMEOUT_MS) {
            c.error(toV.line, toV.path, 'too long: at most 24d');
            ok = false;
          } else timeoutMs = ms;
        }
        if (!r || !requireConstrained(c, af, r) || !approvers) ok = false;
        else {
          const rule: ApproveRule = { ...r.matcher, approvers, timeoutMs };
          policy.approve = rule;
          neverMatchesWarning(c, af, r, policy, connections);
        }
      }
    }

    const maskV = f.get('mask');
    if (maskV) {
      sections.push('mask');
      const mf = c.map(maskV, MASK_KEYS, '{detectors: [email], strategy: redact}');
      if (!mf) {
        if (isNull(maskV.node)) c.error(maskV.line, maskV.path, 'empty: give detectors, columns or both');
        ok = false;
      } else {
        const rule = parseMask(c, mf);
        if (rule) policy.mask = rule;
        else ok = false;
      }
    }

    if (sections.length === 0 && !f.hadUnknown) {
      c.error(f.line, f.path, 'a policy needs at least one of block, approve or mask');
      ok = false;
    }
    if (ok && !f.hadUnknown) out.push(policy);
  }
  return out;
}

/** A protocol-specific matcher on a policy whose connections never speak that protocol. */
function neverMatchesWarning(
  c: Checker,
  f: Fields,
  r: MatcherResult,
  policy: Policy,
  connections: Map<string, Protocol | undefined>,
): void {
  if (!policy.connections || r.protoFields.length === 0) return;
  const types = policy.connections.map((n) => connections.get(n));
  if (types.some((t) => t === undefined)) return;
  const reachable = new Set(r.protoFields.flatMap((k) => MATCHER_TYPES[k]!));
  if (types.some((t) => reachable.has(t!))) return;
  c.warn(
    f.line,
    f.path,
    `never matches: ${r.protoFields.join(', ')} only apply to ${[...reachable].join('/')} connections, but the policy covers ${policy.connections
      .map((n) => `${n} (${connections.get(n)})`)
      .join(', ')}`,
  );
}

// ---------------------------------------------------------------- entry points

interface Analysis {
  config: GatewayConfig | null;
  errors: ConfigError[];
  warnings: string[];
}

const YAML_MESSAGES: Partial<Record<string, string>> = {
  MULTIPLE_DOCS: 'only one YAML document is allowed (remove the "---" separator)',
  TAB_AS_INDENT: 'tabs are not allowed for indentation; use spaces',
};

export function analyzeConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): Analysis {
  const absFile = resolve(file);
  const baseDir = dirname(absFile);
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const c = new Checker(doc, lc, file, text, baseDir, env);

  if (doc.errors.length) {
    for (const e of doc.errors) {
      let detail = YAML_MESSAGES[e.code] ?? `YAML syntax: ${e.message}`;
      if (e.code === 'DUPLICATE_KEY') {
        const m = /^("[^"\n]{1,80}"|'[^'\n]{1,80}'|[^:\n]{1,80}?)\s*:/.exec(text.slice(e.pos[0]));
        detail = m ? `duplicate key "${m[1]!.replace(/^["']|["']$/g, '')}"` : 'duplicate key';
      }
      c.error(c.lineAt(e.pos[0]), '', detail);
    }
    return finish(c, null);
  }
  for (const w of doc.warnings) c.warn(c.lineAt(w.pos[0]), '', `YAML: ${w.message}`);

  const rootNode = c.deref(doc.contents);
  const rootVal: Val = { node: rootNode, path: '', line: 1 };
  let root: Fields;
  if (isNull(rootNode)) root = new Fields('', 1, new Map(), false);
  else {
    if (!isMap(rootNode)) {
      c.error(c.lineOf(doc.contents, 1), '', 'expected a mapping of settings (dataDir, listeners, connections, policies …) at the top level');
      return finish(c, null);
    }
    root = c.map(rootVal, TOP_KEYS)!;
  }
  const get = (k: string): Val | undefined => {
    const v = root.get(k);
    return v && !isNull(v.node) ? v : undefined;
  };

  // dataDir and store
  let dataDir = resolve(baseDir, DEFAULT_DATA_DIR);
  const dataDirV = get('dataDir');
  if (dataDirV) {
    const s = c.str(dataDirV);
    if (s) dataDir = resolvePath(s.value, baseDir);
  }
  let store: GatewayConfig['store'] = { kind: 'sqlite', path: join(dataDir, 'sluice.db') };
  const storeV = get('store');
  if (storeV) {
    const s = c.str(storeV);
    if (s && s.value !== 'sqlite') {
      let valid = false;
      if (/^postgres(ql)?:\/\//i.test(s.value)) {
        try {
          valid = Boolean(new URL(s.value));
        } catch {
          valid = false;
        }
      }
      if (valid) store = { kind: 'postgres', url: s.value };
      else c.error(s.line, s.path, 'expected "sqlite" or a postgres://user@host:5432/dbname URL');
    }
  }
  let storeSync: GatewayConfig['storeSync'] = 'normal';
  const syncV = get('storeSync');
  if (syncV) storeSync = c.oneOf(syncV, ['normal', 'full'] as const) ?? 'normal';

  const addresses: Address[] = [];

  // admin
  const admin: GatewayConfig['admin'] = { listen: DEFAULT_ADMIN_LISTEN, groups: [] };
  const adminV = get('admin');
  if (adminV) {
    const f = c.map(adminV, ADMIN_KEYS, '{listen: 127.0.0.1:8080, groups: [admins]}');
    if (f) {
      const lv = f.get('listen');
      if (lv) {
        const hp = c.hostPort(lv);
        if (hp) {
          admin.listen = hp;
          addresses.push(addressOf(hp, lv.path, lv.line));
        }
      }
      const gv = f.get('groups');
      if (gv && !isNull(gv.node)) {
        const list = c.strList(gv, { allowEmpty: true, example: '[admins]' });
        if (list) admin.groups = list.map((s) => s.value);
      }
    }
  }

  // listeners
  const listeners: Record<string, string> = {};
  const listenersV = get('listeners');
  if (listenersV) {
    const f = c.map(listenersV, PROTOCOLS, '{postgres: 127.0.0.1:15432}');
    if (f) {
      for (const proto of PROTOCOLS) {
        const v = f.get(proto);
        if (!v) continue;
        const hp = c.hostPort(v);
        if (hp) {
          listeners[proto] = hp;
          addresses.push(addressOf(hp, v.path, v.line));
        }
      }
    }
  }
  checkAddressClashes(c, addresses);

  // tls
  let tls: GatewayConfig['tls'] = null;
  const tlsV = get('tls');
  if (tlsV) {
    const f = c.map(tlsV, TLS_KEYS, '{cert: tls.crt, key: tls.key}');
    if (f) {
      const paths: Record<string, string | undefined> = {};
      for (const k of TLS_KEYS) {
        const v = f.get(k);
        if (!v) c.error(f.line, joinPath(f.path, k), `missing required key "${k}" (tls needs both cert and key)`);
        else paths[k] = c.filePath(v);
      }
      if (paths.cert && paths.key) tls = { cert: paths.cert, key: paths.key };
    }
  }

  // identity
  const identity: GatewayConfig['identity'] = {
    oidc: [],
    delegation: { issuer: null, maxTtlMs: DEFAULT_DELEGATION_MAX_TTL_MS, defaultTtlMs: DEFAULT_DELEGATION_TTL_MS },
  };
  const identityV = get('identity');
  if (identityV) {
    const f = c.map(identityV, IDENTITY_KEYS, '{oidc: [{issuer: https://idp.example.com, audience: sluice}]}');
    const dv = f?.get('delegation');
    if (dv && !isNull(dv.node)) {
      const df = c.map(dv, DELEGATION_KEYS, '{maxTtl: 1h, defaultTtl: 15m}');
      const iv = df?.get('issuer');
      if (iv) {
        const s = c.str(iv);
        if (s) {
          if (!/^https?:\/\/[^\s/]+(\/\S*)?$/.test(s.value)) c.error(s.line, s.path, `expected the gateway's public URL (http(s)://host[:port]), got ${s.shown}`);
          else identity.delegation.issuer = s.value.replace(/\/+$/, '');
        }
      }
      for (const [k, field] of [['maxTtl', 'maxTtlMs'], ['defaultTtl', 'defaultTtlMs']] as const) {
        const v = df?.get(k);
        if (!v) continue;
        const ms = c.duration(v);
        if (ms === undefined) continue;
        if (ms < 60_000) c.error(v.line, v.path, `must be at least 1m, got ${ms} ms`);
        else identity.delegation[field] = ms;
      }
      if (identity.delegation.defaultTtlMs > identity.delegation.maxTtlMs) {
        const v = df?.get('defaultTtl') ?? dv;
        c.error(v.line, v.path, 'defaultTtl is longer than maxTtl');
      }
    }
    const ov = f?.get('oidc');
    const items = ov ? c.list(ov, { allowEmpty: true, example: '[{issuer: https://idp.example.com, audience: sluice}]' }) : null;
    const seen = new Map<string, number>();
    for (const item of items ?? []) {
      const of = c.map(item, OIDC_KEYS, '{issuer: https://idp.example.com, audience: sluice}');
      if (!of) {
        if (isNull(item.node)) c.error(item.line, item.path, 'empty issuer entry');
        continue;
      }
      let issuer: string | undefined;
      let audience: string | undefined;
      let groupsClaim = 'groups';
      const iv = of.get('issuer');
      if (!iv) c.error(of.line, joinPath(of.path, 'issuer'), 'missing required key "issuer"');
      else {
        const s = c.str(iv);
        if (s) {
          const problem = checkIssuer(s.value);
          if (problem) c.error(s.line, s.path, `${problem}, got ${s.shown}`);
          else issuer = s.value;
        }
      }
      const av = of.get('audience');
      if (!av) c.error(of.line, joinPath(of.path, 'audience'), 'missing required key "audience" (the aud claim tokens must carry)');
      else audience = c.str(av)?.value;
      const gv = of.get('groupsClaim');
      if (gv) {
        const s = c.str(gv);
        if (s) groupsClaim = s.value;
        else continue;
      }
      if (!issuer || !audience) continue;
      const key = `${issuer}\n${audience}`;
      const first = seen.get(key);
      if (first !== undefined) {
        c.error(iv!.line, iv!.path, `duplicate issuer and audience (first on line ${first})`);
        continue;
      }
      seen.set(key, iv!.line);
      const entry: OidcIssuerSettings = { issuer, audience, groupsClaim };
      const cv = of.get('clientId');
      if (cv) {
        const s = c.str(cv);
        if (s) entry.clientId = s.value;
      }
      const sv = of.get('scopes');
      if (sv) {
        const list = c.strList(sv, { allowEmpty: false, example: '[openid, email, offline_access]' });
        if (list) entry.scopes = list.map((x) => x.value);
      }
      const rv = of.get('resource');
      if (rv) {
        const s = c.str(rv);
        if (s) entry.resource = s.value;
      }
      identity.oidc.push(entry);
    }
  }

  // connections, then policies (which name them)
  const connections = parseConnections(c, root, listeners);
  const connectionTypes = new Map<string, Protocol | undefined>();
  collectConnectionNames(c, root, connectionTypes);
  const policies = parsePolicies(c, root, connectionTypes);

  const config: GatewayConfig = {
    file: absFile,
    dataDir,
    store,
    storeSync,
    admin,
    listeners,
    tls,
    identity,
    connections,
    policies,
    warnings: [],
  };
  return finish(c, config);
}

/**
 * Every connection name written in the file with its type (if valid), even
 * for connections with other errors: a policy naming one should not get a
 * second, misleading "unknown connection" error.
 */
function collectConnectionNames(c: Checker, root: Fields, out: Map<string, Protocol | undefined>): void {
  const v = root.get('connections');
  if (!v || !isSeq(v.node)) return;
  for (const it of v.node.items) {
    const m = c.deref(it);
    if (!isMap(m)) continue;
    let name: string | undefined;
    let type: Protocol | undefined;
    for (const pair of m.items) {
      const k = c.deref(pair.key);
      const val = c.deref(pair.value);
      if (!isScalar(k) || !isScalar(val) || val.value === null) continue;
      const raw = typeof val.value === 'string' ? val.value : (val.source ?? String(val.value));
      if (k.value === 'name') name = resolveRefs(raw, c.env, c.baseDir).value;
      if (k.value === 'type' && (PROTOCOLS as readonly string[]).includes(raw)) type = raw as Protocol;
    }
    if (name !== undefined && !out.has(name)) out.set(name, type);
  }
}

function checkIssuer(s: string): string | undefined {
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    return 'expected an https:// URL';
  }
  if (url.protocol === 'https:') return undefined;
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol === 'http:' && loopback) return undefined;
  return 'expected an https:// URL (http:// only for localhost)';
}

function finish(c: Checker, config: GatewayConfig | null): Analysis {
  const errors = [...c.errors].sort((a, b) => a.line - b.line);
  const warnings = c.warnings();
  if (errors.length) return { config: null, errors, warnings };
  if (config) config.warnings = warnings;
  return { config, errors, warnings };
}

/** Parse config text. `file` names it in messages and anchors relative paths. Throws the first ConfigError. */
export function parseConfigText(text: string, file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const a = analyzeConfigText(text, file, env);
  if (a.errors.length || !a.config) throw a.errors[0] ?? new ConfigError(file, 0, '', 'invalid config');
  return a.config;
}

function readConfigFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const detail = code === 'ENOENT' ? 'config file not found' : `cannot read config file (${fsReason(e)})`;
    throw new ConfigError(file, 0, '', detail);
  }
}

/** Load and validate a config file. Throws the first ConfigError (by line). */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return parseConfigText(readConfigFile(file), file, env);
}

/** Validate a config file and report every problem, for `sluice config check`. */
export function checkConfig(file: string, env: NodeJS.ProcessEnv = process.env): CheckResult {
  let text: string;
  try {
    text = readConfigFile(file);
  } catch (e) {
    if (e instanceof ConfigError) return { ok: false, errors: [e], warnings: [] };
    throw e;
  }
  const a = analyzeConfigText(text, file, env);
  if (a.errors.length || !a.config) return { ok: false, errors: a.errors, warnings: a.warnings };
  return { ok: true, config: a.config, warnings: a.warnings };
}
