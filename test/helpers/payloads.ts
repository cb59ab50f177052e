/** Realistic ingest payloads built in tests: a Django app whose views loop over books and look up authors. @module */
import type { AppInfo, IngestPayload, WireQuery, WireUnit } from '../../server/src/protocol.js'

export const BOOKSHOP: AppInfo = { name: 'bookshop', framework: 'django', framework_version: '5.2.17', host: 'laptop', pid: 4242, origin: 'http://127.0.0.1:8000' }

const VIEW = { file: 'shop/views.py', line: 40, function: 'book_list' }
const LOOP = { file: 'shop/views.py', line: 44, function: 'book_list' }

export const BOOKS_SQL = 'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id" FROM "shop_book" ORDER BY "shop_book"."title" ASC'
export const AUTHOR_SQL = 'SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author" WHERE "shop_author"."id" = %s LIMIT 21'
export const COUNT_SQL = 'SELECT COUNT(*) AS "__count" FROM "shop_book"'

export function query(sql: string, params: WireQuery['params'], { at = 0, site = VIEW, ms = 0.1 } = {}): WireQuery {
  return { sql, params, db: 'default', vendor: 'sqlite', start_ms: at, duration_ms: ms, many: false, error: null, callsite: site, stack: [site] }
}

let counter = 0
/** A unique, valid unit id. */
export const unitId = (prefix = 'unit') => `${prefix}-${process.pid}-${Date.now().toString(36)}-${(counter++).toString(36)}`

/** GET /books/: one list query, `authors` author lookups from one loop (an N+1), and a duplicated count. */
export function bookListUnit({ id = unitId(), authors = 5, startedAt = 1763800000000 + counter, route = 'books/', name = 'GET /books/', kind = 'request' as WireUnit['kind'] } = {}): WireUnit {
  const queries = [query(BOOKS_SQL, [], { at: 0.5 })]
  for (let i = 0; i < authors; i++) queries.push(query(AUTHOR_SQL, [i + 1], { at: 1 + i * 0.2, site: LOOP }))
  queries.push(query(COUNT_SQL, [], { at: 5 }), query(COUNT_SQL, [], { at: 5.5, site: { ...VIEW, line: 52 } }))
  return { id, kind, name, method: 'GET', path: '/books/?page=2', route, view: 'shop.views.book_list', status: 200, started_at: startedAt, duration_ms: 12.5, meta: {}, queries, dropped_queries: 0 }
}

/** A unit without any finding: one query. */
export function quietUnit({ id = unitId(), name = 'GET /health/', route = 'health/', startedAt = 1763800000000 + counter } = {}): WireUnit {
  return { id, kind: 'request', name, method: 'GET', path: `/${route}`, route, view: 'shop.views.health', status: 200, started_at: startedAt, duration_ms: 1, meta: {}, queries: [query('SELECT 1', [])], dropped_queries: 0 }
}

export function payloadOf(units: WireUnit[], { app = BOOKSHOP, schema = null as IngestPayload['schema'] } = {}): IngestPayload {
  return { protocol: 1, agent: { name: 'querysight-python', version: '0.1.0' }, app, ...(schema ? { schema } : {}), units }
}
