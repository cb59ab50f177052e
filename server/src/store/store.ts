/**
 * The SQLite store: analysed units (summary columns + the full unit as JSON), the latest schema per app, the page
 * origins agents report, and a fingerprint index. The only module (with migrations.ts) that touches better-sqlite3.
 * @module
 */
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { DatabaseOpenError, DatabaseVersionError, DatabaseWriteError, InvalidQueryError } from '../errors.js'
import { FINDING_KINDS, type AppInfo, type FindingKind, type FingerprintInfo, type RouteStats, type Schema, type Unit, type UnitKind, type UnitSummary, type UnitsPage } from '../protocol.js'
import { migrate } from './migrations.js'

export interface StoreOptions {
  /** A file path (its directory is created when missing) or ':memory:'. */
  path?: string
  /** Keep at most this many units; the ones received first are removed first. */
  maxUnits?: number
}

export interface UnitQuery {
  limit?: number
  /** The `next` cursor of the previous page. */
  before?: string | null
  kind?: UnitKind | null
  route?: string | null
  /** The request method (`GET`): a route's GET and HEAD units are two rows of the routes. */
  method?: string | null
  /** Text searched in the unit's name and path. */
  q?: string | null
  /** Only units with at least one finding of this kind. */
  finding?: FindingKind | null
}

export interface Batch {
  app: AppInfo
  /** The schema sent with this batch; it becomes the app's latest. */
  schema?: Schema | null
  units: Unit[]
}

export interface SaveResult {
  accepted: number
  duplicates: number
  /** Summaries of the units this batch stored (and retention kept), in batch order, for the live stream. */
  stored: UnitSummary[]
}

export interface Store {
  readonly path: string
  saveBatch(batch: Batch): SaveResult
  /** The ids among `ids` that are already stored (to skip analysing resent units). */
  knownIds(ids: readonly string[]): Set<string>
  latestSchema(app: string): Schema | null
  listUnits(query?: UnitQuery): UnitsPage
  getUnit(id: string): Unit | null
  /** The stored JSON text of a unit, to answer without parsing and re-serializing it; with `queries` false, without
   * its queries and their fingerprints' SQL (SQLite takes them out: a unit of 10,000 queries is megabytes to parse). */
  getUnitJson(id: string, { queries }?: { queries?: boolean }): string | null
  routes(): RouteStats[]
  fingerprint(id: string): FingerprintInfo | null
  countUnits(): number
  isKnownOrigin(origin: string): boolean
  clear(): void
  close(): void
}

export const DEFAULT_MAX_UNITS = 10_000
export const DEFAULT_PAGE_SIZE = 50
/** Words of a search (`q`) a listing matches, each: more are ignored. */
const MAX_SEARCH_WORDS = 8
export const MAX_PAGE_SIZE = 500
const RECENT_POINTS = 50
const MAX_SITES = 200

interface UnitRow {
  seq: number
  id: string
  app: string
  kind: UnitKind
  name: string
  method: string | null
  path: string | null
  route: string | null
  status: number | null
  started_at: number
  duration_ms: number
  queries: number
  db_ms: number
  duplicates: number
  n_plus_one: number
  findings: number
  severity: UnitSummary['summary']['severity']
  has_n_plus_one: number
  has_duplicate: number
  has_repeated_write: number
  has_slow_query: number
}

const SUMMARY_COLUMNS =
  'seq, id, app, kind, name, method, path, route, status, started_at, duration_ms, queries, db_ms, duplicates, n_plus_one, findings, severity, has_n_plus_one, has_duplicate, has_repeated_write, has_slow_query'

const summaryOf = (row: UnitRow): UnitSummary => ({
  id: row.id,
  kind: row.kind,
  name: row.name,
  method: row.method,
  path: row.path,
  route: row.route,
  status: row.status,
  started_at: row.started_at,
  duration_ms: row.duration_ms,
  app: row.app,
  summary: {
    queries: row.queries,
    db_ms: row.db_ms,
    duplicates: row.duplicates,
    n_plus_one: row.n_plus_one,
    findings: row.findings,
    severity: row.severity,
    kinds: FINDING_KINDS.filter((kind) => row[`has_${kind}`] === 1),
  },
})

/** The UnitSummary part of a Unit (what lists and the live socket carry). */
export const toSummary = (unit: Unit): UnitSummary => ({
  id: unit.id,
  kind: unit.kind,
  name: unit.name,
  method: unit.method,
  path: unit.path,
  route: unit.route,
  status: unit.status,
  started_at: unit.started_at,
  duration_ms: unit.duration_ms,
  app: unit.app,
  summary: unit.summary,
})

const CURSOR = /^(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)_(\d+)$/
const encodeCursor = (row: { started_at: number; seq: number }) => `${row.started_at}_${row.seq}`

