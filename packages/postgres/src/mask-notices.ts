import type { Masker } from '@sluice/core';
import { BackendCode, BackendWriter, type NoticeFields } from './protocol/index.js';

/** Fields the target composes from data: message, detail, hint, context, internal query. */
const TEXT_FIELDS = ['M', 'D', 'H', 'W', 'q'] as const;
/** The value a data exception quotes: from the first double quote to the last (the value may hold quotes). */
const QUOTED = /"[\s\S]*"/;

/**
 * A target's ErrorResponse or NoticeResponse with the values it shows
 * masked, or null when nothing changed. A failed cast quotes the value it
 * could not read (`invalid input syntax for type integer: "…"`, even from a
 * WHERE clause), a constraint violation shows the key or the whole row: with
 * column rules configured, those values in data exceptions (SQLSTATE class
 * 22) and integrity violations (23) are redacted whatever column they came
 * from, since an error names no column; and every text field goes through
 * the value detectors, as result values do.
 */
export function maskNotice(type: BackendCode.ErrorResponse | BackendCode.NoticeResponse, fields: NoticeFields, masker: Masker): Buffer | null {
  const out: NoticeFields = { ...fields };
  let changed = false;
  const cls = (fields.C ?? '').slice(0, 2);
  if (masker.columnNames.size > 0 && (cls === '22' || cls === '23')) {
    for (const k of ['M', 'D'] as const) {
      const v = out[k];
      if (v === undefined) continue;
      const r =
        cls === '22'
          ? v.replace(QUOTED, '"[REDACTED]"')
          : v.replace(/\)=\([\s\S]*\)/, ')=([REDACTED])').replace(/^(Failing row contains )\([\s\S]*\)/, '$1([REDACTED])');
      if (r !== v) {
        out[k] = r;
        changed = true;
      }
    }
  }
  for (const k of TEXT_FIELDS) {
    const v = out[k];
    if (v === undefined) continue;
    const r = masker.text(v);
    if (r.masked) {
      out[k] = r.text;
      changed = true;
    }
  }
  return changed ? new BackendWriter().noticeFields(type, out).take() : null;
}
