import type { NoticeFields } from './backend-messages.js';

/** An ErrorResponse / NoticeResponse by field name. */
export interface ErrorFields {
  /** ERROR, FATAL, PANIC, WARNING, NOTICE, DEBUG, INFO, LOG; sent as both S and V. */
  severity: string;
  /** SQLSTATE, e.g. '42501'. */
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  /** Cursor position in the query text, 1-based, as a decimal string. */
  position?: string;
  internalPosition?: string;
  internalQuery?: string;
  where?: string;
  schema?: string;
  table?: string;
  column?: string;
  dataType?: string;
  constraint?: string;
  file?: string;
  line?: string;
  routine?: string;
}

/** Field name → one-letter code, in the order they are written (after S and V). */
export const ERROR_FIELD_CODES: ReadonlyArray<readonly [Exclude<keyof ErrorFields, 'severity'>, string]> = [
  ['code', 'C'],
  ['message', 'M'],
  ['detail', 'D'],
  ['hint', 'H'],
  ['position', 'P'],
  ['internalPosition', 'p'],
  ['internalQuery', 'q'],
  ['where', 'W'],
  ['schema', 's'],
  ['table', 't'],
  ['column', 'c'],
  ['dataType', 'd'],
  ['constraint', 'n'],
  ['file', 'F'],
  ['line', 'L'],
  ['routine', 'R'],
];

/**
 * Names the fields of a parsed ErrorResponse/NoticeResponse. Severity prefers
 * the non-localized V; missing S/C/M become ''. Unknown letters are dropped.
 */
export function errorFieldsFromNotice(fields: NoticeFields): ErrorFields {
  const out: ErrorFields = { severity: fields.V ?? fields.S ?? '', code: '', message: '' };
  for (const [name, letter] of ERROR_FIELD_CODES) {
    const v = fields[letter];
    if (v !== undefined) out[name] = v;
  }
  out.code ??= '';
  out.message ??= '';
  return out;
}
