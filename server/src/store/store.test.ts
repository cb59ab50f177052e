import Database from 'better-sqlite3'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { AppInfo, Finding, FindingKind, Unit } from '../protocol.js'
import { MIGRATIONS, migrate } from './migrations.js'
import { createStore, type Store } from './store.js'

const APP: AppInfo = { name: 'bookshop', framework: 'django', origin: 'http://127.0.0.1:8000' }
const SITE = { file: 'shop/views.py', line: 44, function: 'book_list' }

function finding(kind: FindingKind, fingerprint = 'aaaaaaaaaaaaaaaa'): Finding {
  return { kind, severity: 'warning', fingerprint, sql: 'select ?', count: 2, wasted_ms: 0.1, query_indexes: [0, 1], callsite: SITE, template: null, trigger_index: null, suggestion: { text: 'fix it', code: null } }
}

/** An analysed unit as analyseUnit returns it, written out literally. */
function unit(id: string, { name = 'GET /books/', route = 'books/' as string | null, kind = 'request' as Unit['kind'], queries = 3, startedAt = 1000, findings = [] as FindingKind[], path = '/books/' } = {}): Unit {
  const fingerprint = route === 'authors/' ? 'bbbbbbbbbbbbbbbb' : 'aaaaaaaaaaaaaaaa'
  return {
    id, kind, name, method: 'GET', path, route, status: 200, started_at: startedAt, duration_ms: 5, app: 'bookshop',
    view: null, meta: {}, dropped_queries: 0, framework: 'django',
    queries: Array.from({ length: queries }, (_, i) => ({
      sql: 'SELECT 1', params: [i], db: 'default', vendor: 'sqlite', start_ms: i, duration_ms: 0.1, many: false, error: null, callsite: SITE, stack: [SITE], fingerprint,
    })),
    fingerprints: { [fingerprint]: 'select ?' },
    findings: findings.map((kind) => finding(kind, fingerprint)),
    summary: {
      queries, db_ms: queries * 0.1, duplicates: findings.filter((k) => k === 'duplicate').length, n_plus_one: findings.filter((k) => k === 'n_plus_one').length,
      findings: findings.length, severity: findings.length ? 'warning' : null,
    },
  }
}

let dir: string
let store: Store
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'qs-store-'))
})
afterEach(() => {
  store?.close()
  rmSync(dir, { recursive: true, force: true })
})
const open = (maxUnits?: number) => (store = createStore({ path: join(dir, 'nested', 'querysight.db'), maxUnits }))

