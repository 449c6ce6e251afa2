/**
 * Durations as people write them in config files and on the command line.
 *
 *   '500ms'  '30s'  '10m'  '1h'  '2d'  '1h30m'  '1.5h'
 *
 * Units: ms, s, m, h, d (lower case; `m` is minutes). Components may be
 * combined ('1h30m') and may have a decimal fraction ('1.5h').
 *
 * A bare number — the YAML value `600` or the string '600' — means SECONDS,
 * the unit people reach for when they leave one out (`--ttl 3600`,
 * Kubernetes' `timeoutSeconds`). Results are whole milliseconds.
 */

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

export const DURATION_HINT = 'use e.g. 30s, 10m, 1h';

function invalid(shown: string): RangeError {
  return new RangeError(`invalid duration ${shown} (${DURATION_HINT})`);
}

/** Parse a duration into milliseconds. Throws RangeError with a user-facing message. */
export function parseDuration(s: string | number): number {
  if (typeof s === 'number') {
    if (!Number.isFinite(s) || s < 0) throw invalid(String(s));
    const ms = Math.round(s * 1000);
    if (!Number.isSafeInteger(ms)) throw invalid(String(s));
    return ms;
  }
  const text = s.trim();
  if (/^\d+(?:\.\d+)?$/.test(text)) return parseDuration(Number(text));
  if (text === '') throw invalid(JSON.stringify(s));
  const component = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;
  let total = 0;
  let at = 0;
  while (at < text.length) {
    component.lastIndex = at;
    const m = component.exec(text);
    if (!m) throw invalid(JSON.stringify(s));
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    at = component.lastIndex;
  }
  const ms = Math.round(total);
  if (!Number.isSafeInteger(ms)) throw invalid(JSON.stringify(s));
  return ms;
}

/** The shortest exact rendering of a duration ('90000' → '1m30s'), for messages. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [unit, size] of [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) {
      out += `${n}${unit}`;
      rest -= n * size;
    }
  }
  return out;
}
