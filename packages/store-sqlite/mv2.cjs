const D = require('better-sqlite3'); const fs = require('fs');
const src = new D('/tmp/sluice-bench-ajkJh4/data/sluice.db', { readonly: true });
const rows = src.prepare('select session, seq, at, type, data, prev, hash from events order by rowid').all();
const sessions = src.prepare('select * from sessions').all();
const jtext = rows.map(e => `${e.session}\t${e.seq}\t${e.at}\t${e.type}\t${e.prev}\t${e.hash}\t${e.data}\n`).join('');
fs.writeFileSync('/tmp/mv.journal', jtext);
const variant = process.argv[2];
const p = '/tmp/mvb.db'; for (const s of ['', '-wal', '-shm']) fs.rmSync(p + s, { force: true });
const db = new D(p); db.pragma('journal_mode = WAL'); db.pragma('synchronous = NORMAL'); db.pragma('foreign_keys = ' + (variant.includes('nofk') ? 'OFF' : 'ON'));
db.exec(`CREATE TABLE sessions (id TEXT PRIMARY KEY, connection TEXT NOT NULL, protocol TEXT NOT NULL, subject TEXT NOT NULL, actors TEXT NOT NULL, "groups" TEXT NOT NULL, via TEXT NOT NULL, client TEXT NOT NULL, started_at TEXT NOT NULL, ended_at TEXT, end_reason TEXT);
CREATE TABLE events (session TEXT NOT NULL REFERENCES sessions(id), seq INTEGER NOT NULL, at TEXT NOT NULL, type TEXT NOT NULL, data TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (session, seq))` + (variant.includes('wor') ? ' WITHOUT ROWID' : ''));
const ins = db.prepare('insert into sessions values (@id,@connection,@protocol,@subject,@actors,@groups,@via,@client,@started_at,@ended_at,@end_reason)');
for (const s of sessions) ins.run(s);
const insert = db.prepare('INSERT OR IGNORE INTO events (session, seq, at, type, data, prev, hash) VALUES (?, ?, ?, ?, ?, ?, ?)');
const move = db.transaction((text) => {
  let start = 0;
  for (;;) {
    const end = text.indexOf('\n', start);
    if (end < 0) break;
    if (variant.includes('fastsplit')) {
      const a = text.indexOf('\t', start), b = text.indexOf('\t', a + 1), c = text.indexOf('\t', b + 1), d = text.indexOf('\t', c + 1), e = text.indexOf('\t', d + 1), f = text.indexOf('\t', e + 1);
      insert.run(text.slice(start, a), +text.slice(a + 1, b), text.slice(b + 1, c), text.slice(c + 1, d), text.slice(f + 1, end), text.slice(d + 1, e), text.slice(e + 1, f));
    } else {
    const f = text.slice(start, end).split('\t');
    insert.run(f[0], Number(f[1]), f[2], f[3], f.slice(6).join('\t'), f[4], f[5]);
    }
    start = end + 1;
  }
});
const journal = fs.openSync('/tmp/mv.journal', 'r');
function read(from, to) { const buf = Buffer.allocUnsafe(to - from); let off = 0; while (off < buf.length) off += fs.readSync(journal, buf, off, buf.length - off, from + off); return buf.toString('utf8'); }
// batches of ~1300 events by byte offsets on line boundaries
const offs = [0]; let n = 0; for (let i = 0; i < jtext.length; i++) if (jtext.charCodeAt(i) === 10 && ++n % 1300 === 0) offs.push(Buffer.byteLength(jtext.slice(0, i + 1)));
offs.push(Buffer.byteLength(jtext));
const c0 = process.cpuUsage();
for (let i = 0; i + 1 < offs.length; i++) move(read(offs[i], offs[i + 1]));
const c = process.cpuUsage(c0);
console.log(variant.padEnd(24), 'µs/event usr', (c.user / rows.length).toFixed(2), 'sys', (c.system / rows.length).toFixed(2), 'total', ((c.user + c.system) / rows.length).toFixed(2), db.prepare('select count(*) n from events').get().n);
