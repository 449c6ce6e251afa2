import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
/// <reference path="./better-sqlite3.d.ts" />
import Database from 'better-sqlite3';
import type { ApiKeyRecord, ApprovalRecord, SessionRecord, StoredEvent } from '@sluice/core';

/** Temp directories created by a test file; remove them all in afterAll/afterEach. */
export function tempDirs(): { make(): string; cleanup(): void } {
  const dirs: string[] = [];
  return {
    make() {
      const d = mkdtempSync(join(tmpdir(), 'sluice-store-sqlite-'));
      dirs.push(d);
      return d;
    },
    cleanup() {
      for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
    },
  };
}

export function session(id: string, over: Partial<SessionRecord> = {}): SessionRecord {
  return {
    id,
    connection: 'prod-db',
    protocol: 'postgres',
    subject: 'alice@example.com',
    actors: ['billing-agent'],
    groups: ['eng', 'oncall'],
    via: 'api-key',
    client: '10.0.0.5:51234',
    startedAt: '2025-01-01T00:00:00.000Z',
    endedAt: null,
    endReason: null,
    ...over,
  };
}

export function event(sessionId: string, seq: number, over: Partial<StoredEvent> = {}): StoredEvent {
  return {
    session: sessionId,
    seq,
    at: new Date(Date.UTC(2025, 0, 1, 0, 0, seq)).toISOString(),
    type: 'command',
    data: { kind: 'SELECT', text: `select ${seq}`, objects: ['public.orders'], flags: [], decision: 'allow', policy: null },
    prev: seq === 1 ? '0'.repeat(64) : `h${seq - 1}`,
    hash: `h${seq}`,
    ...over,
  };
}

export function approval(id: string, sessionId: string, over: Partial<ApprovalRecord> = {}): ApprovalRecord {
  return {
    id,
    session: sessionId,
    policy: 'prod-writes',
    command: { kind: 'DELETE', text: 'delete from orders', objects: ['public.orders'], flags: ['unbounded'] },
    requester: { subject: 'alice@example.com', actors: ['billing-agent'], groups: ['eng'] },
    approvers: ['dba'],
    status: 'pending',
    createdAt: '2025-01-01T00:00:00.000Z',
    expiresAt: '2025-01-01T00:05:00.000Z',
    decidedAt: null,
    decidedBy: null,
    reason: null,
    ...over,
  };
}

export function apiKey(id: string, hash: string, over: Partial<ApiKeyRecord> = {}): ApiKeyRecord {
  return {
    id,
    name: `key-${id}`,
    hash,
    groups: ['agents'],
    onBehalfOf: 'alice@example.com',
    createdAt: '2025-01-01T00:00:00.000Z',
    expiresAt: null,
    revokedAt: null,
    ...over,
  };
}

/**
 * Edits one stored event behind the store's back, as someone with write
 * access to the SQLite file could: `edit` gets the event's journal-line
 * fields (session, seq, at, type, prev, hash, data JSON) and returns new
 * ones, or null to delete the event. A deleted event splits its block so
 * that what is left still reads back cleanly (a careful tamperer); only the
 * hash chain can then tell.
 */
export function tamperEvent(path: string, sessionId: string, seq: number, edit: (fields: string[]) => string[] | null): void {
  const db = new Database(path);
  try {
    const b = db
      .prepare<{ first_seq: number; last_seq: number; events: string }>(
        'SELECT first_seq, last_seq, events FROM event_blocks WHERE session = ? AND first_seq <= ? AND last_seq >= ?',
      )
      .get(sessionId, seq, seq);
    if (!b) throw new Error(`no stored event ${sessionId}#${seq}`);
    const lines = b.events.split('\n').filter(Boolean);
    const i = seq - b.first_seq;
    const changed = edit(lines[i]!.split('\t'));
    db.transaction(() => {
      db.prepare('DELETE FROM event_blocks WHERE session = ? AND first_seq = ?').run(sessionId, b.first_seq);
      const insert = db.prepare('INSERT INTO event_blocks (session, first_seq, last_seq, events) VALUES (?, ?, ?, ?)');
      const text = (ls: string[]) => ls.map((l) => `${l}\n`).join('');
      if (changed) {
        lines[i] = changed.join('\t');
        insert.run(sessionId, b.first_seq, b.last_seq, text(lines));
      } else {
        if (i > 0) insert.run(sessionId, b.first_seq, seq - 1, text(lines.slice(0, i)));
        if (seq < b.last_seq) insert.run(sessionId, seq + 1, b.last_seq, text(lines.slice(i + 1)));
      }
    })();
  } finally {
    db.close();
  }
}
