/** The hash router's grammar: every page and its state lives in `location.hash`, so every view is a deep link. @module */
import { EMPTY_FILTER, filterFromParams, filterToParams, type UnitFilter } from './units.js'

export type QueryView = 'queries' | 'groups'

export type Route =
  | { page: 'list'; filter: UnitFilter }
  | { page: 'unit'; id: string; view: QueryView; query: number | null }
  | { page: 'routes' }
  | { page: 'fingerprint'; id: string }
  | { page: 'not-found'; path: string }

/** `#/units/abc?view=groups&query=12` → `{page: 'unit', id: 'abc', view: 'groups', query: 11}`: the link counts queries from
 * 1, as the report numbers them (#12); the route's index is the array's. */
export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#/, '') || '/'
  const questionMark = raw.indexOf('?')
  const path = questionMark === -1 ? raw : raw.slice(0, questionMark)
  const params = new URLSearchParams(questionMark === -1 ? '' : raw.slice(questionMark + 1))
  const parts = path.split('/').filter(Boolean).map(safeDecode)
  if (parts.length === 0) return { page: 'list', filter: filterFromParams(params) }
  if (parts[0] === 'units' && parts.length === 2) {
    const query = Number.parseInt(params.get('query') ?? '', 10)
    return { page: 'unit', id: parts[1], view: params.get('view') === 'groups' ? 'groups' : 'queries', query: Number.isFinite(query) && query >= 1 ? query - 1 : null }
  }
  if (parts[0] === 'routes' && parts.length === 1) return { page: 'routes' }
  if (parts[0] === 'fingerprints' && parts.length === 2) return { page: 'fingerprint', id: parts[1] }
  return { page: 'not-found', path }
}

/** The hash (with `#`) of a route; the inverse of parseHash. */
export function hrefOf(route: Route): string {
  switch (route.page) {
    case 'list': {
      const query = filterToParams(route.filter).toString()
      return query ? `#/?${query}` : '#/'
    }
    case 'unit': {
      const params = new URLSearchParams()
      if (route.view === 'groups') params.set('view', 'groups')
      if (route.query !== null) params.set('query', String(route.query + 1))
      const query = params.toString()
      return `#/units/${encodeURIComponent(route.id)}${query ? `?${query}` : ''}`
    }
    case 'routes':
      return '#/routes'
    case 'fingerprint':
      return `#/fingerprints/${encodeURIComponent(route.id)}`
    case 'not-found':
      return `#${route.path}`
  }
}

export const unitHref = (id: string, { view = 'queries', query = null }: { view?: QueryView; query?: number | null } = {}) =>
  hrefOf({ page: 'unit', id, view, query })
export const fingerprintHref = (id: string) => hrefOf({ page: 'fingerprint', id })
export const listHref = (filter: Partial<UnitFilter> = {}) => hrefOf({ page: 'list', filter: { ...EMPTY_FILTER, ...filter } })

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    return part
  }
}
