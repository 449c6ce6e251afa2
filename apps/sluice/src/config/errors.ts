/**
 * Config diagnostics. Every message is `FILE:LINE: key.path: detail`, the
 * shape editors and CI annotators understand; file-level problems (a missing
 * file) have line 0 and are printed `FILE: detail`.
 */

/** Format one diagnostic line. Line 0 means "the file as a whole". */
export function formatDiagnostic(
  file: string,
  line: number,
  key: string,
  detail: string,
  severity?: 'warning',
): string {
  const loc = line > 0 ? `${file}:${line}:` : `${file}:`;
  return `${loc}${severity ? ` ${severity}:` : ''} ${key ? `${key}: ` : ''}${detail}`;
}

export class ConfigError extends Error {
  /** The config file as the user named it (what the message shows). */
  readonly file: string;
  /** 1-based line; 0 when the problem concerns the whole file. */
  readonly line: number;
  /** 1-based column; 0 when unknown. */
  readonly column: number;
  /** Key path of the offending setting ('policies[1].approve.timeout'); '' for the file itself. */
  readonly key: string;
  /** The message without the location prefix. */
  readonly detail: string;

  constructor(file: string, line: number, key: string, detail: string, column = 0) {
    super(formatDiagnostic(file, line, key, detail));
    this.name = 'ConfigError';
    this.file = file;
    this.line = line;
    this.column = column;
    this.key = key;
    this.detail = detail;
  }
}
