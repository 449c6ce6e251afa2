/**
 * Test-only harness (not exported from the package): a real core Gateway on a
 * temp SQLite store without any listener, so channel handlers can be driven
 * with real sessions, policies, approvals and recordings; and a local
 * `sftp-server` standing in for the target's sftp subsystem.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { Duplex, PassThrough } from 'node:stream';
import { Gateway, type ConnectionConfig, type Identity, type Policy, type Session } from '@sluice/core';
import { openSqliteStore, type SqliteStore } from '@sluice/store-sqlite';

export const SFTP_SERVER = '/usr/lib/openssh/sftp-server';

export interface Harness {
  gateway: Gateway;
  store: SqliteStore;
  dir: string;
  agent: Identity;
  approver: Identity;
  open(connection?: string): Promise<Session>;
  events(sessionId: string): Promise<{ type: string; data: Record<string, unknown> }[]>;
  pendingApproval(timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

const quiet = { debug() {}, info() {}, warn() {}, error() {} };

export async function startHarness(policies: Policy[], connections: ConnectionConfig[]): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-ssh-ch-'));
  const store = openSqliteStore({ path: join(dir, 'sluice.db'), journal: true });
  const gateway = new Gateway({
    store,
    policies,
    connections,
    authenticators: [],
    hashKey: randomBytes(32),
    tls: { cert: '', key: '' },
    logger: quiet,
    dataDir: dir,
  });
  await gateway.recover();
  const agent: Identity = { subject: 'alice@example.com', actors: ['files-agent'], groups: ['agents'], via: 'api-key' };
  const approver: Identity = { subject: 'bob@example.com', actors: [], groups: ['ops'], via: 'api-key' };
  return {
    gateway,
    store,
    dir,
    agent,
    approver,
    open: (connection = connections[0]!.name) => gateway.openSession(agent, connection, { address: '127.0.0.1:1' }, 'ssh'),
    async events(id) {
      // results are batched: give the recorder a moment to flush them
      await new Promise((r) => setTimeout(r, 100));
      return (await store.getEvents(id)).map((e) => ({ type: e.type, data: e.data as Record<string, unknown> }));
    },
    async pendingApproval(timeoutMs = 5000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const p = await store.listApprovals('pending');
        if (p[0]) return p[0].id;
        if (Date.now() > end) throw new Error('no pending approval appeared');
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async close() {
      await gateway.shutdown('test over');
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * An ssh2-ClientChannel look-alike over OpenSSH's sftp-server running in `cwd`
 * (its REALPATH "." answers `cwd`): write/read/end/close/stderr as the proxy uses them.
 */
export function localSftpServer(cwd: string): Duplex & { stderr: PassThrough; close(): void } {
  const child = spawn(SFTP_SERVER, ['-e'], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  const d = Duplex.from({ readable: child.stdout, writable: child.stdin }) as Duplex & { stderr: PassThrough; close(): void };
  d.stderr = new PassThrough();
  child.stderr.pipe(d.stderr);
  d.close = () => {
    child.kill();
    d.destroy();
  };
  child.once('exit', () => d.destroy());
  return d;
}
