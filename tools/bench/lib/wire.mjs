// A deliberately minimal PostgreSQL wire client for the large-result benchmark.
//
// It speaks just enough of the protocol (startup, trust / cleartext / MD5
// authentication, simple Query) to stream a result set and *count* DataRow
// messages without decoding them, so the client spends as little CPU as
// possible on a 2-core machine where it competes with the gateway and
// PostgreSQL. Memory stays flat: every complete message is dropped as soon as
// it is counted; only a partial trailing message is carried over.
import net from 'node:net';
import { createHash } from 'node:crypto';

const PROTOCOL_3_0 = 196608;

function cstr(s) {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

function message(type, body) {
  const head = Buffer.alloc(5);
  head[0] = type.charCodeAt(0);
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** Fields of an ErrorResponse / NoticeResponse body. */
function parseFields(body) {
  const out = {};
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const code = String.fromCharCode(body[i]);
    const end = body.indexOf(0, i + 1);
    out[code] = body.toString('utf8', i + 1, end);
    i = end + 1;
  }
  return out;
}

function errorFrom(fields) {
  const e = new Error(`${fields.S ?? 'ERROR'} ${fields.C ?? ''}: ${fields.M ?? '(no message)'}${fields.D ? ` (${fields.D})` : ''}`);
  e.fields = fields;
  return e;
}

/** Text-format columns of one DataRow body (only used for a sample row). */
export function decodeDataRow(body) {
  const n = body.readInt16BE(0);
  const cols = [];
  let o = 2;
  for (let i = 0; i < n; i++) {
    const len = body.readInt32BE(o);
    o += 4;
    if (len < 0) cols.push(null);
    else {
      cols.push(body.toString('utf8', o, o + len));
      o += len;
    }
  }
  return cols;
}

export class WireClient {
  /**
   * @param {{host: string, port: number, user: string, database: string, password?: string, timeoutMs?: number}} opts
   */
  static connect(opts) {
    const c = new WireClient(opts);
    return c._start().then(() => c);
  }

  constructor(opts) {
    this.opts = opts;
    this.sock = null;
    this.carry = null; // partial message from the previous chunk
    this.handler = null; // (type, body) => void for the current phase
    this.failure = null;
    this.params = {};
  }

  _start() {
    const { host, port, user, database, password, timeoutMs = 15000 } = this.opts;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`connect to ${host}:${port} timed out after ${timeoutMs} ms`));
        this.sock?.destroy();
      }, timeoutMs);
      const fail = (e) => {
        clearTimeout(timer);
        this.sock?.destroy();
        reject(e);
      };
      this.onFailure = fail;
      this.sock = net.connect({ host, port, noDelay: true });
      this.sock.on('error', (e) => this._fail(e));
      this.sock.on('close', () => this._fail(new Error(`connection to ${host}:${port} closed by the server`)));
      this.sock.on('data', (chunk) => this._onData(chunk));
      this.handler = (type, body) => {
        switch (type) {
          case 'R': {
            const code = body.readInt32BE(0);
            if (code === 0) return; // AuthenticationOk
            if (code === 3) return void this.sock.write(message('p', cstr(password ?? '')));
            if (code === 5) {
              const inner = createHash('md5').update((password ?? '') + user).digest('hex');
              const outer = createHash('md5').update(inner).update(body.subarray(4, 8)).digest('hex');
              return void this.sock.write(message('p', cstr('md5' + outer)));
            }
            return fail(new Error(`unsupported authentication request ${code} (the bench client does trust, cleartext and md5)`));
          }
          case 'S': {
            const a = body.indexOf(0);
            this.params[body.toString('utf8', 0, a)] = body.toString('utf8', a + 1, body.indexOf(0, a + 1));
            return;
          }
          case 'K':
          case 'N':
            return;
          case 'E':
            return fail(errorFrom(parseFields(body)));
          case 'Z':
            clearTimeout(timer);
            this.handler = null;
            this.onFailure = null;
            return resolve();
          default:
            return fail(new Error(`unexpected message '${type}' during start-up`));
        }
      };
      const body = Buffer.concat([
        (() => {
          const b = Buffer.alloc(4);
          b.writeInt32BE(PROTOCOL_3_0);
          return b;
        })(),
        cstr('user'),
        cstr(user),
        cstr('database'),
        cstr(database),
        cstr('application_name'),
        cstr('sluice-bench'),
        Buffer.from([0]),
      ]);
      const len = Buffer.alloc(4);
      len.writeInt32BE(body.length + 4);
      this.sock.write(Buffer.concat([len, body]));
    });
  }

  _fail(e) {
    if (this.failure) return;
    this.failure = e;
    const h = this.onFailure;
    this.onFailure = null;
    if (h) h(e);
  }

  _onData(chunk) {
    let buf = chunk;
    if (this.carry) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = null;
    }
    let o = 0;
    const n = buf.length;
    while (n - o >= 5) {
      const len = buf.readInt32BE(o + 1);
      if (n - o < len + 1) break;
      const type = String.fromCharCode(buf[o]);
      const h = this.handler;
      if (h) h(type, buf.subarray(o + 5, o + 1 + len));
      o += len + 1;
    }
    if (o < n) this.carry = Buffer.from(buf.subarray(o)); // copy: don't pin the whole chunk
  }

  /**
   * Runs one simple-protocol query and streams the result, counting rows.
   * @returns {Promise<{rows: number, bytes: number, ms: number, firstRow: (string|null)[] | null, command: string|null, notices: object[]}>}
   */
  query(sql, timeoutMs = 0) {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject_) => {
      const timer = timeoutMs
        ? setTimeout(() => {
            this._fail(new Error(`query did not finish within ${timeoutMs / 1000} s (${rows} rows received so far)`));
            this.sock.destroy();
          }, timeoutMs)
        : null;
      const reject = (e) => {
        clearTimeout(timer);
        reject_(e);
      };
      let rows = 0;
      let bytes = 0;
      let firstRow = null;
      let command = null;
      let error = null;
      const notices = [];
      this.onFailure = reject;
      const t0 = process.hrtime.bigint();
      this.handler = (type, body) => {
        if (type === 'D') {
          if (rows === 0) firstRow = decodeDataRow(body);
          rows++;
          bytes += body.length + 5;
          return;
        }
        switch (type) {
          case 'T':
          case 'I':
          case 'S':
            return;
          case 'C':
            command = body.toString('utf8', 0, body.length - 1);
            return;
          case 'N':
            notices.push(parseFields(body));
            return;
          case 'E':
            error = errorFrom(parseFields(body));
            return;
          case 'Z': {
            const ms = Number(process.hrtime.bigint() - t0) / 1e6;
            this.handler = null;
            this.onFailure = null;
            clearTimeout(timer);
            if (error) return reject(error);
            return resolve({ rows, bytes, ms, firstRow, command, notices });
          }
          default:
            return; // ignore anything else (e.g. ParameterStatus)
        }
      };
      this.sock.write(message('Q', cstr(sql)));
    });
  }

  close() {
    if (!this.sock) return;
    try {
      this.sock.end(message('X', Buffer.alloc(0)));
    } catch {
      /* gone */
    }
    this.sock.destroy();
  }
}
