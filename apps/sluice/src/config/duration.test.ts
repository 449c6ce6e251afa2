import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.js';

describe('parseDuration', () => {
  it('reads single units', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('2d')).toBe(172_800_000);
  });

  it('reads compound and fractional durations', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1m30s250ms')).toBe(90_250);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration(' 10m ')).toBe(600_000);
  });

  it('treats a bare number, or a numeric string, as seconds', () => {
    expect(parseDuration(600)).toBe(600_000);
    expect(parseDuration(0.5)).toBe(500);
    expect(parseDuration('3600')).toBe(3_600_000);
    expect(parseDuration(0)).toBe(0);
  });

  it('rejects what it cannot read, with a hint', () => {
    for (const bad of ['10 minutes', '', '-1s', '1x', '1H', 'm', '1h 30m', '10M', 'abc', '1.h']) {
      expect(() => parseDuration(bad), bad).toThrow(/invalid duration .* \(use e\.g\. 30s, 10m, 1h\)/);
    }
    expect(() => parseDuration(-5)).toThrow(RangeError);
    expect(() => parseDuration(Number.NaN)).toThrow(RangeError);
    expect(() => parseDuration('10 minutes')).toThrow('invalid duration "10 minutes" (use e.g. 30s, 10m, 1h)');
  });
});

describe('formatDuration', () => {
  it('renders the shortest exact form', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(600_000)).toBe('10m');
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(90_250)).toBe('1m30s250ms');
    expect(parseDuration(formatDuration(123_456_789))).toBe(123_456_789);
  });
});
