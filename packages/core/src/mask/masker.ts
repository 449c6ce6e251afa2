/**
 * The masker: the union of a session's mask rules, planned once per result.
 */
import type { ColumnRef, DetectorName, Masker, MaskRule, MaskStrategy, ResultMasker } from '../types.js';
import { DETECTOR_NAMES } from '../types.js';
import { coveredBy, parseColumnPattern, type ColumnPattern } from './columns.js';
import { detectors, digitProfile, P_DIGITS, scanningDetectors, type Detector, type ScanningDetector } from './detectors.js';
import {
  REDACTED,
  keyedHash,
  looksLikeEmail,
  normalizeStrategy,
  partialEmail,
  partialMask,
  redactedMarker,
  stricter,
} from './strategies.js';

export interface MaskerOptions {
  /** Key for the 'hash' strategy (HMAC-SHA256). Same key → same hashes across runs. */
  hashKey: Buffer;
}

/** Detectors whose values are secrets: 'partial' would show pieces of a credential, so it redacts. */
const SECRETS: ReadonlySet<DetectorName> = new Set<DetectorName>(['jwt', 'aws_access_key', 'private_key']);

interface ActiveDetector {
  readonly d: ScanningDetector;
  readonly strategy: MaskStrategy;
}

interface Hit {
  start: number;
  end: number;
  /** The detector the replacement is attributed to (longest member of a merged overlap). */
  det: ActiveDetector;
  /** Length of the attributed detector's own span. */
  own: number;
  strategy: MaskStrategy;
}

const ANY_DIGIT = /[0-9]/;

const HIT_ORDER = (a: Hit, b: Hit): number => a.start - b.start || b.end - a.end;

class Engine implements Masker {
  private readonly dets: readonly ActiveDetector[];
  /** Shortest value any active detector can match (Infinity with none). */
  readonly minLength: number;
  readonly columnNames: ReadonlySet<string>;
  /** Spans replaced by the last `maskSpans` call. */
  lastCount = 0;

  constructor(
    detectorStrategies: Map<DetectorName, MaskStrategy>,
    private readonly columns: readonly { pattern: ColumnPattern; strategy: MaskStrategy }[],
    private readonly hashKey: Buffer,
  ) {
    const dets: ActiveDetector[] = [];
    for (const name of DETECTOR_NAMES) {
      const strategy = detectorStrategies.get(name);
      if (strategy !== undefined) dets.push({ d: scanningDetectors[name], strategy });
    }
    // Shortest first, so a short value stops at the first detector it is too short for.
    dets.sort((a, b) => a.d.minLength - b.d.minLength);
    this.dets = dets;
    this.minLength = dets.reduce((m, x) => Math.min(m, x.d.minLength), Infinity);
    this.columnNames = new Set(columns.map((c) => c.pattern.column));
  }

  get hasDetectors(): boolean {
    return this.dets.length > 0;
  }

  forResult(columns: ColumnRef[]): ResultMasker {
    const plan: (MaskStrategy | undefined)[] = new Array(columns.length);
    const ruleColumns = new Set<number>();
    if (this.columns.length > 0) {
      for (let i = 0; i < columns.length; i++) {
        let strategy: MaskStrategy | undefined;
        for (const c of this.columns) {
          if (coveredBy(c.pattern, columns[i]!)) strategy = strategy === undefined ? c.strategy : stricter(strategy, c.strategy);
        }
        if (strategy !== undefined) {
          plan[i] = strategy;
          ruleColumns.add(i);
        }
      }
    }
    return new Result(this, plan, ruleColumns, ruleColumns.size > 0 || this.dets.length > 0);
  }

  text(value: string): { text: string; masked: number } {
    try {
      const out = this.maskSpans(value);
      return out === null ? { text: value, masked: 0 } : { text: out, masked: this.lastCount };
    } catch {
      // Never pass through text we failed to inspect.
      return { text: REDACTED, masked: 1 };
    }
  }

  /** A whole column value under a column rule. */
  whole(value: string, strategy: MaskStrategy): string {
    if (strategy === 'hash') return keyedHash(this.hashKey, value);
    if (strategy === 'partial') return looksLikeEmail(value) ? partialEmail(value) : partialMask(value);
    return REDACTED;
  }

