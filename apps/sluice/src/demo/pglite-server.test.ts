import { describe, expect, it } from 'vitest';
import { errorResponse, namespaceNames, pgliteKiller, ReadyForQueryScanner } from './pglite-server.js';

function msg(type: string, body: Buffer): Buffer {
  const b = Buffer.alloc(5 + body.length);
  b.write(type, 0, 'latin1');
  b.writeInt32BE(4 + body.length, 1);
  body.copy(b, 5);
  return b;
}
const cstr = (...parts: string[]) => Buffer.from(parts.map((p) => p + '\0').join(''), 'utf8');

describe('pgliteKiller', () => {
  it('catches the COPY forms that crash or wedge PGlite', () => {
    expect(pgliteKiller('COPY t FROM STDIN')).toBe('COPY FROM STDIN');
    expect(pgliteKiller('copy public.t (a, b) from stdin with (format csv)')).toBe('COPY FROM STDIN');
    expect(pgliteKiller('select 1;\n  COPY t\n FROM\n stdin;')).toBe('COPY FROM STDIN');
    expect(pgliteKiller("COPY t FROM PROGRAM 'curl x'")).toBe('COPY ... PROGRAM');
    expect(pgliteKiller("copy (select 1) to program 'cat'")).toBe('COPY ... PROGRAM');
    expect(pgliteKiller("DO $$ BEGIN EXECUTE 'copy t from program ''id'''; END $$")).toBe('COPY ... PROGRAM');
  });

  it('lets harmless statements through', () => {
    expect(pgliteKiller('COPY t TO STDOUT')).toBeNull();
    expect(pgliteKiller('copy (select a from stdin_log) to stdout')).toBeNull();
    expect(pgliteKiller("COPY t FROM '/tmp/file.csv'")).toBeNull();
    expect(pgliteKiller('select * from programs; select copy from stdin_x')).toBeNull();
    expect(pgliteKiller("select 'copy'; select 1 from stdin")).toBeNull(); // separate statements
  });
});

describe('ReadyForQueryScanner', () => {
  const output = Buffer.concat([
    msg('C', cstr('SELECT 1')),
    msg('D', Buffer.from([0, 1, 0, 0, 0, 1, 0x5a])), // a DataRow containing the byte 'Z'
    msg('Z', Buffer.from('T')),
  ]);

  it('finds the transaction status, whatever the chunking', () => {
    for (let size = 1; size <= output.length; size++) {
      const s = new ReadyForQueryScanner();
      for (let i = 0; i < output.length; i += size) s.feed(output.subarray(i, i + size));
      expect(s.last, `chunk size ${size}`).toBe('T');
    }
  });

  it('reports nothing when no ReadyForQuery came', () => {
    const s = new ReadyForQueryScanner();
    s.feed(msg('1', Buffer.alloc(0))); // ParseComplete
    expect(s.last).toBeNull();
  });
});

describe('namespaceNames', () => {
  it('prefixes named statements and portals, leaves unnamed ones alone', () => {
    const params = Buffer.from([0, 0, 0, 0, 0, 0]);
    const parse = msg('P', Buffer.concat([cstr('S_1', 'select 1'), Buffer.from([0, 0])]));
    expect(namespaceNames(parse, 'c7_')).toEqual(msg('P', Buffer.concat([cstr('c7_S_1', 'select 1'), Buffer.from([0, 0])])));
    const unnamed = msg('P', Buffer.concat([cstr('', 'select 1'), Buffer.from([0, 0])]));
    expect(namespaceNames(unnamed, 'c7_')).toBe(unnamed);

    const bind = msg('B', Buffer.concat([cstr('C_1', 'S_1'), params]));
    expect(namespaceNames(bind, 'c7_')).toEqual(msg('B', Buffer.concat([cstr('c7_C_1', 'c7_S_1'), params])));
    const bindUnnamedPortal = msg('B', Buffer.concat([cstr('', 'S_1'), params]));
    expect(namespaceNames(bindUnnamedPortal, 'c7_')).toEqual(msg('B', Buffer.concat([cstr('', 'c7_S_1'), params])));

    const exec = msg('E', Buffer.concat([cstr('C_1'), Buffer.from([0, 0, 0, 50])]));
    expect(namespaceNames(exec, 'c7_')).toEqual(msg('E', Buffer.concat([cstr('c7_C_1'), Buffer.from([0, 0, 0, 50])])));
    expect(namespaceNames(msg('D', Buffer.concat([Buffer.from('S'), cstr('S_1')])), 'c7_')).toEqual(
      msg('D', Buffer.concat([Buffer.from('S'), cstr('c7_S_1')])),
    );
    expect(namespaceNames(msg('C', Buffer.concat([Buffer.from('P'), cstr('C_1')])), 'c7_')).toEqual(
      msg('C', Buffer.concat([Buffer.from('P'), cstr('c7_C_1')])),
    );
    const query = msg('Q', cstr('select 1'));
    expect(namespaceNames(query, 'c7_')).toBe(query);
  });
});

describe('errorResponse', () => {
  it('is a well-formed ErrorResponse', () => {
    const b = errorResponse({ severity: 'ERROR', code: '55P03', message: 'busy', detail: 'd', hint: 'h' });
    expect(String.fromCharCode(b[0])).toBe('E');
    expect(b.readInt32BE(1)).toBe(b.length - 1);
    expect(b.subarray(5).toString('utf8')).toBe('SERROR\0VERROR\0C55P03\0Mbusy\0Dd\0Hh\0\0');
  });
});
