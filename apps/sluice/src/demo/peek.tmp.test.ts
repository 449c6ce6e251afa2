import { it } from 'vitest'
import { generateDemoData, demoSeedSql } from './seed.js'
it('peek', () => {
  const d = generateDemoData()
  console.log(d.customers.slice(0, 6))
  console.log(d.paymentMethods.slice(0, 8))
  console.log(d.orders.slice(0, 3), d.orders.at(-1))
  for (const t of d.supportTickets.slice(0, 14)) console.log(t.subject, '|', t.body)
  console.log(Object.fromEntries(Object.entries(d).map(([k, v]) => [k, v.length])))
  console.log(d.customers.filter(c => c.country === 'US').length, d.customers.filter(c => c.country === 'GB').length, demoSeedSql().length)
  const per = new Map<number, number>(); for (const o of d.orders) per.set(o.customerId, (per.get(o.customerId) ?? 0) + 1)
  console.log('customers with orders', per.size, 'max', Math.max(...per.values()))
})
