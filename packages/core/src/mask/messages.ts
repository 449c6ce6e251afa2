import type { Masker } from '../types.js';
import { REDACTED } from './strategies.js';

/**
 * Text a target composes from data — an error, notice or warning message —
 * masked, or null when nothing changed. Such a message names no column, so
 * column rules cannot be applied by column: when any are configured, every
 * value `quoted` matches is redacted (each pattern has three groups: before
 * the value, the value, after it; the protocol knows where its data errors
 * quote values). Then the value detectors run, as on result values.
 */
export function maskMessage(masker: Masker, text: string, quoted: readonly RegExp[] = []): string | null {
  let out = text;
  if (masker.columnNames.size > 0) for (const re of quoted) out = out.replace(re, `$1${REDACTED}$3`);
  const r = masker.text(out);
  if (r.masked) out = r.text;
  return out === text ? null : out;
}
