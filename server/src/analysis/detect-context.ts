/** What every detector is given besides the queries: options, the ORM to word fixes for, the schema. @module */
import type { AppInfo, Finding, Severity, Suggestion, WireQuery } from '../protocol.js'
import type { QueryFacts } from './query-facts.js'
import type { SchemaIndex } from './schema-index.js'
import type { SqlShape } from './sql-shape.js'

export interface AnalysisOptions {
  /** Repeats that make an N+1 or a repeated write (default 2). */
  minRepeats?: number
  /** A query slower than this is a `slow_query` (default 100 ms). */
  slowMs?: number
  /** An N+1 or repeated write with at least this many repeats is an `error` (default 10). */
  nPlusOneErrorRepeats?: number
  /** An N+1 or repeated write wasting at least this much time is an `error` (default 20 ms). */
  nPlusOneErrorWastedMs?: number
}

export type DetectOptions = Required<AnalysisOptions>

/** The ORM whose terms a fix is written in. */
export type Orm = 'django' | 'sqlalchemy'

export interface DetectContext {
  options: DetectOptions
  orm: Orm
  schema: SchemaIndex | null
  /** The unit is a Django admin changelist (`ModelAdmin.changelist_view`): its queryset is the ModelAdmin's, which
   * the fixes name (`list_select_related`, `get_queryset()`), and its two row counts are the admin's own. */
  adminChangelist?: AdminChangelist | null
  /** The unit is a Django admin page whose rows come from an admin class's `get_queryset()`: one editing an object
   * (`change_view`, `add_view`: its inlines'), or an autocomplete's search (`autocomplete_view`). */
  adminPage?: 'inline' | 'autocomplete' | null
  /** The unit is a test: its queries with no application frame at all are the test framework's (see
   * {@link harnessQuery}). */
  test?: boolean
  /** The unit is a request (a script or a task has no request to keep a result on). */
  request?: boolean
  /** The unit's view (`shop.views.BookListView`), which passes a template the queryset the template iterates. */
  view?: string | null
  /** The app's framework (`app.framework`), lower-cased: Flask's views run a SQLAlchemy Session, not an AsyncSession. */
  framework?: string
}

/**
 * A query of a test that no frame of the application made: the test framework's own, between the test's lines
 * (Django's flush after a TransactionTestCase and the post_migrate handlers it runs, creating content types and
 * permissions app by app; its transactions and savepoints). No change to the test batches it: never in a finding.
 */
export const harnessQuery = (facts: QueryFacts, ctx: DetectContext): boolean => ctx.test === true && noAppFrame(facts.query)

/** No frame of the application's is on the query's stack, nor a template of its: in a test, the test framework's
 * query (see {@link harnessQuery}; the CI gate does not count them either). */
export const noAppFrame = (query: Pick<WireQuery, 'stack' | 'template'>): boolean => query.stack.length === 0 && !query.template

/** A Django admin changelist page. */
export interface AdminChangelist {
  /** Its URL pattern, `admin/lib/bookstr/`. */
  route: string | null
  /** The model the URL names, lower case as the admin writes it (`bookstr`): a proxy of the rows' model has its own
   * ModelAdmin. */
  model: string | null
}

/** Which admin page a unit is, by its view (a ModelAdmin's own change_view, overridden for extra_context, is named
 * after the app's module): see {@link DetectContext.adminPage}. */
export function adminPageOf(view: string | null | undefined): 'inline' | 'autocomplete' | null {
  if (!view) return null
  if (/(^|\.)(change|add)_view$/.test(view)) return 'inline'
  return /(^|\.)autocomplete_view$|\bAutocompleteJsonView$/.test(view) ? 'autocomplete' : null
}

/** The changelist a unit is, by its view (`django.contrib.admin.options.changelist_view`, or a ModelAdmin's own
 * `changelist_view`), or null. */
export function adminChangelistOf(view: string | null | undefined, route: string | null | undefined): AdminChangelist | null {
  if (!view || !/(^|\.)changelist_view$/.test(view)) return null
  // The admin's URL of a changelist is `<site>/<app_label>/<model_name>/`.
  return { route: route ?? null, model: /[^/]+\/([^/]+)\/$/.exec(route ?? '')?.[1] ?? null }
}

export function resolveOptions({
  minRepeats = 2,
  slowMs = 100,
  nPlusOneErrorRepeats = 10,
  nPlusOneErrorWastedMs = 20,
}: AnalysisOptions = {}): DetectOptions {
  return { minRepeats: Math.max(2, minRepeats), slowMs, nPlusOneErrorRepeats, nPlusOneErrorWastedMs }
}

const SQLALCHEMY_FRAMEWORKS = ['sqlalchemy', 'flask', 'fastapi', 'starlette', 'litestar', 'pyramid', 'quart', 'sanic']

/**
 * Django unless the app says otherwise: `app.framework` naming SQLAlchemy or a framework usually paired with it
 * (Flask, FastAPI, Starlette...), or, when the framework is not given, SQL in SQLAlchemy's style
 * (`__[POSTCOMPILE_x]` placeholders, unquoted `table.column AS table_column` select lists).
 */
