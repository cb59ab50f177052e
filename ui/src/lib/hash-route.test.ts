import { describe, expect, it } from 'vitest'
import { EMPTY_FILTER } from './units.js'
import { fingerprintHref, hrefOf, listHref, parseHash, unitHref, type Route } from './hash-route.js'

describe('parseHash', () => {
  it('opens the live list for an empty or root hash', () => {
    expect(parseHash('')).toEqual({ page: 'list', filter: EMPTY_FILTER })
    expect(parseHash('#/')).toEqual({ page: 'list', filter: EMPTY_FILTER })
  })
  it('reads the list filter from the hash query', () => {
    expect(parseHash('#/?route=books%2F&findings=1')).toEqual({ page: 'list', filter: { ...EMPTY_FILTER, route: 'books/', findings: true } })
  })
  it('reads a unit report with its view and selected query', () => {
    expect(parseHash('#/units/0193a0f2?view=groups&query=12')).toEqual({ page: 'unit', id: '0193a0f2', view: 'groups', query: 11 })
    expect(parseHash('#/units/x?query=0')).toEqual({ page: 'unit', id: 'x', view: 'queries', query: null })
    expect(parseHash('#/units/x?query=-3')).toEqual({ page: 'unit', id: 'x', view: 'queries', query: null })
  })
  it('reads the routes and fingerprint pages', () => {
    expect(parseHash('#/routes')).toEqual({ page: 'routes' })
    expect(parseHash('#/fingerprints/00ff00ff00ff00ff')).toEqual({ page: 'fingerprint', id: '00ff00ff00ff00ff' })
  })
  it('reports anything else as not found', () => {
    expect(parseHash('#/nope/1/2')).toEqual({ page: 'not-found', path: '/nope/1/2' })
  })
})

describe('hrefOf', () => {
  it('round-trips every page', () => {
    const routes: Route[] = [
      { page: 'list', filter: { q: 'a b', kind: 'test', route: 'books/<int:pk>/', method: 'HEAD', findings: true } },
      { page: 'list', filter: EMPTY_FILTER },
      { page: 'unit', id: 'id/with slash', view: 'groups', query: 7 },
      { page: 'unit', id: 'abc', view: 'queries', query: null },
      { page: 'routes' },
      { page: 'fingerprint', id: 'abc' },
    ]
    for (const route of routes) expect(parseHash(hrefOf(route))).toEqual(route)
  })
  it('builds short links', () => {
    expect(listHref()).toBe('#/')
    expect(listHref({ route: 'books/' })).toBe('#/?route=books%2F')
    expect(unitHref('u1')).toBe('#/units/u1')
    expect(unitHref('u1', { query: 3 })).toBe('#/units/u1?query=4') // query #4 of the report
    expect(fingerprintHref('ff')).toBe('#/fingerprints/ff')
  })
})
