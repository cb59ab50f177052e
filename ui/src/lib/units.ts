/** The live list's data: merging what arrives, filtering what is shown, and the filter's place in the URL. @module */
import type { UnitKind, UnitSummary } from '../../../server/src/protocol.js'
import { REQUEST_METHOD, UNIT_KINDS } from '../../../server/src/protocol.js'

export interface UnitFilter {
  /** Free text, matched case-insensitively against name, path, route and status. */
  q: string
  kind: UnitKind | ''
  route: string
  /** The request method (`GET`), '' for any: a route's GET and HEAD units are two rows of the routes page. */
  method: string
  /** Only units with at least one finding. */
  findings: boolean
}

export const EMPTY_FILTER: UnitFilter = { q: '', kind: '', route: '', method: '', findings: false }

/** Newest first; equal start times keep a stable order by id. */
export function compareNewestFirst(a: UnitSummary, b: UnitSummary): number {
  return b.started_at - a.started_at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)
}

/**
 * Adds `incoming` to `current` (already newest first), each unit once, keeping at most `cap` of the newest.
 * A unit that arrives again replaces the old copy. Returns `current` itself when nothing changed.
 */
export function mergeUnits(current: UnitSummary[], incoming: UnitSummary[], cap = 5000): UnitSummary[] {
  if (incoming.length === 0) return current
  const byId = new Map<string, UnitSummary>()
  for (const unit of current) byId.set(unit.id, unit)
  let changed = false
  for (const unit of incoming) {
    if (byId.get(unit.id) !== unit) changed = true
    byId.set(unit.id, unit)
  }
  if (!changed) return current
  const merged = [...byId.values()].sort(compareNewestFirst)
  return merged.length > cap ? merged.slice(0, cap) : merged
}

export function hasFindings(unit: UnitSummary): boolean {
  return unit.summary.findings > 0
}

export function matchesFilter(unit: UnitSummary, filter: UnitFilter): boolean {
  if (filter.kind && unit.kind !== filter.kind) return false
  if (filter.route && (unit.route ?? unit.name) !== filter.route) return false // (a unit with no pattern: by its name, as the routes list it)
  if (filter.method && unit.method !== filter.method) return false
  if (filter.findings && !hasFindings(unit)) return false
  const q = filter.q.trim().toLowerCase()
  if (!q) return true
  const haystack = `${unit.name}\n${unit.path ?? ''}\n${unit.route ?? ''}\n${unit.method ?? ''}\n${unit.status ?? ''}\n${unit.app}`
  return q.split(/\s+/).every((word) => haystack.toLowerCase().includes(word))
}

export function filterUnits(units: UnitSummary[], filter: UnitFilter): UnitSummary[] {
  if (isEmptyFilter(filter)) return units
  return units.filter((unit) => matchesFilter(unit, filter))
}

export function isEmptyFilter(filter: UnitFilter): boolean {
  return !filter.q.trim() && !filter.kind && !filter.route && !filter.method && !filter.findings
}

/** Reads a filter from the list page's hash query (`#/?q=books&kind=request&route=books/&findings=1`). */
export function filterFromParams(params: URLSearchParams): UnitFilter {
  const kind = params.get('kind') ?? ''
  return {
    q: params.get('q') ?? '',
    kind: (UNIT_KINDS as readonly string[]).includes(kind) ? (kind as UnitKind) : '',
    route: params.get('route') ?? '',
    method: REQUEST_METHOD.test(params.get('method') ?? '') ? params.get('method')! : '',
    findings: params.get('findings') === '1',
  }
}

/** The inverse of filterFromParams; empty fields are left out so links stay short. */
export function filterToParams(filter: UnitFilter): URLSearchParams {
  const params = new URLSearchParams()
  if (filter.q) params.set('q', filter.q)
  if (filter.kind) params.set('kind', filter.kind)
  if (filter.route) params.set('route', filter.route)
  if (filter.method) params.set('method', filter.method)
  if (filter.findings) params.set('findings', '1')
  return params
}

/**
 * The query string for `GET /api/v1/units` that asks the server for the units the filter shows. The server filters by
 * one finding kind only, so "with findings only" stays a filter of the page (applied by matchesFilter).
 */
export function filterToApiParams(filter: UnitFilter, { limit = 200, before }: { limit?: number; before?: string | null } = {}): URLSearchParams {
  const params = new URLSearchParams({ limit: String(limit) })
  if (before) params.set('before', before)
  if (filter.kind) params.set('kind', filter.kind)
  if (filter.route) params.set('route', filter.route)
  if (filter.method) params.set('method', filter.method)
  if (filter.q.trim()) params.set('q', filter.q.trim())
  return params
}

/** A choice of the list's route filter: a route pattern, with one method or (`method` '') any. */
export interface RouteChoice {
  route: string
  method: string
  label: string
}

/** The route filter's choices for the units' route patterns, sorted: a route with one method is one choice for any
 * method, labelled with it (`GET books/`: a link naming the route alone finds it); a route with several is one for all
 * of them (`books/ (any method)`) and one for each, which the Routes page's links name. */
export function routesOf(units: UnitSummary[]): RouteChoice[] {
  const methods = new Map<string, Set<string>>()
  for (const unit of units) {
    if (!unit.route) continue
    const known = methods.get(unit.route) ?? new Set<string>()
    methods.set(unit.route, known.add(unit.method ?? ''))
  }
  return [...methods.keys()].sort().flatMap((route) => {
    const used = [...methods.get(route)!].filter(Boolean).sort()
    if (used.length <= 1) return [{ ...routeChoice(route, used[0] ?? ''), method: '' }]
    return [{ route, method: '', label: `${route} (any method)` }, ...used.map((method) => routeChoice(route, method))]
  })
}

/** A choice for a route and method, which a filter may hold though no unit loaded has them (a link). A unit with no
 * URL pattern is listed by its name, which has its method already (`GET /`). */
export function routeChoice(route: string, method: string): RouteChoice {
  if (!route) return { route, method, label: `${method} (any route)` }
  return { route, method, label: method && !route.startsWith(`${method} `) ? `${method} ${route}` : route }
}

/** The value of a route choice in the filter's `<select>` ('' for all routes and methods). */
export const routeChoiceValue = ({ route, method }: Pick<UnitFilter, 'route' | 'method'>): string => (route || method ? JSON.stringify([method, route]) : '')

export function routeChoiceOf(value: string): Pick<UnitFilter, 'route' | 'method'> {
  if (!value) return { route: '', method: '' }
  const [method, route] = JSON.parse(value) as [string, string]
  return { route, method }
}

/** The label of a unit's path column: the request path, else its name. */
export function unitLabel(unit: Pick<UnitSummary, 'kind' | 'name' | 'path' | 'method'>): string {
  if (unit.kind === 'request' && unit.path) return unit.path
  return unit.name
}

/** A CSS class for an HTTP status: ok, redirect, client error, server error. */
export function statusClass(status: number | null): string {
  if (status === null) return 'status--none'
  if (status >= 500) return 'status--5xx'
  if (status >= 400) return 'status--4xx'
  if (status >= 300) return 'status--3xx'
  return 'status--2xx'
}
