import { describe, expect, it } from 'vitest';
import { playEvents, toAsciicast, type TerminalEvent } from './cast.js';

const events: TerminalEvent[] = [
  { at: '2026-12-06T02:00:00.000Z', type: 'output', stream: 'stdout', data: 'SLUICE$ ' },
  { at: '2026-12-06T02:00:01.250Z', type: 'output', stream: 'stdout', data: 'ls\r\n' },
  { at: '2026-12-06T02:00:01.300Z', type: 'resize', cols: 120, rows: 40 },
  { at: '2026-12-06T02:00:01.300Z', type: 'output', stream: 'stderr', data: 'ls: cannot access "x": No such file\r\n' },
  { at: '2026-12-06T02:00:31.300Z', type: 'output', stream: 'stdout', data: 'é ✓ \x1b[31mred\x1b[0m\r\n' },
];

describe('toAsciicast', () => {
  it('writes an asciicast v2 header and one event line each, times never decreasing', () => {
    const cast = toAsciicast(events, { width: 80, height: 24, title: 'session s-1' });
    expect(cast.endsWith('\n')).toBe(true);
    const lines = cast.trimEnd().split('\n');
    const header = JSON.parse(lines[0]);
    expect(header).toEqual({ version: 2, width: 80, height: 24, timestamp: Date.parse('2026-12-06T02:00:00Z') / 1000, title: 'session s-1' });
    const evs = lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    expect(evs).toEqual([
      [0, 'o', 'SLUICE$ '],
      [1.25, 'o', 'ls\r\n'],
      [1.3, 'r', '120x40'],
      [1.3, 'o', 'ls: cannot access "x": No such file\r\n'],
      [31.3, 'o', 'é ✓ \x1b[31mred\x1b[0m\r\n'],
    ]);
  });

  it('never lets time go backwards and skips events it cannot play', () => {
    const cast = toAsciicast(
      [
        { at: '2026-12-06T02:00:05.000Z', type: 'output', data: 'a' },
        { at: '2026-12-06T02:00:04.000Z', type: 'output', data: 'b' },
        { at: 'not a time', type: 'output', data: 'c' },
        { at: '2026-12-06T02:00:06.000Z', type: 'resize', cols: 0, rows: 10 },
        { at: '2026-12-06T02:00:07.000Z', type: 'output', data: '' },
        { at: '2026-12-06T02:00:08.000Z', type: 'output', data: 'd' },
      ],
      { width: 80, height: 24, timestamp: 1 },
    );
    const evs = cast.trimEnd().split('\n').slice(1).map((l) => JSON.parse(l));
    expect(evs).toEqual([
      [0, 'o', 'a'],
      [0, 'o', 'b'],
      [0, 'o', 'c'],
      [3, 'o', 'd'],
    ]);
    expect(JSON.parse(cast.split('\n')[0]).timestamp).toBe(1);
  });

  it('rejects a bad size', () => {
    expect(() => toAsciicast(events, { width: 0, height: 24 })).toThrow();
  });
});

describe('playEvents', () => {
  it('writes the events in order after the scaled, capped delays', async () => {
    const log: string[] = [];
    await playEvents(events, {
      speed: 2,
      maxIdleSec: 5,
      write: (s) => log.push(`w:${s}`),
      sleep: async (ms) => {
        log.push(`sleep:${ms}`);
      },
    });
    expect(log).toEqual([
      'w:SLUICE$ ',
      'sleep:625',
      'w:ls\r\n',
      'sleep:25',
      'w:\x1b[8;40;120t',
      'w:ls: cannot access "x": No such file\r\n',
      'sleep:2500', // 30 s idle capped at 5 s, at speed 2
      'w:é ✓ \x1b[31mred\x1b[0m\r\n',
    ]);
  });

  it('stops when aborted, writing nothing after the abort', async () => {
    const ac = new AbortController();
    const written: string[] = [];
    await playEvents(events, {
      write: (s) => written.push(s),
      signal: ac.signal,
      sleep: async () => {
        ac.abort();
      },
    });
    expect(written).toEqual(['SLUICE$ ']);
  });

  it('aborts a real sleep promptly', async () => {
    const ac = new AbortController();
    const p = playEvents(events, { write: () => undefined, signal: ac.signal });
    ac.abort();
    await expect(p).resolves.toBeUndefined();
  });

  it('rejects a non-positive speed', async () => {
    await expect(playEvents(events, { speed: 0, write: () => undefined })).rejects.toThrow();
  });
});
