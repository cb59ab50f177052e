/** Recorded units: list with filters and a cursor, one unit in full, clear all. @module */
import { Hono } from 'hono'
import { InvalidQueryError, NotFoundError } from '../errors.js'
import type { Arrivals } from '../live/arrivals.js'
import type { Hub } from '../live/hub.js'
import { FINDING_KINDS, REQUEST_METHOD, UNIT_KINDS, type FindingKind, type UnitKind } from '../protocol.js'
import { MAX_PAGE_SIZE, type Store, type UnitQuery } from '../store/store.js'

/** `GET /api/v1/units?limit&before&kind&route&method&q&finding` → a UnitQuery, or a 400 naming the bad parameter. */
export function parseUnitQuery(query: Record<string, string | undefined>): UnitQuery {
  const parsed: UnitQuery = {}
  if (query.limit !== undefined) {
    const limit = Number(query.limit)
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) throw new InvalidQueryError('limit', `must be an integer from 1 to ${MAX_PAGE_SIZE}, got ${JSON.stringify(query.limit)}`)
    parsed.limit = limit
  }
  if (query.kind) {
    if (!UNIT_KINDS.includes(query.kind as UnitKind)) throw new InvalidQueryError('kind', `must be one of ${UNIT_KINDS.join(', ')}, got ${JSON.stringify(query.kind)}`)
    parsed.kind = query.kind as UnitKind
  }
  if (query.finding) {
    if (!FINDING_KINDS.includes(query.finding as FindingKind)) {
      throw new InvalidQueryError('finding', `must be one of ${FINDING_KINDS.join(', ')}, got ${JSON.stringify(query.finding)}`)
    }
    parsed.finding = query.finding as FindingKind
  }
  if (query.before) parsed.before = query.before
  if (query.route) parsed.route = query.route
  if (query.method) {
    if (!REQUEST_METHOD.test(query.method)) throw new InvalidQueryError('method', `must be a request method in capitals (GET, POST...), got ${JSON.stringify(query.method)}`)
    parsed.method = query.method
  }
  if (query.q) {
    if (query.q.length > MAX_SEARCH_LENGTH) throw new InvalidQueryError('q', `must be at most ${MAX_SEARCH_LENGTH} characters, got ${query.q.length}`)
    parsed.q = query.q
  }
  return parsed
}

/** The longest `q` of `GET /api/v1/units`: a search, not a document. */
export const MAX_SEARCH_LENGTH = 500

/** `?queries=none`: the unit without its queries (and their fingerprints' SQL), for a reader that shows its summary and
 * findings alone (the overlay: a page of 10,000 queries is megabytes, in the developer's own page, per call). */
export function parseQueriesOption(queries: string | undefined): boolean {
  if (queries === undefined) return true
  if (queries !== 'none') throw new InvalidQueryError('queries', `must be "none" (the unit without its queries), got ${JSON.stringify(queries)}`)
  return false
}

/** The longest `?wait=` of `GET /api/v1/units/:id`, in milliseconds. */
export const MAX_UNIT_WAIT_MS = 5000

/** `?wait=ms`: how long a read of one unit may wait for it to arrive (0 when not given). */
export function parseWait(wait: string | undefined): number {
  if (wait === undefined) return 0
  const ms = /^\d{1,5}$/.test(wait) ? Number(wait) : NaN
  if (!(ms <= MAX_UNIT_WAIT_MS)) throw new InvalidQueryError('wait', `must be an integer from 0 to ${MAX_UNIT_WAIT_MS} (milliseconds), got ${JSON.stringify(wait)}`)
  return ms
}

export const unitsRoutes = ({ store, hub, arrivals }: { store: Store; hub: Hub; arrivals: Arrivals }) =>
  new Hono()
    .get('/', (c) => c.json(store.listUnits(parseUnitQuery(c.req.query()))))
    .get('/:id', async (c) => {
      const id = c.req.param('id')
      const wait = parseWait(c.req.query('wait'))
      const withQueries = parseQueriesOption(c.req.query('queries'))
      let json = store.getUnitJson(id, { queries: withQueries })
      // Nothing runs between the look-up and the wait's registration, so a batch cannot slip in between.
      if (json === null && (await arrivals.wait(id, wait, c.req.raw.signal))) json = store.getUnitJson(id, { queries: withQueries })
      if (json === null) throw new NotFoundError(`no unit ${c.req.param('id')}; it may have been removed by retention (--max-units) or a clear`)
      return c.body(`{"unit":${json}}`, 200, { 'Content-Type': 'application/json' })
    })
    .delete('/', (c) => {
      store.clear()
      hub.publishCleared()
      return c.json({ ok: true, units: 0 })
    })