export function ormOf(app: AppInfo, facts: QueryFacts[]): Orm {
  const framework = (app.framework ?? '').toLowerCase()
  if (framework.includes('django')) return 'django'
  if (SQLALCHEMY_FRAMEWORKS.some((name) => framework.includes(name))) return 'sqlalchemy'
  if (framework) return 'django'
  const sqlalchemyStyle = facts.some(
    (f) => f.query.sql.includes('__[POSTCOMPILE_') || /\b(\w+)\.(\w+) AS \1_\2\b/.test(f.query.sql.slice(0, 2000)),
  )
  return sqlalchemyStyle ? 'sqlalchemy' : 'django'
}

/**
 * Django's own bookkeeping, which no change to the app's code batches: the session store's statements on one session
 * by its key (making one checks that a random key is free, `SELECT 1 ... WHERE session_key = %s LIMIT 1`, and inserts
 * it; loading, saving and deleting one read, update and delete it by its key; logging in does all of that under one
 * line of the app, and a test logging users in one by one repeats it), and ContentType lookups by app label and model
 * (`get_for_model()` per model, each once per process in Django's cache, so that a test's count depends on the tests
 * before it). Never an N+1 or a repeated write. (`Session.objects.filter(session_key=k).delete()` per key writes
 * what `SessionStore.delete()` does: the two cannot be told apart.) Other statements on these tables (permissions
 * joined to their content type, sessions by user) are the app's.
 */
export function djangoBookkeeping(facts: QueryFacts): boolean {
  const { kind, mainTables, slots } = facts.shape
  if (mainTables.length === 1 && mainTables[0] === 'django_session') return kind === 'insert' || bySessionKey(slots)
  return contentTypeLookup(facts.shape)
}

/** A ContentType lookup by app label and model (`get_for_model()`), which Django answers once per process. */
export function contentTypeLookup({ kind, mainTables, slots }: SqlShape): boolean {
  const keyed = (column: string): boolean => slots.some((slot) => slot.role === 'eq' && slot.column?.column === column)
  return kind === 'select' && mainTables.length === 1 && mainTables[0] === 'django_content_type' && keyed('app_label') && keyed('model')
}

/** A statement on one session: it compares the key with one value (`=`, or an IN of one) and, besides it, at most
 * the expiry (a load reads only a session that has not expired). */
function bySessionKey(slots: QueryFacts['shape']['slots']): boolean {
  const where = slots.filter((slot) => slot.column !== null && slot.role !== 'set')
  const key = where.filter((slot) => slot.column?.column === 'session_key' && (slot.role === 'eq' || (slot.role === 'in' && slot.values.length === 1)))
  const others = where.filter((slot) => !key.includes(slot) && !(slot.column?.column === 'expire_date' && slot.role === 'range'))
  return key.length === 1 && others.length === 0
}

/** Group in first-seen order. */
export function groupBy<T>(items: Iterable<T>, keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>()
  for (const item of items) {
    const key = keyOf(item)
    const group = groups.get(key)
    if (group) group.push(item)
    else groups.set(key, [item])
  }
  return groups
}

/** Milliseconds rounded to the microsecond, so sums of floats read cleanly. */
export const roundMs = (ms: number): number => Math.round(ms * 1000) / 1000

/** The time of every query of a group but the first: what batching or reuse would save. */
export const wastedMs = (group: QueryFacts[]): number =>
  roundMs(group.slice(1).reduce((sum, facts) => sum + (Number.isFinite(facts.query.duration_ms) ? facts.query.duration_ms : 0), 0))

export function loopSeverity(count: number, wasted: number, { nPlusOneErrorRepeats, nPlusOneErrorWastedMs }: DetectOptions): Severity {
  return count >= nPlusOneErrorRepeats || wasted >= nPlusOneErrorWastedMs ? 'error' : 'warning'
}

/**
 * The finding for a group of repeated queries from one place (an N+1 or a repeated write): the first query names the
 * SQL, call site and template; severity follows the repeats and the time wasted.
 */
export function repeatedGroupFinding(
  kind: 'n_plus_one' | 'repeated_write',
  group: QueryFacts[],
  { options }: Pick<DetectContext, 'options'>,
  { triggerIndex, suggestion }: { triggerIndex: number | null; suggestion: Suggestion },
): Finding {
  const first = group[0]
  const wasted = wastedMs(group)
  return {
    kind,
    severity: loopSeverity(group.length, wasted, options),
    fingerprint: first.fingerprint,
    sql: first.normalized,
    count: group.length,
    wasted_ms: wasted,
    query_indexes: group.map((f) => f.index),
    callsite: first.query.callsite ?? null,
    template: first.query.template ?? null,
    trigger_index: triggerIndex,
    suggestion,
  }
}

export const SEVERITY_RANK: Record<Severity, number> = { info: 0, warning: 1, error: 2 }

