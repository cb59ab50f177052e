/** Literal analysed units for the CI gate's unit tests: just enough of a `Unit` to be checked. @module */
import type { AnalysedQuery, Finding, FindingKind, Frame, Unit, UnitKind } from '../../server/src/protocol.js'

export const AUTHOR_BY_ID = 'select "shop_author"."id", "shop_author"."name" from "shop_author" where "shop_author"."id" = ? limit ?'
export const BOOKS = 'select "shop_book"."id", "shop_book"."title", "shop_book"."author_id" from "shop_book"'
export const REVIEWS_OF_BOOK = 'select "shop_review"."id" from "shop_review" where "shop_review"."book_id" = ?'

/** A stable fake fingerprint id for a normalized SQL text (16 hex digits). */
export function fp(sql: string): string {
  let hash = 0n
  for (const char of sql) hash = (hash * 131n + BigInt(char.codePointAt(0)!)) % 2n ** 64n
  return hash.toString(16).padStart(16, '0')
}

export const site = (file: string, line: number, fn = 'view'): Frame => ({ file, line, function: fn })

export interface QuerySpec {
  sql: string
  /** Where the app ran it; null: no frame of the app's (the test framework's query). */
  at?: Frame | null
}

export function query({ sql, at = site('shop/views.py', 10) }: QuerySpec): AnalysedQuery {
  return {
    sql,
    params: [],
    db: 'default',
    vendor: 'sqlite',
    start_ms: 0,
    duration_ms: 1,
    many: false,
    error: null,
    callsite: at,
    stack: at ? [at, site('shop/urls_helpers.py', 3, 'dispatch')] : [],
    fingerprint: fp(sql),
  }
}

export interface UnitSpec {
  kind?: UnitKind
  name?: string
  method?: string | null
  route?: string | null
  status?: number | null
  meta?: Record<string, unknown>
  queries?: QuerySpec[]
  findings?: Partial<Finding>[]
  id?: string
  started_at?: number
}

let counter = 0

export function unit({
  kind = 'test',
  name = 'tests/test_books.py::test_list',
  method = null,
  route = null,
  status,
  meta = {},
  queries = [],
  findings = [],
  id = `unit-${++counter}`,
  started_at = 1_763_800_000_000 + counter,
}: UnitSpec = {}): Unit {
  const analysed = queries.map(query)
  return {
    id,
    kind,
    name,
    method,
    path: null,
    route,
    status: status !== undefined ? status : kind === 'request' ? 200 : null,
    started_at,
    duration_ms: 10,
    app: 'shop',
    view: null,
    meta,
    dropped_queries: 0,
    framework: 'django',
    queries: analysed,
    fingerprints: Object.fromEntries(analysed.map((q) => [q.fingerprint, q.sql])),
    findings: findings.map((f) => finding(f.kind ?? 'n_plus_one', f)),
    summary: { queries: analysed.length, db_ms: analysed.length, duplicates: 0, n_plus_one: 0, findings: findings.length, severity: null },
  }
}

export function finding(kind: FindingKind, overrides: Partial<Finding> = {}): Finding {
  const sql = overrides.sql ?? AUTHOR_BY_ID
  return {
    kind,
    severity: 'warning',
    fingerprint: fp(sql),
    sql,
    count: 3,
    wasted_ms: 2,
    query_indexes: [1, 2, 3],
    callsite: site('shop/views.py', 14, 'book_list'),
    template: null,
    trigger_index: 0,
    suggestion: { text: 'Add .select_related("author") to the queryset iterated at shop/views.py:12', code: 'Book.objects.select_related("author")' },
    ...overrides,
  }
}

/** A unit that ran BOOKS once then AUTHOR_BY_ID `n` times, with the matching N+1 finding. */
export function nPlusOneUnit(spec: UnitSpec & { n?: number } = {}): Unit {
  const n = spec.n ?? 3
  const queries = [{ sql: BOOKS }, ...Array.from({ length: n }, () => ({ sql: AUTHOR_BY_ID, at: site('shop/views.py', 14, 'book_list') }))]
  return unit({
    ...spec,
    queries,
    findings: [{ kind: 'n_plus_one', count: n, query_indexes: Array.from({ length: n }, (_, i) => i + 1) }, ...(spec.findings ?? [])],
  })
}
