import { it } from 'vitest'
import pg from 'pg'
import net from 'node:net'
import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { startDemoTarget } from './target.js'
const ef = promisify(execFile)
it('scratch', async () => {
  const t = await startDemoTarget({ port: 0, onLog: (m) => console.log('L', m), lockTimeoutMs: 3000 })
  const env = { ...process.env, PGSSLMODE: 'disable' }
  const psql = (sql: string, extra: string[] = []) => ef('/usr/bin/psql', ['-XAt', '-v', 'ON_ERROR_STOP=1', t.url, ...extra, '-c', sql], { env, timeout: 10000 }).then(r => r.stdout.trim(), e => 'ERR ' + e.stderr.trim())
  // interleaving stress: 4 clients x 50 param queries
  const clients = await Promise.all([1,2,3,4].map(async () => { const c = new pg.Client({ connectionString: t.url }); await c.connect(); return c }))
  let bad = 0
  await Promise.all(clients.map(async (c, ci) => {
    for (let i = 0; i < 50; i++) {
      const r = await c.query('select $1::int as v, (select email from customers where id = $2) as e', [ci * 1000 + i, (i % 50) + 1])
      if (r.rows[0].v !== ci * 1000 + i) bad++
    }
  }))
  console.log('bad', bad)
  // named prepared statements from two clients
  const r1 = await Promise.all(clients.slice(0, 2).map(c => c.query({ name: 'q1', text: 'select $1::text as x', values: ['hi'] }).then(r => r.rows, e => e.message)))
  console.log('named', r1)
  // error in extended protocol on one while another runs
  const r2 = await Promise.all([clients[0].query('select $1::int/0', [1]).catch(e => e.message), clients[1].query('select $1::int + 1 as y', [1]).then(r => r.rows)])
  console.log('err+ok', r2)
  // set leaks across live sessions, reset after last disconnect
  await clients[0].query("set application_name = 'leaky'")
  console.log('shared', (await clients[1].query('show application_name')).rows)
  // disconnect mid transaction -> rollback
  await clients[2].query('begin'); await clients[2].query('delete from support_tickets')
  clients[2].end()
  console.log('after abandon', (await clients[3].query('select count(*) from support_tickets')).rows)
  await Promise.all(clients.filter((_, i) => i !== 2).map(c => c.end()))
  await new Promise(r => setTimeout(r, 100))
  console.log('fresh', await psql('show application_name'))
  console.log('psql seq', await psql('select count(*) from orders'), await psql('select count(*) from orders'))
  console.log('wrongdb', await ef('/usr/bin/psql', ['-XAt', `postgres://postgres@127.0.0.1:${t.port}/shop?sslmode=disable`, '-c', 'select 1'], { env }).catch(e => e.stderr))
  console.log('wronguser', await ef('/usr/bin/psql', ['-XAt', `postgres://alice@127.0.0.1:${t.port}/postgres?sslmode=disable`, '-c', 'select 1'], { env }).catch(e => e.stderr))
  console.log('sslprefer', await ef('/usr/bin/psql', ['-XAt', `postgres://postgres@127.0.0.1:${t.port}/postgres?sslmode=prefer`, '-c', 'select 1'], { env: process.env }).then(r => r.stdout, e => e.stderr))
  console.log('copy', await psql("\\copy (select id, email from customers order by id limit 3) to stdout"))
  console.log('copyin', await ef('/usr/bin/psql', ['-XAt', t.url, '-c', 'create temp table tt(x int)', '-c', '\\copy tt from stdin', '-c', 'select count(*) from tt'], { env, timeout: 8000 }).then(r => r.stdout, e => 'ERR ' + e.stderr + e.message))
  // psql interactive concurrency: A holds a tx, B query waits then runs
  const a = spawn('/usr/bin/psql', ['-XAtq', t.url], { env }); let aout = ''; a.stdout.on('data', d => aout += d); a.stderr.on('data', d => aout += d)
  a.stdin.write('begin;\nupdate products set stock = 0 where id = 2;\nselect 1;\n')
  await new Promise(r => setTimeout(r, 500))
  const bp = psql('select stock from products where id = 2'); const tb = Date.now()
  await new Promise(r => setTimeout(r, 800))
  a.stdin.write('commit;\n\\q\n')
  console.log('B waited', await bp, Date.now() - tb, 'A said', JSON.stringify(aout))
  // cancel: pg_sleep then cancel via pg (sends CancelRequest)
  const c = new pg.Client({ connectionString: t.url }); await c.connect()
  const tc = Date.now()
  const s = c.query('select pg_sleep(1.5)').then(() => 'done', e => e.message)
  await new Promise(r => setTimeout(r, 200))
  ;(c as any).connection.stream.emit // no-op
  const cancelSock = net.connect(t.port, '127.0.0.1'); const buf = Buffer.alloc(16); buf.writeInt32BE(16, 0); buf.writeInt32BE(80877102, 4); cancelSock.write(buf)
  cancelSock.on('close', () => console.log('cancel sock closed', Date.now() - tc))
  console.log('sleep', await s, Date.now() - tc)
  await c.end()
  // close frees port; live client gets FATAL
  const d = new pg.Client({ connectionString: t.url }); await d.connect(); d.on('error', e => console.log('d error event', e.message))
  const tcl = Date.now(); await t.close(); console.log('closed in', Date.now() - tcl)
  const srv = net.createServer(); await new Promise<void>((res, rej) => { srv.once('error', rej); srv.listen(t.port, '127.0.0.1', () => res()) }); srv.close(); console.log('port free')
  console.log('after close', await d.query('select 1').catch(e => e.message))
}, 60000)
