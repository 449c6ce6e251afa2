import { afterEach, describe, expect, it } from 'vitest';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventJournal } from './journal.js';
import { event, tempDirs } from './test-fixtures.js';

const tmp = tempDirs();
afterEach(() => tmp.cleanup());

describe('EventJournal', () => {
  it('after a rewind only the lines written since are read back, though the file keeps the older bytes', () => {
    const path = join(tmp.make(), 'j');
    const j = new EventJournal(path, false);
    j.append([event('sa', 1), event('sa', 2), event('sa', 3)]);
    const before = statSync(path).size;
    j.rewind();
    // Same length as sa#1's line, so the end mark lands on the first byte of
    // sa#2's: what follows reads as a whole line of session "a".
    j.append([event('sb', 7, { prev: '0'.repeat(64) })]);
    j.close();
    expect(statSync(path).size).toBe(before);
    expect(readFileSync(path, 'utf8').split('\n')[2]!.startsWith('a\t2\t')).toBe(true);
    expect(EventJournal.read(path).map((e) => `${e.session}#${e.seq}`)).toEqual(['sb#7']);
  });

  it('each write ends with an empty line that the next overwrites, so consecutive appends read back in order', () => {
    const path = join(tmp.make(), 'j');
    const j = new EventJournal(path, false);
    j.append([event('s', 1)]);
    expect(readFileSync(path, 'utf8').endsWith('\n\n')).toBe(true);
    j.append([event('s', 2), event('s', 3)]);
    j.close();
    const text = readFileSync(path, 'utf8');
    expect(text.split('\n')).toHaveLength(5); // three lines, the end mark, and the empty tail
    expect(EventJournal.read(path).map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it('a journal of an older version (no end mark) reads to its end; a torn last line or a line whose seq is not a number ends the list', () => {
    const path = join(tmp.make(), 'j');
    const j = new EventJournal(path, false);
    j.append([event('s', 1), event('s', 2)]);
    j.close();
    const lines = readFileSync(path, 'utf8').split('\n').filter(Boolean);
    const read = (text: string) => {
      const p = join(tmp.make(), 'k');
      writeFileSync(p, text);
      return EventJournal.read(p).map((e) => e.seq);
    };
    expect(read(`${lines[0]}\n${lines[1]}\n`)).toEqual([1, 2]);
    expect(read(`${lines[0]}\n${lines[1]!.slice(0, -5)}`)).toEqual([1]);
    expect(read(`${lines[0]}\n${lines[1]!.replace('\t2\t', '\tx2\t')}\n`)).toEqual([1]);
  });
});
