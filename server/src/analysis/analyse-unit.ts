/**
 * The analysis of one unit of work (DESIGN.md §6): fingerprint every query, run every detector, and sum it up.
 * Pure: the same unit, app, schema and options always give the same `Unit`.
 * @module
 */
import { FINDING_KINDS, type AppInfo, type Finding, type Schema, type Unit, type UnitSummaryCounts, type WireUnit } from '../protocol.js'
import { adminChangelistOf, adminPageOf, type AnalysisOptions, type Orm, ormOf, resolveOptions, roundMs, SEVERITY_RANK } from './detect-context.js'
import { detectDuplicates } from './detect-duplicates.js'
import { detectNPlusOne } from './detect-n-plus-one.js'
import { detectRepeatedWrites } from './detect-repeated-writes.js'
import { detectSlowQueries } from './detect-slow-queries.js'
import { withImports } from './fix-imports.js'
import { mergeFixes } from './merge-fixes.js'
import { queryFacts } from './query-facts.js'
import { indexSchema } from './schema-index.js'

export type { AnalysisOptions } from './detect-context.js'

export interface AnalysisContext {
  app: AppInfo
  schema: Schema | null
  options?: AnalysisOptions
}

const KIND_ORDER: Record<Finding['kind'], number> = { n_plus_one: 0, repeated_write: 1, duplicate: 2, slow_query: 3 }

export function analyseUnit(unit: WireUnit, { app, schema, options }: AnalysisContext): Unit {
  const facts = queryFacts(unit.queries)
  const orm = ormOf(app, facts)
  const ctx = { options: resolveOptions(options), orm, schema: indexSchema(schema), adminChangelist: orm === 'django' ? adminChangelistOf(unit.view, unit.route) : null, adminPage: orm === 'django' ? adminPageOf(unit.view) : null, test: unit.kind === 'test', request: unit.kind === 'request', view: unit.view ?? null, framework: (app.framework ?? '').toLowerCase() }
  const loops = detectNPlusOne(facts, ctx)
  const writes = detectRepeatedWrites(facts, ctx)
  const duplicates = detectDuplicates(facts, ctx, [...loops, ...writes].map((f) => f.query_indexes))
  // (A loop's duplicates, every row sharing one related object, are fixed by the same queryset as its N+1s.)
  const reads = mergeFixes([...loops, ...duplicates])
  const found = withImports(onItsDatabase([...reads, ...writes, ...detectSlowQueries(facts, ctx)], unit, orm, schema), orm)
  const findings = pastTheCap(found, unit.dropped_queries ?? 0).sort(
    (a, b) =>
      SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] ||
      KIND_ORDER[a.kind] - KIND_ORDER[b.kind] ||
      a.query_indexes[0] - b.query_indexes[0],
  )
  const fingerprints: Record<string, string> = {}
  for (const f of facts) fingerprints[f.fingerprint] = f.normalized
  return {
    id: unit.id,
    kind: unit.kind,
    name: unit.name,
    method: unit.method ?? null,
    path: unit.path ?? null,
    route: unit.route ?? null,
    status: unit.status ?? null,
    started_at: unit.started_at,
    duration_ms: unit.duration_ms,
    app: app.name,
    summary: summarise(unit, findings),
    view: unit.view ?? null,
    meta: unit.meta ?? {},
    dropped_queries: unit.dropped_queries ?? 0,
    framework: app.framework ?? null,
    queries: unit.queries.map((query, i) => ({ ...query, fingerprint: facts[i].fingerprint })),
    fingerprints,
    findings,
  }
}

/**
 * A fix says which database its queries ran on in a unit that used several (one loop reading from two aliases is two
 * findings that would otherwise read alike), and on any but Django's "default": there its code reads from that
 * database (see {@link usingDatabase}). (A finding's queries all ran on one: each detector groups by database.)
 */
function onItsDatabase(findings: Finding[], unit: WireUnit, orm: Orm, schema: Schema | null): Finding[] {
  const several = new Set(unit.queries.map((q) => q.db)).size > 1
  return findings.map((finding) => {
    const db = unit.queries[finding.query_indexes[0]]?.db
    const elsewhere = orm === 'django' && db !== undefined && db !== 'default'
    if (db === undefined || !(several || elsewhere)) return finding
    let { text, code } = finding.suggestion
    if (elsewhere) {
      const using = usingDatabase(db, schema)
      text = using(text)
      code = code === null ? null : using(code)
    }
    return { ...finding, suggestion: { ...finding.suggestion, text: `${text} (on database "${db}")`, code } }
  })
}

/**
 * The querysets a Django fix makes from a model's manager, read from `db`: `Book.objects.using("other").in_bulk(ids)`.
 * Without it the pasted code reads where the router sends the model, the "default" database unless it says
 * otherwise, when the app's loop read from another (`Book.objects.using("other")`, a router's choice for the model:
 * naming that database again changes nothing). Django keeps related rows in the database of the rows they belong to,
 * so a Prefetch's queryset reads from the same one.
 */
function usingDatabase(db: string, schema: Schema | null): (text: string) => string {
  const managers = new Set(['objects', '_base_manager', '_default_manager'])
  for (const model of schema?.models ?? []) if (model.manager) managers.add(model.manager.name)
  const queryset = new RegExp(`\\b([A-Z]\\w*)\\.(${[...managers].join('|')})\\.(?!using\\()`, 'g')
  return (text) => text.replace(queryset, (_, model: string, manager: string) => `${model}.${manager}.using(${JSON.stringify(db)}).`)
}

/** With queries past the agent's cap (`MAX_QUERIES`), a finding's counts are of the queries kept: the text says so,
 * beside the summary that counts them all. */
function pastTheCap(findings: Finding[], dropped: number): Finding[] {
  if (dropped === 0) return findings
  const note = ` (counted in the queries the agent kept: ${dropped} more ran past its MAX_QUERIES, which it did not keep)`
  return findings.map((f) => (f.kind === 'slow_query' ? f : { ...f, suggestion: { ...f.suggestion, text: `${f.suggestion.text.replace(/\.$/, '')}${note}` } }))
}

/**
 * `queries` counts every query the unit ran, the ones past the agent's cap (`dropped_queries`) included;
 * `duplicates` counts the redundant executions: for each duplicate finding, its copies but the first.
 */
export function summarise(unit: WireUnit, findings: Finding[]): UnitSummaryCounts {
  let severity: UnitSummaryCounts['severity'] = null
  for (const finding of findings) {
    if (severity === null || SEVERITY_RANK[finding.severity] > SEVERITY_RANK[severity]) severity = finding.severity
  }
  return {
    queries: unit.queries.length + (unit.dropped_queries ?? 0),
    db_ms: roundMs(unit.queries.reduce((sum, q) => sum + (Number.isFinite(q.duration_ms) ? q.duration_ms : 0), 0)),
    duplicates: findings.filter((f) => f.kind === 'duplicate').reduce((sum, f) => sum + f.count - 1, 0),
    n_plus_one: findings.filter((f) => f.kind === 'n_plus_one').length,
    findings: findings.length,
    severity,
    kinds: FINDING_KINDS.filter((kind) => findings.some((f) => f.kind === kind)),
  }
}