describe('the SQLite store', () => {
  it('creates the database file and its directory, in WAL mode', () => {
    open()
    store.saveBatch({ app: APP, units: [unit('a')] })
    store.close()
    const db = new Database(join(dir, 'nested', 'querysight.db'), { readonly: true })
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal')
    expect(db.pragma('user_version', { simple: true })).toBe(MIGRATIONS.length)
    db.close()
  })

  it('stores a unit once however often it is sent, and counts the resends as duplicates', () => {
    open()
    expect(store.saveBatch({ app: APP, units: [unit('a'), unit('b')] })).toMatchObject({ accepted: 2, duplicates: 0 })
    const again = store.saveBatch({ app: APP, units: [unit('b'), unit('c')] })
    expect(again).toMatchObject({ accepted: 1, duplicates: 1 })
    expect(again.stored.map((s) => s.id)).toEqual(['c'])
    expect(store.countUnits()).toBe(3)
    expect(store.knownIds(['a', 'x', 'c'])).toEqual(new Set(['a', 'c']))
  })

  it('gives back the whole analysed unit it stored', () => {
    open()
    const original = unit('a', { findings: ['n_plus_one', 'duplicate'] })
    store.saveBatch({ app: APP, units: [original] })
    expect(store.getUnit('a')).toEqual(original)
    expect(store.getUnit('missing')).toBeNull()
  })

  it('keeps data and schema version when reopened', () => {
    open()
    store.saveBatch({ app: APP, schema: { models: [] }, units: [unit('a')] })
    store.close()
    open()
    expect(store.countUnits()).toBe(1)
    expect(store.latestSchema('bookshop')).toEqual({ models: [] })
    expect(store.isKnownOrigin('http://127.0.0.1:8000')).toBe(true)
  })

  it('upgrades a database written by an older version without losing its units', () => {
    const file = join(dir, 'old.db')
    const old = new Database(file)
    migrate(old, { migrations: MIGRATIONS.slice(0, 1) })
    old.prepare(`INSERT INTO units (id, app, kind, name, started_at, duration_ms, queries, db_ms, duplicates, n_plus_one, findings,
      has_n_plus_one, has_duplicate, has_repeated_write, has_slow_query, unit_json) VALUES ('old', 'bookshop', 'request', 'GET /old/', 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, ?)`).run(JSON.stringify(unit('old')))
    old.close()
    store = createStore({ path: file })
    expect(store.getUnit('old')?.id).toBe('old')
    store.saveBatch({ app: APP, units: [unit('new')] })
    expect(store.fingerprint('aaaaaaaaaaaaaaaa')?.seen).toHaveLength(1)
  })

  it('refuses a database written by a newer querysight, saying what to do', () => {
    const file = join(dir, 'future.db')
    const db = new Database(file)
    db.pragma(`user_version = ${MIGRATIONS.length + 1}`)
    db.close()
    expect(() => createStore({ path: file })).toThrow(/upgrade querysight or start with --db/)
  })

  it('keeps only the last maxUnits units received, and their fingerprints', () => {
    open(3)
    store.saveBatch({ app: APP, units: [unit('a', { route: 'authors/' }), unit('b')] })
    const result = store.saveBatch({ app: APP, units: [unit('c'), unit('d'), unit('e')] })
    expect(result.stored.map((s) => s.id)).toEqual(['c', 'd', 'e'])
    expect(store.countUnits()).toBe(3)
    expect(store.getUnit('a')).toBeNull()
    expect(store.getUnit('b')).toBeNull()
    expect(store.fingerprint('bbbbbbbbbbbbbbbb')).toBeNull()
    expect(store.listUnits().units.map((s) => s.id).sort()).toEqual(['c', 'd', 'e'])
  })

  it('does not announce units that retention removed within their own batch', () => {
    open(2)
    const result = store.saveBatch({ app: APP, units: [unit('a'), unit('b'), unit('c')] })
    expect(result.accepted).toBe(3)
    expect(result.stored.map((s) => s.id)).toEqual(['b', 'c'])
  })

  it('pages newest first with a cursor until the last page', () => {
    open()
    store.saveBatch({ app: APP, units: Array.from({ length: 7 }, (_, i) => unit(`u${i}`, { startedAt: 1000 + i })) })
    const seen: string[] = []
    let before: string | null = null
    do {
      const page = store.listUnits({ limit: 3, before })
      seen.push(...page.units.map((s) => s.id))
      before = page.next
    } while (before)
    expect(seen).toEqual(['u6', 'u5', 'u4', 'u3', 'u2', 'u1', 'u0'])
  })

  it('pages through units that started at the same moment without losing any', () => {
    open()
    store.saveBatch({ app: APP, units: Array.from({ length: 5 }, (_, i) => unit(`same${i}`, { startedAt: 5000 })) })
    const first = store.listUnits({ limit: 2 })
    const rest = store.listUnits({ limit: 10, before: first.next })
    expect([...first.units, ...rest.units].map((s) => s.id).sort()).toEqual(['same0', 'same1', 'same2', 'same3', 'same4'])
  })

  it('filters by kind, route, text and finding kind', () => {
    open()
    store.saveBatch({
      app: APP,
      units: [
        unit('list', { findings: ['n_plus_one'] }),
        unit('authors', { route: 'authors/', name: 'GET /authors/', path: '/authors/?q=ann', findings: ['duplicate'] }),
        unit('test', { kind: 'test', route: null, name: 'tests/test_api.py::test_list', findings: ['repeated_write'] }),
      ],
    })
    const ids = (query: Parameters<Store['listUnits']>[0]) => store.listUnits(query).units.map((s) => s.id).sort()
    expect(ids({ kind: 'test' })).toEqual(['test'])
    expect(ids({ route: 'authors/' })).toEqual(['authors'])
    // The routes list a unit with no pattern by its name, and link to it so.
    expect(ids({ route: 'tests/test_api.py::test_list' })).toEqual(['test'])
    expect(ids({ q: 'ann' })).toEqual(['authors'])
    expect(ids({ q: 'test_api' })).toEqual(['test'])
    expect(ids({ q: '%' })).toEqual([])
    // Each word somewhere in what the list shows, as the UI filters the units it holds: "GET authors" matched no
    // unit (one substring), and units not loaded yet were never found (a probe).
    expect(ids({ q: 'GET ann' })).toEqual(['authors'])
    expect(ids({ q: '  authors/   200 ' })).toEqual(['authors'])
    expect(ids({ q: 'POST test_api' })).toEqual([])
    expect(ids({ finding: 'n_plus_one' })).toEqual(['list'])
    // Each unit says the kinds of its findings, for a list to badge them all (not only its N+1s and duplicates).
    const kinds = Object.fromEntries(store.listUnits({}).units.map((u) => [u.id, u.summary.kinds]))
    expect(kinds).toEqual({ list: ['n_plus_one'], authors: ['duplicate'], test: ['repeated_write'] })
    expect(ids({ finding: 'slow_query' })).toEqual([])
  })

  it('rejects a cursor it did not make', () => {
    open()
    expect(() => store.listUnits({ before: "1'; DROP TABLE units" })).toThrow(/not a cursor/)
  })

  it('aggregates units per route with query-count percentiles and recent points', () => {
    open()
    const counts = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 100]
    const findingsOf = (i: number): FindingKind[] => (i === 0 ? ['n_plus_one', 'duplicate'] : i === 1 ? ['repeated_write', 'slow_query'] : i === 2 ? ['repeated_write'] : [])
    store.saveBatch({ app: APP, units: counts.map((queries, i) => unit(`r${i}`, { queries, startedAt: 2000 + i, findings: findingsOf(i) })) })
    store.saveBatch({ app: APP, units: [unit('other', { route: 'authors/', startedAt: 1 })] })
    const [books, authors] = store.routes()
    expect(books).toMatchObject({
      route: 'books/',
      kind: 'request',
      method: 'GET',
      units: 20,
      queries_p50: 10,
      queries_p95: 19,
      queries_max: 100,
      n_plus_one: 1,
      duplicates: 1,
      repeated_writes: 2,
      slow_queries: 1,
      last_seen: 2019,
    })
    expect(books.recent.at(-1)).toEqual({ id: 'r19', started_at: 2019, queries: 100 })
    expect(authors).toMatchObject({ route: 'authors/', units: 1, n_plus_one: 0, duplicates: 0, repeated_writes: 0, slow_queries: 0 })
  })

  it('indexes fingerprints with the places they were seen', () => {
    open()
    store.saveBatch({ app: APP, units: [unit('a', { queries: 4, startedAt: 10 }), unit('b', { queries: 2, startedAt: 20 })] })
    expect(store.fingerprint('aaaaaaaaaaaaaaaa')).toEqual({
      id: 'aaaaaaaaaaaaaaaa',
      sql: 'select ?',
      seen: [{ unit_name: 'GET /books/', route: 'books/', callsite: SITE, units: 2, queries: 6, last_seen: 20 }],
      places: 1,
      queries: 6,
    })
  })

  it('counts every place and query of a fingerprint beside the most recent places it lists', () => {
    // The page listed the last 200 places and summed "queries seen" over them alone (a probe).
    open()
    const named = Array.from({ length: 205 }, (_, i) => unit(`u${i}`, { name: `GET /p${i}/`, route: `p${i}/`, queries: 2, startedAt: 100 + i }))
    store.saveBatch({ app: APP, units: named })
    const info = store.fingerprint('aaaaaaaaaaaaaaaa')!
    expect(info.seen).toHaveLength(200)
    expect([info.places, info.queries]).toEqual([205, 410])
  })

  it('clears every unit but remembers schemas and origins', () => {
    open()
    store.saveBatch({ app: APP, schema: { models: [] }, units: [unit('a')] })
    store.clear()
    expect(store.countUnits()).toBe(0)
    expect(store.listUnits().units).toEqual([])
    expect(store.fingerprint('aaaaaaaaaaaaaaaa')).toBeNull()
    expect(store.latestSchema('bookshop')).toEqual({ models: [] })
    expect(store.isKnownOrigin('http://127.0.0.1:8000')).toBe(true)
  })

  it('says how to fix a database it cannot open', () => {
    const file = join(dir, 'not-a-db')
    writeFileSync(file, 'this is not SQLite, just text that is long enough to look like a header'.repeat(100))
    expect(() => createStore({ path: file })).toThrow(/cannot open the database .*not-a-db.*--db :memory:/)
  })

  it('keeps the latest schema of each app, and the previous one when a batch sends none', () => {
    open()
    const first = { models: [{ model: 'shop.Book', table: 'shop_book', pk: 'id', relations: [] }] }
    store.saveBatch({ app: APP, schema: first, units: [] })
    store.saveBatch({ app: APP, units: [] })
    expect(store.latestSchema('bookshop')).toEqual(first)
    expect(store.latestSchema('other')).toBeNull()
  })
})
