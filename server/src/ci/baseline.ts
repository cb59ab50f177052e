/**
 * The baseline: per unit name, how many queries it ran and which (the multiset of fingerprints, with the normalized
 * SQL so the file reads well in review), and which fingerprints were N+1s. A later run is compared against it like a
 * snapshot: more queries or a new N+1 is a regression, fewer queries an improvement.
 *
 * A name can be seen several times in one run (one route requested by several tests, a test re-run): the baseline
 * keeps its worst case, the highest query count of any of its units and, per fingerprint, the highest count of any
 * of its units. Both are independent of the order the units ran in, so the file only changes when the code does.
 * @module
 */
import type { Unit, UnitKind } from '../protocol.js'
import { UNIT_KINDS } from '../protocol.js'
import { contentTypeLookup, noAppFrame } from '../analysis/detect-context.js'
import { dialectOf } from '../analysis/lexer.js'
import { sqlShape } from '../analysis/sql-shape.js'
import { jsonErrorAt, unitKey } from './budget.js'

export const BASELINE_VERSION = 1

export interface BaselineFingerprint {
  count: number
  sql: string
}

export interface BaselineEntry {
  kind: UnitKind
  queries: number
  fingerprints: Record<string, BaselineFingerprint>
  /** Fingerprints that were N+1 findings, sorted. */
  n_plus_one: string[]
}

export interface Baseline {
  version: typeof BASELINE_VERSION
  units: Record<string, BaselineEntry>
}

/** The baseline file is not valid; the message says where and how to fix it. */
export class BaselineFileError extends Error {
  override name = 'BaselineFileError'
}

/**
 * Queries no budget or baseline counts, as their number does not depend on the code under test:
 * - Django's ContentType lookups by app label and model (`get_for_model()`): Django keeps each answer for the life of
 *   the process, so whether a test runs one depends on the tests that ran before it in the same process; verdicts
 *   would otherwise change with the order and the subset of tests run. (The analysis's own test, on the statement's
 *   shape; each SQL text read once.)
 * - In a test, those no frame of the application made: the test framework's own (a TransactionTestCase's flush after
 *   the test, some forty queries that grow with the apps installed; the savepoint a TestCase opens around each test),
 *   which `assertNumQueries` does not count either.
 */
const processCachedSql = new Map<string, boolean>()

function uncounted(
  unit: Pick<Unit, 'kind' | 'fingerprints'>,
  query: Pick<Unit['queries'][number], 'fingerprint' | 'vendor' | 'stack' | 'template'>,
): boolean {
  if (unit.kind === 'test' && noAppFrame(query)) return true
  const sql = unit.fingerprints[query.fingerprint]
  if (sql === undefined) return false
  let cached = processCachedSql.get(sql)
  if (cached === undefined) {
    cached = contentTypeLookup(sqlShape(sql, dialectOf(query.vendor)))
    processCachedSql.set(sql, cached)
  }
  return cached
}

/** The queries of a unit that budgets and baselines count (see {@link uncounted}). */
export const countedQueries = <U extends Pick<Unit, 'kind' | 'queries' | 'fingerprints'>>(unit: U): U['queries'] =>
  unit.queries.filter((query) => !uncounted(unit, query))

/** Queries a unit ran, counting those past the agent's per-unit cap, and not those left out (see {@link uncounted}). */
export const queryCount = (unit: Pick<Unit, 'kind' | 'queries' | 'dropped_queries' | 'fingerprints'>): number =>
  countedQueries(unit).length + (unit.dropped_queries ?? 0)

/** Builds the baseline of a run (worst case per unit name, see the module comment). */
export function baselineOf(units: readonly Unit[]): Baseline {
  const entries: Record<string, BaselineEntry> = {}
  for (const unit of units) {
    const name = unitKey(unit)
    const entry = (entries[name] ??= { kind: unit.kind, queries: 0, fingerprints: {}, n_plus_one: [] })
    entry.queries = Math.max(entry.queries, queryCount(unit))
    const counts = new Map<string, number>()
    for (const query of countedQueries(unit)) counts.set(query.fingerprint, (counts.get(query.fingerprint) ?? 0) + 1)
    for (const [id, count] of counts) {
      const known = entry.fingerprints[id]
      if (!known || known.count < count) entry.fingerprints[id] = { count, sql: unit.fingerprints[id] ?? known?.sql ?? '' }
    }
    for (const finding of unit.findings) {
      if (finding.kind === 'n_plus_one' && !entry.n_plus_one.includes(finding.fingerprint)) entry.n_plus_one.push(finding.fingerprint)
    }
    entry.n_plus_one.sort()
  }
  return { version: BASELINE_VERSION, units: entries }
}

/** The file text: keys sorted at every level, two-space indent, a trailing newline. Same baseline, same bytes. */
export function formatBaseline(baseline: Baseline): string {
  return `${JSON.stringify(sortKeys(baseline), null, 2)}\n`
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys)
  if (typeof value !== 'object' || value === null) return value
  const sorted: Record<string, unknown> = {}
  for (const key of Object.keys(value).sort(compareStrings)) sorted[key] = sortKeys((value as Record<string, unknown>)[key])
  return sorted
}

