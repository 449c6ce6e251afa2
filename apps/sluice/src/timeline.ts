import type { SessionRecord, StoredEvent } from '@sluice/core';
import { describeIdentity } from './admin.js';

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const clock = (iso: string) => iso.slice(11, 23);
const oneLine = (s: string, max = 120) => {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > max ? t.slice(0, max - 1) + '…' : t;
};

/** A database session as a readable timeline, one line per event. */
export function renderTimeline(session: SessionRecord, events: StoredEvent[]): string {
  const lines: string[] = [];
  lines.push(`session ${session.id}  ${session.protocol} → ${session.connection}  ${describeIdentity(session)}  from ${session.client}`);
  lines.push(`started ${session.startedAt}${session.endedAt ? `, ended ${session.endedAt} (${session.endReason})` : ', still open'}`);
  lines.push('');
  for (const e of events) {
    const d = e.data as Record<string, any>;
    let text: string;
    switch (e.type) {
      case 'session.start':
        text = `session start   ${describeIdentity(d.identity)} [${(d.identity?.groups ?? []).join(', ')}] via ${d.identity?.via}${d.client?.application ? `, ${d.client.application}` : ''}`;
        break;
      case 'command': {
        const mark = d.decision === 'allow' ? 'allow  ' : d.decision === 'block' ? 'BLOCK  ' : 'APPROVE';
        const pol = d.policy ? `  [${d.policy}]` : '';
        const params = Array.isArray(d.params) && d.params.length ? `  params=${JSON.stringify(d.params)}` : '';
        text = `${mark}  ${oneLine(String(d.text))}${pol}${params}`;
        break;
      }
      case 'approval.requested':
        text = `  waiting for approval ${d.id} by ${(d.approvers ?? []).join(', ')} until ${d.expiresAt}`;
        break;
      case 'approval.decided':
        text = `  approval ${d.id} ${d.outcome}${d.by ? ` by ${d.by}` : ''}${d.reason ? `: ${d.reason}` : ''}`;
        break;
      case 'result': {
        const parts: string[] = [];
        if (d.error) parts.push(`error: ${oneLine(String(d.error), 80)}`);
        if (d.rows !== undefined && d.rows !== null) parts.push(`${d.rows} rows`);
        if (d.affected !== undefined && d.affected !== null) parts.push(`${d.affected} affected`);
        if (d.masked) parts.push(`${d.masked} masked`);
        if (d.ms !== undefined) parts.push(`${d.ms} ms`);
        text = `  → ${parts.join(', ') || 'done'}`;
        break;
      }
      case 'output':
        text = `  ${d.stream}: ${oneLine(String(d.data), 100)}`;
        break;
      case 'session.end':
        text = `session end     ${d.reason ?? ''}`;
        break;
      default:
        text = `${e.type} ${oneLine(JSON.stringify(d), 100)}`;
    }
    lines.push(`${clock(e.at)}  ${pad(String(e.seq), 4)} ${text}`);
  }
  return lines.join('\n');
}