  /**
   * Replaces every detector span in `value`; null when nothing matched (the
   * common case, which allocates nothing). Sets `lastCount`.
   */
  maskSpans(value: string): string | null {
    this.lastCount = 0;
    const len = value.length;
    if (len < this.minLength) return null;
    let profile = -1;
    let hits: Hit[] | null = null;
    let sources = 0;
    const dets = this.dets;
    for (let k = 0; k < dets.length; k++) {
      const det = dets[k];
      const d = det.d;
      if (len < d.minLength) break;
      if (d.minDigits > 0) {
        // digit-free text (names, statuses) is common: a native scan rules it out cheaply
        if (profile < 0) profile = ANY_DIGIT.test(value) ? digitProfile(value) : 0;
        if ((profile & P_DIGITS) < d.minDigits) continue;
      }
      if (!d.prefilter(value)) continue;
      const spans = d.scan(value, profile);
      if (spans.length === 0) continue;
      hits ??= [];
      sources++;
      for (const s of spans) hits.push({ start: s.start, end: s.end, det, own: s.end - s.start, strategy: det.strategy });
    }
    if (hits === null) return null;
    if (sources > 1) hits = mergeHits(hits);
    let out = '';
    let last = 0;
    for (const h of hits) {
      out += value.slice(last, h.start) + this.replace(value.slice(h.start, h.end), h.det.d, h.strategy);
      last = h.end;
    }
    out += value.slice(last);
    this.lastCount = hits.length;
    return out;
  }

  private replace(span: string, d: Detector, strategy: MaskStrategy): string {
    if (strategy === 'hash') return keyedHash(this.hashKey, d.canonical(span));
    if (strategy === 'partial' && !SECRETS.has(d.name)) {
      return d.name === 'email' ? partialEmail(span) : partialMask(span);
    }
    return redactedMarker(d.name);
  }
}

/**
 * Overlapping spans from different detectors are united (so no part of either
 * leaks); the union is attributed to the longest member (the first on a tie)
 * and uses the strictest strategy among its members.
 */
function mergeHits(hits: Hit[]): Hit[] {
  hits.sort(HIT_ORDER);
  const out: Hit[] = [hits[0]];
  for (let i = 1; i < hits.length; i++) {
    const cur = out[out.length - 1];
    const h = hits[i];
    if (h.start < cur.end) {
      if (h.end > cur.end) cur.end = h.end;
      if (h.own > cur.own) {
        cur.det = h.det;
        cur.own = h.own;
      }
      cur.strategy = stricter(cur.strategy, h.strategy);
    } else {
      out.push(h);
    }
  }
  return out;
}

class Result implements ResultMasker {
  private count = 0;

  constructor(
    private readonly engine: Engine,
    private readonly plan: readonly (MaskStrategy | undefined)[],
    readonly ruleColumns: ReadonlySet<number>,
    readonly active: boolean,
  ) {}

  get masked(): number {
    return this.count;
  }

  get minLength(): number {
    return this.engine.minLength;
  }

  cell(index: number, value: string): string | null {
    const strategy = this.plan[index];
    let out: string | null;
    try {
      if (strategy !== undefined) {
        // An empty string stays empty; NULLs never reach here (the caller's business).
        if (value.length === 0) return null;
        out = this.engine.whole(value, strategy);
        if (out === value) return null;
      } else {
        out = this.engine.maskSpans(value);
        if (out === null) return null;
      }
    } catch {
      // Never pass through a value we failed to inspect.
      out = REDACTED;
    }
    this.count++;
    return out;
  }
}

/**
 * The masker for the union of a session's mask rules, or null when the rules
 * give nothing to mask. A detector or a column named by several rules uses the
 * strictest of their strategies (redact > hash > partial; default redact).
 * Throws on an unknown detector name or a malformed column pattern (a config
 * error must not silently disable masking), and when a rule uses 'hash' with an
 * empty key.
 */
export function createMasker(rules: MaskRule[], opts: MaskerOptions): Masker | null {
  const detectorStrategies = new Map<DetectorName, MaskStrategy>();
  const columns: { pattern: ColumnPattern; strategy: MaskStrategy }[] = [];
  let usesHash = false;
  for (const rule of rules ?? []) {
    if (!rule) continue;
    const strategy = normalizeStrategy(rule.strategy);
    let used = false;
    for (const name of rule.detectors ?? []) {
      if (!Object.prototype.hasOwnProperty.call(detectors, name)) throw new Error(`unknown mask detector '${String(name)}'`);
      const prev = detectorStrategies.get(name);
      detectorStrategies.set(name, prev === undefined ? strategy : stricter(prev, strategy));
      used = true;
    }
    for (const source of rule.columns ?? []) {
      columns.push({ pattern: parseColumnPattern(source), strategy });
      used = true;
    }
    if (used && strategy === 'hash') usesHash = true;
  }
  if (detectorStrategies.size === 0 && columns.length === 0) return null;
  const key = opts?.hashKey;
  if (usesHash && (!key || key.length === 0)) throw new Error('mask strategy hash needs a non-empty hashKey');
  return new Engine(detectorStrategies, columns, key ?? Buffer.alloc(0));
}
