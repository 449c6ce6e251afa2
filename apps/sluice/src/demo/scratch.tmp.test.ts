import { it } from 'vitest'
import pg from 'pg'
import { startDemoTarget } from './target.js'
it('scratch', async () => {
  const t = await startDemoTarget({ port: 0, onProgress: (m) => console.log('P', m), onLog: (m) => console.log('L', m), lockTimeoutMs: 3000 })
  console.log(t.url)
  const a = new pg.Client({ connectionString: t.url }); await a.connect()
  const b = new pg.Client({ connectionString: t.url }); await b.connect()
  console.log((await a.query('select count(*) from customers')).rows, (await b.query('select $1::int + 1 as x', [41])).rows)
  await a.query('begin'); await a.query('update products set stock = stock + 1 where id = 1')
  const t1 = Date.now()
  const pb = b.query('select stock from products where id = 1').then(r => ['ok', r.rows, Date.now() - t1], e => ['err', e.message, e.code, e.detail, Date.now() - t1])
  await new Promise(r => setTimeout(r, 500))
  await a.query('commit')
  console.log(await pb)
  await a.query('begin')
  console.log(await b.query('select 1').then(r => r.rows, e => [e.message, e.code, e.detail, e.hint]))
  console.log((await b.query('select 2 as two')).rows.length === 0 ? '' : 'b ok after error')
  await a.query('rollback')
  console.log((await b.query('select 2 as two')).rows)
  await a.end(); await b.end()
  await t.close()
}, 30000)
