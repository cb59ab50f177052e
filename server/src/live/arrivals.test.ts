import { describe, expect, it } from 'vitest'
import { createArrivals } from './arrivals.js'

describe('waiting for a unit to arrive', () => {
  it('wakes every request waiting for a unit when it arrives, and only those', async () => {
    const arrivals = createArrivals()
    const first = arrivals.wait('a', 60_000)
    const second = arrivals.wait('a', 60_000)
    const other = arrivals.wait('b', 50)
    arrivals.arrived(['a', 'c'])
    expect(await Promise.all([first, second])).toEqual([true, true])
    expect(await other).toBe(false) // its own time ran out
  })

  it('answers at once when asked not to wait, when too many wait already, and when closed', async () => {
    const arrivals = createArrivals({ maxWaiting: 1 })
    expect(await arrivals.wait('a', 0)).toBe(false)
    const waiting = arrivals.wait('a', 60_000)
    expect(await arrivals.wait('b', 60_000)).toBe(false)
    const client = new AbortController()
    const leaving = createArrivals().wait('c', 60_000, client.signal)
    client.abort()
    expect(await leaving).toBe(false)
    arrivals.close()
    expect(await waiting).toBe(false)
    expect(arrivals.waiting()).toBe(0)
    expect(await arrivals.wait('b', 60_000)).toBe(false) // closed: no new waits
  })

  it('frees the place of a request as soon as it stops waiting', async () => {
    const arrivals = createArrivals({ maxWaiting: 1 })
    const client = new AbortController()
    const first = arrivals.wait('a', 60_000, client.signal)
    expect(arrivals.waiting()).toBe(1)
    client.abort()
    expect(await first).toBe(false)
    const again = arrivals.wait('b', 60_000)
    arrivals.arrived(['b'])
    expect(await again).toBe(true)
    expect(arrivals.waiting()).toBe(0)
  })
})
