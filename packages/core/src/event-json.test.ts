import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GENESIS, Recorder, SessionLog, eventHash } from './recorder.js';
import { commandEvent, commandEventJson, jsonString, resultEvent } from './session.js';
import type { Decision } from './policy.js';
import type { Store, StoredEvent } from './store.js';
import type { Command, ResultSummary } from './types.js';

// Text with quotes, backslashes, control characters, lone surrogates and astral characters.
const text = fc.string({ unit: fc.constantFrom('a', 'Z', ' ', '"', '\\', '\n', '\t', '\u0001', '\u2028', '\ud800', 'é', '😀', '$', '1') , maxLength: 12 });
const command: fc.Arbitrary<Command> = fc.record(
  {
    protocol: fc.constant('postgres'),
    kind: text,
    text,
    objects: fc.array(text, { maxLength: 3 }),
    flags: fc.array(text, { maxLength: 3 }),
    params: fc.array(fc.option(text, { nil: null }), { maxLength: 3 }),
    error: text,
    parts: fc.array(fc.record({ protocol: fc.constant('postgres'), kind: text, text, objects: fc.array(text, { maxLength: 2 }), flags: fc.array(text, { maxLength: 2 }) }), { maxLength: 2 }),
  },
  { requiredKeys: ['protocol', 'kind', 'text', 'objects', 'flags'] },
);
const decision: fc.Arbitrary<Decision> = fc.record({ effect: fc.constantFrom('allow', 'block', 'approve'), policy: fc.option(text, { nil: null }) });

describe('command event JSON', () => {
  it('is exactly JSON.stringify of the event data, for any command and decision', () => {
    fc.assert(
      fc.property(command, decision, (cmd, d) => {
        const data = commandEvent(cmd, d);
        expect(commandEventJson(cmd, d, data)).toBe(JSON.stringify(data));
        // A second execution (the cached head) with other parameters.
        const again = { ...cmd, params: ['42', null] };
        expect(commandEventJson(again, d, commandEvent(again, d))).toBe(JSON.stringify(commandEvent(again, d)));
      }),
      { numRuns: 500 },
    );
  });

  it('follows a prepared command whose lists change after its first event (no stale head)', () => {
    // With params: an execution of a prepared statement, whose head is cached.
    const cmd: Command = { protocol: 'postgres', kind: 'SELECT', text: 'select 1', objects: ['a'], flags: [], params: ['7'] };
    const d: Decision = { effect: 'allow', policy: null };
    expect(commandEventJson(cmd, d, commandEvent(cmd, d))).toBe(JSON.stringify(commandEvent(cmd, d)));
    cmd.objects.push('b');
    cmd.flags.push('unbounded');
    expect(commandEventJson(cmd, d, commandEvent(cmd, d))).toContain('"objects":["a","b"],"flags":["unbounded"]');
    // Another command sharing the same objects list.
    const other: Command = { protocol: 'postgres', kind: 'DELETE', text: 'delete from a', objects: cmd.objects, flags: [], params: [] };
    expect(commandEventJson(other, d, commandEvent(other, d))).toBe(JSON.stringify(commandEvent(other, d)));
  });

  it('chains events whose hashes verify with eventHash (the audit check)', async () => {
    const stored: StoredEvent[] = [];
    const store = { appendEvents: async (es: StoredEvent[]) => void stored.push(...es), appendEventsNow: (es: StoredEvent[]) => void stored.push(...es) } as unknown as Store;
    const log = new SessionLog(new Recorder(store), 'ses_"odd\\id');
    const cmd: Command = { protocol: 'postgres', kind: 'SELECT', text: 'select "x"', objects: ['t'], flags: [], params: ['1'] };
    const d: Decision = { effect: 'allow', policy: null };
    for (let i = 0; i < 3; i++) log.appendNow('command', commandEvent(cmd, d), commandEventJson(cmd, d, commandEvent(cmd, d)));
    await log.append('result', { rows: 1, masked: 0 });
    expect(stored.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    let prev = GENESIS;
    for (const e of stored) {
      expect(e.prev).toBe(prev);
      expect(e.hash).toBe(eventHash({ ...e, dataJson: undefined }));
      prev = e.hash;
    }
  });
});

describe('plain JSON writers', () => {
  it('jsonString is exactly JSON.stringify for any string', () => {
    fc.assert(
      fc.property(fc.oneof(text, fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })), (s) => {
        expect(jsonString(s)).toBe(JSON.stringify(s));
      }),
      { numRuns: 2000 },
    );
  });

  it('resultEvent holds the summary\'s defined fields, and its JSON is exactly JSON.stringify of them', () => {
    const num = fc.option(fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, 1.97, NaN, Infinity)), { nil: undefined });
    const summary: fc.Arbitrary<ResultSummary> = fc.record({ rows: num, affected: num, masked: num, error: fc.option(text, { nil: undefined }), ms: num, bytesIn: num, bytesOut: num }, { requiredKeys: [] });
    fc.assert(
      fc.property(summary, (r) => {
        const { data, json } = resultEvent(r);
        expect(json).toBe(JSON.stringify(data));
        expect(data).toStrictEqual(Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));
      }),
      { numRuns: 1000 },
    );
    expect(resultEvent({ ms: 1.97, rows: 1, affected: undefined, masked: 0, error: undefined }).json).toBe('{"rows":1,"masked":0,"ms":1.97}');
  });
});
