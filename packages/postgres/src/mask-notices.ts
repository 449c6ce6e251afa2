import { maskMessage, type Masker } from '@sluice/core';
import { BackendCode, BackendWriter, type NoticeFields } from './protocol/index.js';

/** Fields the target composes from data: message, detail, hint, context, internal query. */
const TEXT_FIELDS = ['M', 'D', 'H', 'W', 'q'] as const;

/**
 * Where PostgreSQL shows a value: a data exception (SQLSTATE class 22) from
 * the first double quote to the last (the value may hold quotes), or, when
 * nothing is quoted, after the last `: ` (`date field value out of range:
 * 2020-01-100` shows the day it was given); an integrity violation (23) in
 * `Key (…)=(…)` and `Failing row contains (…)`.
 */
const QUOTED: Record<string, RegExp[]> = {
  '22': [/(")([\s\S]*)(")/, /(: )([^"]+)()$/],
  '23': [/(\)=\()([\s\S]*)(\))/, /^(Failing row contains \()([\s\S]*)(\))/],
};

/**
 * A target's ErrorResponse or NoticeResponse with the values it shows
 * masked (`maskMessage` on each text field), or null when nothing changed:
 * a failed cast quotes the value it could not read, even from a WHERE
 * clause, and a constraint violation shows the key or the whole row.
 */
export function maskNotice(type: BackendCode.ErrorResponse | BackendCode.NoticeResponse, fields: NoticeFields, masker: Masker): Buffer | null {
  const quoted = QUOTED[(fields.C ?? '').slice(0, 2)] ?? [];
  let out: NoticeFields | null = null;
  for (const k of TEXT_FIELDS) {
    const v = fields[k];
    if (v === undefined) continue;
    const r = maskMessage(masker, v, k === 'M' || k === 'D' ? quoted : []);
    if (r !== null) (out ??= { ...fields })[k] = r;
  }
  return out ? new BackendWriter().noticeFields(type, out).take() : null;
}