/** Code-unit order, the same on every machine and locale. */
export const compareStrings = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

export function parseBaselineText(text: string, file: string): Baseline {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new BaselineFileError(`${file} is not valid JSON (${jsonErrorAt(text, (err as Error).message)}); rewrite it with --update-baseline`)
  }
  const fail = (where: string, message: string): never => {
    throw new BaselineFileError(`${where} ${message} (in ${file}); rewrite the file with --update-baseline`)
  }
  const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)
  if (!isObject(json)) return fail('the top level', 'must be an object')
  if (json.version !== BASELINE_VERSION) fail('version', `must be ${BASELINE_VERSION}, got ${JSON.stringify(json.version)}`)
  if (!isObject(json.units)) return fail('units', 'must be an object')
  const units: Record<string, BaselineEntry> = {}
  for (const [name, raw] of Object.entries(json.units)) {
    const where = `units[${JSON.stringify(name)}]`
    if (!isObject(raw)) return fail(where, 'must be an object')
    if (!UNIT_KINDS.includes(raw.kind as UnitKind)) fail(`${where}.kind`, `must be one of ${UNIT_KINDS.join(', ')}`)
    if (!Number.isInteger(raw.queries) || (raw.queries as number) < 0) fail(`${where}.queries`, 'must be a whole number')
    if (!isObject(raw.fingerprints)) return fail(`${where}.fingerprints`, 'must be an object')
    const fingerprints: Record<string, BaselineFingerprint> = {}
    for (const [id, fp] of Object.entries(raw.fingerprints)) {
      if (!isObject(fp) || !Number.isInteger(fp.count) || typeof fp.sql !== 'string') {
        fail(`${where}.fingerprints[${JSON.stringify(id)}]`, 'must be {"count": <whole number>, "sql": "<normalized SQL>"}')
      }
      fingerprints[id] = { count: (fp as Record<string, unknown>).count as number, sql: (fp as Record<string, unknown>).sql as string }
    }
    const nPlusOne = raw.n_plus_one ?? []
    if (!Array.isArray(nPlusOne) || !nPlusOne.every((id) => typeof id === 'string')) fail(`${where}.n_plus_one`, 'must be a list of fingerprints')
    units[name] = { kind: raw.kind as UnitKind, queries: raw.queries as number, fingerprints, n_plus_one: [...(nPlusOne as string[])].sort() }
  }
  return { version: BASELINE_VERSION, units }
}

/** One fingerprint whose count changed: `delta` > 0 was added, < 0 removed. */
export interface FingerprintDelta {
  fingerprint: string
  sql: string
  delta: number
}

export interface UnitComparison {
  name: string
  /** Null when the unit is not in the baseline. */
  before: BaselineEntry | null
  /** Null when the unit was in the baseline but did not run. */
  after: BaselineEntry | null
  /** Fingerprints whose count changed, added first, each group in SQL order. */
  changes: FingerprintDelta[]
  /** N+1 fingerprints the baseline did not have as N+1s. */
  newNPlusOne: string[]
}

/** Compares a run's baseline with the recorded one, name by name (in name order). */
export function compareBaselines(recorded: Baseline, current: Baseline): UnitComparison[] {
  const names = [...new Set([...Object.keys(recorded.units), ...Object.keys(current.units)])].sort(compareStrings)
  return names.map((name) => {
    const before = recorded.units[name] ?? null
    const after = current.units[name] ?? null
    const changes: FingerprintDelta[] = []
    if (before && after) {
      const ids = new Set([...Object.keys(before.fingerprints), ...Object.keys(after.fingerprints)])
      for (const id of ids) {
        const delta = (after.fingerprints[id]?.count ?? 0) - (before.fingerprints[id]?.count ?? 0)
        if (delta !== 0) changes.push({ fingerprint: id, sql: after.fingerprints[id]?.sql ?? before.fingerprints[id].sql, delta })
      }
      changes.sort((a, b) => Number(b.delta > 0) - Number(a.delta > 0) || compareStrings(a.sql, b.sql) || compareStrings(a.fingerprint, b.fingerprint))
    }
    const newNPlusOne = before && after ? after.n_plus_one.filter((id) => !before.n_plus_one.includes(id)) : []
    return { name, before, after, changes, newNPlusOne }
  })
}

/** Snapshot-diff lines: `+ 2× select … from "shop_author" where …`, `- 1× select …`. */
export function diffLines(changes: readonly FingerprintDelta[], { maxSql = 200 } = {}): string[] {
  return changes.map((change) => `${change.delta > 0 ? '+' : '-'} ${Math.abs(change.delta)}× ${oneLine(change.sql, maxSql)}`)
}

export function oneLine(sql: string, max: number): string {
  const flat = sql.replace(/\s+/g, ' ').trim()
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat
}
