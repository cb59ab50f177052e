import { describe, expect, it } from 'vitest'
import type { UnitSummary } from '../../../server/src/protocol.js'
import { EMPTY_FILTER, filterFromParams, filterToApiParams, filterToParams, filterUnits, mergeUnits, routeChoice, routeChoiceOf, routeChoiceValue, routesOf, statusClass, unitLabel } from './units.js'

function unit(id: string, started_at: number, over: Partial<UnitSummary> = {}): UnitSummary {
  return {
    id, kind: 'request', name: `GET /books/${id}/`, method: 'GET', path: `/books/${id}/?page=2`, route: 'books/<int:pk>/',
    status: 200, started_at, duration_ms: 12, app: 'bookshop',
    summary: { queries: 3, db_ms: 1, duplicates: 0, n_plus_one: 0, findings: 0, severity: null },
    ...over,
  }
}

describe('mergeUnits', () => {
  it('keeps units newest first and each one once', () => {
    const merged = mergeUnits([unit('b', 20), unit('a', 10)], [unit('c', 30), unit('a', 10), unit('d', 15)])
    expect(merged.map((u) => u.id)).toEqual(['c', 'b', 'd', 'a'])
  })
  it('keeps only the newest units past the cap', () => {
    const merged = mergeUnits([], [unit('a', 1), unit('b', 2), unit('c', 3)], 2)
    expect(merged.map((u) => u.id)).toEqual(['c', 'b'])
  })
  it('returns the same list when nothing new arrived, so the view does not redraw', () => {
    const a = unit('a', 1)
    const list = [a]
    expect(mergeUnits(list, [a])).toBe(list)
    expect(mergeUnits(list, [])).toBe(list)
  })
})

describe('filterUnits', () => {
  const units = [
    unit('a', 3, { route: 'books/', name: 'GET /books/', path: '/books/' }),
    unit('b', 2, { kind: 'test', name: 'tests/test_api.py::test_list', method: null, path: null, route: null, status: null }),
    unit('c', 1, { summary: { queries: 30, db_ms: 9, duplicates: 2, n_plus_one: 1, findings: 3, severity: 'error' } }),
  ]
  it('shows everything with an empty filter', () => {
    expect(filterUnits(units, EMPTY_FILTER)).toBe(units)
  })
  it('matches every word of the text against name, path and route', () => {
    expect(filterUnits(units, { ...EMPTY_FILTER, q: 'test_api list' }).map((u) => u.id)).toEqual(['b'])
    expect(filterUnits(units, { ...EMPTY_FILTER, q: '/BOOKS/' }).map((u) => u.id)).toEqual(['a', 'c'])
  })
  it('filters by kind, route and findings', () => {
    expect(filterUnits(units, { ...EMPTY_FILTER, kind: 'test' }).map((u) => u.id)).toEqual(['b'])
    expect(filterUnits(units, { ...EMPTY_FILTER, route: 'books/' }).map((u) => u.id)).toEqual(['a'])
    expect(filterUnits(units, { ...EMPTY_FILTER, route: 'tests/test_api.py::test_list' }).map((u) => u.id)).toEqual(['b'])
    expect(filterUnits(units, { ...EMPTY_FILTER, findings: true }).map((u) => u.id)).toEqual(['c'])
  })
  it("filters by method: a route's GET and HEAD units are two rows of the routes page", () => {
    const head = unit('h', 5, { method: 'HEAD', name: 'HEAD /books/h/' })
    expect(filterUnits([...units, head], { ...EMPTY_FILTER, route: 'books/<int:pk>/', method: 'HEAD' }).map((u) => u.id)).toEqual(['h'])
  })
  it('offers each route once, and each of its methods when it has several', () => {
    expect(routesOf(units)).toEqual([
      { route: 'books/', method: '', label: 'GET books/' },
      { route: 'books/<int:pk>/', method: '', label: 'GET books/<int:pk>/' },
    ])
    const head = unit('h', 5, { method: 'HEAD', name: 'HEAD /books/h/' })
    expect(routesOf([...units, head]).filter((choice) => choice.route === 'books/<int:pk>/')).toEqual([
      { route: 'books/<int:pk>/', method: '', label: 'books/<int:pk>/ (any method)' },
      { route: 'books/<int:pk>/', method: 'GET', label: 'GET books/<int:pk>/' },
      { route: 'books/<int:pk>/', method: 'HEAD', label: 'HEAD books/<int:pk>/' },
    ])
    expect(routeChoiceOf(routeChoiceValue({ route: 'books/', method: 'HEAD' }))).toEqual({ route: 'books/', method: 'HEAD' })
    expect(routeChoiceOf(routeChoiceValue(EMPTY_FILTER))).toEqual({ route: '', method: '' })
    // Held by a link though no unit loaded has them: a unit with no pattern by its name, a method alone.
    expect(routeChoice('GET /', 'GET').label).toBe('GET /')
    expect(routeChoice('', 'HEAD')).toEqual({ route: '', method: 'HEAD', label: 'HEAD (any route)' })
    expect(routeChoiceOf(routeChoiceValue({ route: '', method: 'HEAD' }))).toEqual({ route: '', method: 'HEAD' })
  })
})

describe('filter in the URL', () => {
  it('round-trips through the hash query and leaves empty fields out', () => {
    const filter = { q: 'author', kind: 'request' as const, route: 'books/', method: 'HEAD', findings: true }
    const params = filterToParams(filter)
    expect(params.toString()).toBe('q=author&kind=request&route=books%2F&method=HEAD&findings=1')
    expect(filterFromParams(params)).toEqual(filter)
    expect(filterToParams(EMPTY_FILTER).toString()).toBe('')
  })
  it('ignores an unknown kind, and a method not in capitals', () => {
    expect(filterFromParams(new URLSearchParams('kind=banana')).kind).toBe('')
    expect(filterFromParams(new URLSearchParams('method=get')).method).toBe('')
  })
  it('asks the API for the same units', () => {
    expect(filterToApiParams({ ...EMPTY_FILTER, route: 'books/', method: 'GET', findings: true }, { limit: 50, before: 'x' }).toString())
      .toBe('limit=50&before=x&route=books%2F&method=GET')
  })
})

describe('labels', () => {
  it('shows the path for requests and the name for everything else', () => {
    expect(unitLabel(unit('a', 1))).toBe('/books/a/?page=2')
    expect(unitLabel({ kind: 'test', name: 'tests/t.py::x', path: null, method: null })).toBe('tests/t.py::x')
  })
  it('classes statuses by family', () => {
    expect([200, 302, 404, 500, null].map(statusClass)).toEqual(['status--2xx', 'status--3xx', 'status--4xx', 'status--5xx', 'status--none'])
  })
})