function decodeCursor(cursor: string): { startedAt: number; seq: number } {
  const match = CURSOR.exec(cursor)
  if (!match) throw new InvalidQueryError('before', `${JSON.stringify(cursor.slice(0, 60))} is not a cursor; pass the "next" value of the previous page`)
  return { startedAt: Number(match[1]), seq: Number(match[2]) }
}

/** Nearest-rank percentile of ascending `sorted`. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]
}

/** SQLite failures the user can fix (full disk, read-only file, I/O error) become a DatabaseWriteError naming the file. */
function writing<T>(path: string, write: () => T): T {
  try {
    return write()
  } catch (err) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && /^SQLITE_(FULL|READONLY|IOERR|CANTOPEN)/.test(code)) throw new DatabaseWriteError(path, code)
    throw err
  }
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (ch) => `\\${ch}`)

function openDatabase(path: string): Database.Database {
  try {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    return new Database(path)
  } catch (err) {
    throw new DatabaseOpenError(path, (err as Error).message)
  }
}

export function createStore({ path = ':memory:', maxUnits = DEFAULT_MAX_UNITS }: StoreOptions = {}): Store {
  if (!Number.isInteger(maxUnits) || maxUnits < 1) throw new RangeError(`maxUnits must be a positive integer, got ${maxUnits}; use --max-units 10000`)
  const db = openDatabase(path)
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.pragma('foreign_keys = ON')
    db.pragma('busy_timeout = 5000')
    migrate(db, { path })
  } catch (err) {
    db.close()
    if (err instanceof DatabaseVersionError) throw err
    throw new DatabaseOpenError(path, (err as Error).message)
  }

  const statements = {
    insertUnit: db.prepare(`INSERT OR IGNORE INTO units (id, app, kind, name, method, path, route, status, started_at, duration_ms,
      queries, db_ms, duplicates, n_plus_one, findings, severity, has_n_plus_one, has_duplicate, has_repeated_write, has_slow_query, unit_json)
      VALUES (@id, @app, @kind, @name, @method, @path, @route, @status, @started_at, @duration_ms,
      @queries, @db_ms, @duplicates, @n_plus_one, @findings, @severity, @has_n_plus_one, @has_duplicate, @has_repeated_write, @has_slow_query, @unit_json)`),
    insertFingerprint: db.prepare('INSERT OR IGNORE INTO fingerprints (id, sql) VALUES (?, ?)'),
    insertSite: db.prepare(
      'INSERT INTO fingerprint_sites (fingerprint, unit_seq, unit_name, route, file, line, function, queries, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    upsertApp: db.prepare(`INSERT INTO apps (name, framework, schema_json, updated_at) VALUES (@name, @framework, @schema_json, @updated_at)
      ON CONFLICT (name) DO UPDATE SET framework = excluded.framework, updated_at = excluded.updated_at,
      schema_json = COALESCE(excluded.schema_json, apps.schema_json)`),
    upsertOrigin: db.prepare(`INSERT INTO origins (origin, app, last_seen) VALUES (?, ?, ?)
      ON CONFLICT (origin) DO UPDATE SET app = excluded.app, last_seen = excluded.last_seen`),
    appSchema: db.prepare<[string], { schema_json: string | null }>('SELECT schema_json FROM apps WHERE name = ?'),
    allOrigins: db.prepare<[], { origin: string }>('SELECT origin FROM origins'),
    unitExists: db.prepare<[string], { one: number }>('SELECT 1 AS one FROM units WHERE id = ?'),
    unitJson: db.prepare<[string], { unit_json: string }>('SELECT unit_json FROM units WHERE id = ?'),
    unitJsonWithoutQueries: db.prepare<[string], { unit_json: string }>(
      "SELECT json_remove(unit_json, '$.queries', '$.fingerprints') AS unit_json FROM units WHERE id = ?",
    ),
    count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM units'),
    retentionCutoff: db.prepare<[number], { seq: number }>('SELECT seq FROM units ORDER BY seq DESC LIMIT 1 OFFSET ?'),
    removeUpTo: db.prepare('DELETE FROM units WHERE seq <= ?'),
    pruneFingerprints: db.prepare('DELETE FROM fingerprints WHERE NOT EXISTS (SELECT 1 FROM fingerprint_sites s WHERE s.fingerprint = fingerprints.id)'),
    routeRows: db.prepare<[], UnitRow>(`SELECT ${SUMMARY_COLUMNS} FROM units ORDER BY started_at, seq`),
    fingerprintSql: db.prepare<[string], { sql: string }>('SELECT sql FROM fingerprints WHERE id = ?'),
    fingerprintSites: db.prepare<[string, number], FingerprintInfo['seen'][number] & { file: string | null; line: number | null; function: string | null }>(
      `SELECT unit_name, route, file, line, function, count(DISTINCT unit_seq) AS units, sum(queries) AS queries, max(started_at) AS last_seen
       FROM fingerprint_sites WHERE fingerprint = ? GROUP BY unit_name, route, file, line, function ORDER BY last_seen DESC LIMIT ?`,
    ),
    fingerprintTotals: db.prepare<[string], { places: number; queries: number | null }>(
      `SELECT count(*) AS places, sum(queries) AS queries FROM (SELECT sum(queries) AS queries FROM fingerprint_sites
       WHERE fingerprint = ? GROUP BY unit_name, route, file, line, function)`,
    ),
    clear: db.transaction(() => {
      db.exec('DELETE FROM fingerprint_sites; DELETE FROM units; DELETE FROM fingerprints;')
    }),
  }
  const listStatements = new Map<string, Database.Statement<unknown[], UnitRow>>()
  const schemas = new Map<string, Schema | null>()
  const origins = new Set(statements.allOrigins.all().map((row) => row.origin))
  let unitCount = statements.count.get()!.n

  const insertUnit = (unit: Unit): number | null => {
    const kinds = new Set(unit.findings.map((finding) => finding.kind))
    const { changes, lastInsertRowid } = statements.insertUnit.run({
      id: unit.id,
      app: unit.app,
      kind: unit.kind,
      name: unit.name,
      method: unit.method,
      path: unit.path,
      route: unit.route,
      status: unit.status,
      started_at: unit.started_at,
      duration_ms: unit.duration_ms,
      queries: unit.summary.queries,
      db_ms: unit.summary.db_ms,
      duplicates: unit.summary.duplicates,
      n_plus_one: unit.summary.n_plus_one,
      findings: unit.summary.findings,
      severity: unit.summary.severity,
      has_n_plus_one: kinds.has('n_plus_one') ? 1 : 0,
      has_duplicate: kinds.has('duplicate') ? 1 : 0,
      has_repeated_write: kinds.has('repeated_write') ? 1 : 0,
      has_slow_query: kinds.has('slow_query') ? 1 : 0,
      unit_json: JSON.stringify(unit),
    })
    if (changes === 0) return null
    const seq = Number(lastInsertRowid)
    for (const [id, sql] of Object.entries(unit.fingerprints)) statements.insertFingerprint.run(id, sql)
    const sites = new Map<string, { fingerprint: string; file: string | null; line: number | null; fn: string | null; queries: number }>()
    for (const query of unit.queries) {
      const site = query.callsite
      const key = `${query.fingerprint}\0${site?.file}\0${site?.line}\0${site?.function}`
      const entry = sites.get(key)
      if (entry) entry.queries++
      else sites.set(key, { fingerprint: query.fingerprint, file: site?.file ?? null, line: site?.line ?? null, fn: site?.function ?? null, queries: 1 })
    }
    for (const site of sites.values()) {
      statements.insertSite.run(site.fingerprint, seq, unit.name, unit.route, site.file, site.line, site.fn, site.queries, unit.started_at)
    }
    return seq
  }

  const saveInTransaction = db.transaction(({ app, schema, units }: Batch) => {
    const now = Date.now()
    statements.upsertApp.run({ name: app.name, framework: app.framework ?? null, schema_json: schema ? JSON.stringify(schema) : null, updated_at: now })
    if (app.origin) statements.upsertOrigin.run(app.origin, app.name, now)
    const stored: { seq: number; unit: Unit }[] = []
    for (const unit of units) {
      const seq = insertUnit(unit)
      if (seq !== null) stored.push({ seq, unit })
    }
    let count = unitCount + stored.length
    let cutoff = 0
    if (count > maxUnits) {
      cutoff = statements.retentionCutoff.get(maxUnits)!.seq
      count -= statements.removeUpTo.run(cutoff).changes
      statements.pruneFingerprints.run()
    }
    return { stored, cutoff, count }
  })

  const listStatement = (where: string[]) => {
    const sql = `SELECT ${SUMMARY_COLUMNS} FROM units ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, seq DESC LIMIT @limit`
    let statement = listStatements.get(sql)
    if (!statement) {
      statement = db.prepare<unknown[], UnitRow>(sql)
      listStatements.set(sql, statement)
    }
    return statement
  }

  return {
    path,

    saveBatch(batch) {
      const { stored, cutoff, count } = writing(path, () => saveInTransaction(batch))
      unitCount = count
      if (batch.schema) schemas.set(batch.app.name, batch.schema)
      if (batch.app.origin) origins.add(batch.app.origin)
      return {
        accepted: stored.length,
        duplicates: batch.units.length - stored.length,
        stored: stored.filter(({ seq }) => seq > cutoff).map(({ unit }) => toSummary(unit)),
      }
    },

    knownIds(ids) {
      return new Set(ids.filter((id) => statements.unitExists.get(id) !== undefined))
    },

    latestSchema(app) {
      if (!schemas.has(app)) {
        const row = statements.appSchema.get(app)
        schemas.set(app, row?.schema_json ? (JSON.parse(row.schema_json) as Schema) : null)
      }
      return schemas.get(app) ?? null
    },

    listUnits({ limit = DEFAULT_PAGE_SIZE, before = null, kind = null, route = null, method = null, q = null, finding = null } = {}) {
      const where: string[] = []
      const params: Record<string, unknown> = { limit: limit + 1 }
      if (before) {
        const cursor = decodeCursor(before)
        where.push('(started_at < @startedAt OR (started_at = @startedAt AND seq < @seq))')
        Object.assign(params, cursor)
      }
      if (kind) {
        where.push('kind = @kind')
        params.kind = kind
      }
      if (route) {
        // A unit without a URL pattern (Django's root "", a 404) is listed by its name in the routes: the same here.
        where.push('(route = @route OR (route IS NULL AND name = @route))')
        params.route = route
      }
      if (method) {
        where.push('method = @method')
        params.method = method
      }
      // Every word, each somewhere in what the list shows of a unit (as the UI filters the units it holds already).
      const words = (q ?? '').trim().split(/\s+/).filter(Boolean).slice(0, MAX_SEARCH_WORDS)
      words.forEach((word, i) => {
        const like = (column: string) => `${column} LIKE @q${i} ESCAPE '\\'`
        where.push(`(${['name', 'path', 'route', 'method', 'CAST(status AS TEXT)', 'app'].map(like).join(' OR ')})`)
        params[`q${i}`] = `%${escapeLike(word)}%`
      })
      if (finding) where.push(`has_${finding} = 1`)
      const rows = listStatement(where).all(params)
      const page = rows.slice(0, limit)
      return { units: page.map(summaryOf), next: rows.length > limit ? encodeCursor(page[page.length - 1]) : null }
    },

    getUnit(id) {
      const json = this.getUnitJson(id)
      return json === null ? null : (JSON.parse(json) as Unit)
    },

    getUnitJson(id, { queries = true } = {}) {
      return (queries ? statements.unitJson : statements.unitJsonWithoutQueries).get(id)?.unit_json ?? null
    },

    routes() {
      const groups = new Map<string, UnitRow[]>()
      for (const row of statements.routeRows.iterate()) {
        const key = `${row.kind}\0${row.method ?? ''}\0${row.route ?? row.name}`
        const group = groups.get(key)
        if (group) group.push(row)
        else groups.set(key, [row])
      }
      const stats = [...groups.values()].map((rows): RouteStats => {
        const counts = rows.map((row) => row.queries).sort((a, b) => a - b)
        const last = rows[rows.length - 1]
        const sum = (of: (row: UnitRow) => number): number => rows.reduce((total, row) => total + of(row), 0)
        const unitsWith: RouteStats['units_with'] = {
          n_plus_one: sum((row) => row.has_n_plus_one),
          duplicate: sum((row) => row.has_duplicate),
          repeated_write: sum((row) => row.has_repeated_write),
          slow_query: sum((row) => row.has_slow_query),
        }
        return {
          route: last.route ?? last.name,
          kind: last.kind,
          method: last.method,
          units: rows.length,
          queries_p50: percentile(counts, 0.5),
          queries_p95: percentile(counts, 0.95),
          queries_max: counts[counts.length - 1],
          n_plus_one: sum((row) => row.n_plus_one),
          duplicates: sum((row) => row.duplicates),
          repeated_writes: unitsWith.repeated_write,
          slow_queries: unitsWith.slow_query,
          units_with: unitsWith,
          last_seen: last.started_at,
          recent: rows.slice(-RECENT_POINTS).map((row) => ({ id: row.id, started_at: row.started_at, queries: row.queries })),
        }
      })
      return stats.sort((a, b) => b.last_seen - a.last_seen)
    },

    fingerprint(id) {
      const row = statements.fingerprintSql.get(id)
      if (!row) return null
      const seen = statements.fingerprintSites.all(id, MAX_SITES).map(({ unit_name, route, file, line, function: fn, units, queries, last_seen }) => ({
        unit_name,
        route,
        callsite: file === null || line === null ? null : { file, line, function: fn ?? '' },
        units,
        queries,
        last_seen,
      }))
      const totals = statements.fingerprintTotals.get(id)!
      return { id, sql: row.sql, seen, places: totals.places, queries: totals.queries ?? 0 }
    },

    countUnits: () => unitCount,

    isKnownOrigin: (origin) => origins.has(origin),

    clear() {
      writing(path, () => statements.clear())
      unitCount = 0
    },

    close() {
      if (db.open) db.close()
    },
  }
}
