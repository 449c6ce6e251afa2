/**
 * Secrets by reference: `${env:NAME}` and `${file:PATH}` inside any string
 * value of the config, whole or embedded ('postgres://app:${env:PW}@db/x').
 *
 * - `${env:NAME}`: the environment variable; unset or empty is an error.
 * - `${file:PATH}`: the file's content with one trailing newline removed;
 *   a relative PATH resolves against the config file's directory, `~/` against
 *   the home directory.
 * - `$${` is a literal `${` (for the rare regex or text that needs one).
 *
 * Problems are reported without the resolved value, only the reference.
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';

export interface ResolvedText {
  value: string;
  /** Whether any `${…}` reference was substituted (then the value may be secret). */
  hadRef: boolean;
  /** One message per reference that could not be resolved. */
  problems: string[];
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** '~/x' → home/x; relative → against baseDir. */
export function resolvePath(p: string, baseDir: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return resolve(homedir(), p.slice(2));
  return isAbsolute(p) ? resolve(p) : resolve(baseDir, p);
}

/** A short human reason for a filesystem error, never its full message. */
export function fsReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a parent is not a directory';
    default:
      return code ?? 'unreadable';
  }
}

export function resolveRefs(raw: string, env: NodeJS.ProcessEnv, baseDir: string): ResolvedText {
  if (!raw.includes('${')) return { value: raw, hadRef: false, problems: [] };
  let out = '';
  let at = 0;
  let hadRef = false;
  const problems: string[] = [];
  for (;;) {
    const open = raw.indexOf('${', at);
    if (open < 0) {
      out += raw.slice(at);
      break;
    }
    if (open - 1 >= at && raw[open - 1] === '$') {
      // '$${' → literal '${'
      out += raw.slice(at, open - 1) + '${';
      at = open + 2;
      continue;
    }
    out += raw.slice(at, open);
    const close = raw.indexOf('}', open + 2);
    if (close < 0) {
      problems.push('unterminated "${" (write "$${" for a literal "${")');
      break;
    }
    const ref = raw.slice(open + 2, close);
    at = close + 1;
    const colon = ref.indexOf(':');
    const kind = colon < 0 ? '' : ref.slice(0, colon).trim();
    const arg = colon < 0 ? '' : ref.slice(colon + 1).trim();
    if (kind === 'env') {
      hadRef = true;
      if (!ENV_NAME.test(arg)) {
        problems.push(`invalid environment variable name in "\${${ref}}"`);
      } else if (env[arg] === undefined) {
        problems.push(`environment variable ${arg} is not set (referenced as "\${env:${arg}}")`);
      } else if (env[arg] === '') {
        problems.push(`environment variable ${arg} is empty (referenced as "\${env:${arg}}")`);
      } else {
        out += env[arg];
      }
    } else if (kind === 'file') {
      hadRef = true;
      if (!arg) {
        problems.push('empty path in "${file:}"');
        continue;
      }
      const path = resolvePath(arg, baseDir);
      try {
        let content = readFileSync(path, 'utf8');
        if (content.endsWith('\r\n')) content = content.slice(0, -2);
        else if (content.endsWith('\n')) content = content.slice(0, -1);
        out += content;
      } catch (e) {
        problems.push(`cannot read secret file ${path} (${fsReason(e)})`);
      }
    } else {
      problems.push(
        `unknown reference "\${${ref}}" (use \${env:NAME} or \${file:PATH}; write "$\${" for a literal "\${")`,
      );
    }
  }
  return { value: out, hadRef, problems };
}
