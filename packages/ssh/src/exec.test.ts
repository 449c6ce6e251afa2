import { describe, expect, it } from 'vitest';
import { readsCommandsFromStdin } from './exec.js';
import { envAllowed } from './connection.js';
import { parseSshTarget } from './upstream.js';
import { approvalLine, formatDuration } from './relay.js';

describe('readsCommandsFromStdin', () => {
  it('is true for a shell started without a command string or script', () => {
    for (const c of ['bash', 'sh', '/bin/bash -l', 'bash -s', 'zsh -i', ' dash ', 'bash --login', 'bash -- ']) expect(readsCommandsFromStdin(c), c).toBe(true);
  });
  it('is false for command strings, scripts and other programs', () => {
    for (const c of ['bash -c "ls"', 'sh -ec ls', 'bash script.sh', 'python3', 'ls -l', 'bash -', 'bashful', 'bash -s -- arg']) expect(readsCommandsFromStdin(c), c).toBe(false);
  });
});

describe('envAllowed', () => {
  it('passes locale variables only', () => {
    for (const n of ['LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'COLORTERM', 'LANGUAGE']) expect(envAllowed(n), n).toBe(true);
    for (const n of ['BASH_ENV', 'LD_PRELOAD', 'PATH', 'ENV', 'PROMPT_COMMAND', 'lang', 'LC_', 'SHELLOPTS']) expect(envAllowed(n), n).toBe(false);
  });
});

describe('parseSshTarget', () => {
  it('reads user, host and port (22 by default)', () => {
    expect(parseSshTarget('ssh://deploy@10.0.0.7:2222')).toEqual({ host: '10.0.0.7', port: 2222, username: 'deploy' });
    expect(parseSshTarget('ssh://deploy@web.example.com')).toEqual({ host: 'web.example.com', port: 22, username: 'deploy' });
    expect(parseSshTarget('ssh://ops@[::1]:22')).toEqual({ host: '::1', port: 22, username: 'ops' });
  });
  it('refuses other schemes and a missing user with one line', () => {
    expect(() => parseSshTarget('http://deploy@h')).toThrow(/expected ssh:\/\/user@host:22/);
    expect(() => parseSshTarget('ssh://h:22')).toThrow(/names no user/);
    expect(() => parseSshTarget('not a url')).toThrow(/invalid SSH target/);
  });
});

describe('approval notice', () => {
  it('names the request, the policy, the approvers and the wait', () => {
    const line = approvalLine({ requestId: 'apr_1', policy: 'sudo', approvers: ['leads', 'sre'], expiresAt: new Date('2030-01-01T00:10:00Z'), timeoutMs: 600_000 });
    expect(line).toBe('sluice: approval required by policy "sudo": request apr_1 is waiting up to 10m for leads, sre (until 2030-01-01T00:10:00.000Z)');
    expect(formatDuration(90_000)).toBe('90s');
    expect(formatDuration(3_600_000)).toBe('1h');
    expect(formatDuration(2500)).toBe('2.5s');
  });
});
