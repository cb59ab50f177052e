import { expect, it } from 'vitest'
import type { UnitSummary, UnitsPage } from '../../server/src/protocol.js'
import type { Api } from './api.js'
import { EMPTY_FILTER } from './lib/units.js'
import { createLiveModel } from './live-model.js'

const unit = (n: number): UnitSummary => ({
  id: `u${n}`,
  kind: 'request',
  name: `GET /books/${n}/`,
  method: 'GET',
  path: `/books/${n}/`,
  route: 'books/<int:pk>/',
  status: 200,
  started_at: 1_763_800_000_000 + n,
  duration_ms: 5,
  app: 'shop',
  summary: { queries: 1, db_ms: 1, duplicates: 0, n_plus_one: 0, findings: 0, severity: null },
})

it('reads on past pages of units it holds already when asked for older ones, to the first page with new ones', async () => {
  // Units 100..51 held (they came live); the server's pages of 10 before u100 are all held until u50.
  const pages: Record<string, UnitsPage> = {}
  for (let top = 99; top > 20; top -= 10) {
    pages[`c${top + 1}`] = { units: Array.from({ length: 10 }, (_, i) => unit(top - i)), next: `c${top - 9}` }
  }
  const asked: string[] = []
  const api = {
    units: async (params: URLSearchParams) => {
      asked.push(params.get('before')!)
      return pages[params.get('before')!]
    },
  } as unknown as Api
  const live = createLiveModel({ api, url: 'ws://127.0.0.1:1/api/v1/live', schedule: (run) => run() })
  live.store.set({ units: Array.from({ length: 50 }, (_, i) => unit(100 - i)), next: 'c100' })

  await live.loadOlder(EMPTY_FILTER)
  // "Load older units" showed nothing new for several clicks (a probe): one click reads to the first new unit.
  expect(asked).toEqual(['c100', 'c90', 'c80', 'c70', 'c60'])
  expect(live.store.get().units.length).toBe(51) // u50 joins the 50 held
  expect(live.store.get().next).toBe('c50')
  expect(live.store.get().loading).toBe(false)
})
