import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveRefs } from './secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'sluice-secrets-'));
writeFileSync(join(dir, 'pw'), 's3cret\n');
writeFileSync(join(dir, 'two-newlines'), 'x\n\n');
writeFileSync(join(dir, 'crlf'), 'win\r\n');
mkdirSync(join(dir, 'sub'));
writeFileSync(join(dir, 'sub', 'token'), 'tok');

describe('resolveRefs', () => {
  const env = { PW: 'hunter2', EMPTY: '' };

  it('leaves plain text alone', () => {
    expect(resolveRefs('plain $text {x}', env, dir)).toEqual({ value: 'plain $text {x}', hadRef: false, problems: [] });
  });

  it('substitutes env and file references, whole or embedded', () => {
    expect(resolveRefs('${env:PW}', env, dir)).toEqual({ value: 'hunter2', hadRef: true, problems: [] });
    expect(resolveRefs('postgres://app:${env:PW}@db/x', env, dir).value).toBe('postgres://app:hunter2@db/x');
    expect(resolveRefs(`\${file:${join(dir, 'pw')}}`, env, dir).value).toBe('s3cret');
    expect(resolveRefs('${file:sub/token}', env, dir).value).toBe('tok');
    expect(resolveRefs('${file:./pw}/${env:PW}', env, dir).value).toBe('s3cret/hunter2');
  });

  it('trims exactly one trailing newline from files', () => {
    expect(resolveRefs('${file:two-newlines}', env, dir).value).toBe('x\n');
    expect(resolveRefs('${file:crlf}', env, dir).value).toBe('win');
  });

  it('reads $${ as a literal ${', () => {
    expect(resolveRefs('a$${env:PW}b', env, dir)).toEqual({ value: 'a${env:PW}b', hadRef: false, problems: [] });
  });

  it('reports missing, empty and malformed references without values', () => {
    expect(resolveRefs('${env:NOPE}', env, dir).problems).toEqual([
      'environment variable NOPE is not set (referenced as "${env:NOPE}")',
    ]);
    expect(resolveRefs('${env:EMPTY}', env, dir).problems[0]).toMatch(/EMPTY is empty/);
    expect(resolveRefs('${file:missing}', env, dir).problems[0]).toBe(`cannot read secret file ${join(dir, 'missing')} (no such file)`);
    expect(resolveRefs('${file:sub}', env, dir).problems[0]).toMatch(/is a directory/);
    expect(resolveRefs('${vault:x}', env, dir).problems[0]).toMatch(/unknown reference "\$\{vault:x\}"/);
    expect(resolveRefs('${PW}', env, dir).problems[0]).toMatch(/unknown reference/);
    expect(resolveRefs('abc ${env:PW', env, dir).problems[0]).toMatch(/unterminated/);
    expect(resolveRefs('${env:1BAD}', env, dir).problems[0]).toMatch(/invalid environment variable name/);
  });
});
