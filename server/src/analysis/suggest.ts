/**
 * The fix for each finding, in the terms of the app's ORM, at the place to change (DESIGN.md §6 Suggestions).
 * Django by default, SQLAlchemy for SQLAlchemy units; model and field names from the schema, table and column
 * names without it.
 * @module
 */
import { templateText, type ModelInfo, type ParamValue, type Suggestion, type WireQuery } from '../protocol.js'
import type { AdminChangelist, DetectContext, Orm } from './detect-context.js'
import { AGGREGATE_CALL, type LoopFilter, type LoopRelation, type LoopStep } from './loop-relation.js'
import { byKey, loopClauses, ordersOtherwise, type LoopClauses } from './loop-clauses.js'
import { firstValue, shapeOf, type QueryFacts } from './query-facts.js'
import { className, fieldOfColumn, same, type SchemaIndex } from './schema-index.js'

/** `shop/book_list.html:12 (rendered from shop/views.py:40)` or `shop/views.py:40`; for code the template calls, a
 * model's `__str__` shown in it, `shop/models.py:24 (while rendering admin/change_list.html:69)`. */
export function placeOf(query: WireQuery | null | undefined): string | null {
  if (!query) return null
  const site = query.callsite ? `${query.callsite.file}:${query.callsite.line}` : null
  if (!query.template) return site
  const template = templateText(query.template)
  if (site && /^__\w+__$/.test(query.callsite!.function)) return `${site} (while rendering ${template})`
  return site ? `${template} (rendered from ${site})` : template
}

export const at = (query: WireQuery | null | undefined): string => {
  const place = placeOf(query)
  return place ? ` at ${place}` : ''
}

const quote = (name: string): string => `"${name}"`

/** A parameter value as Python source. */
export function py(value: ParamValue | undefined): string {
  if (value === undefined) return '...'
  if (value === null) return 'None'
  if (value === true) return 'True'
  if (value === false) return 'False'
  if (typeof value === 'number') return String(value)
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value)
  if (Array.isArray(value)) return `[${value.slice(0, 5).map(py).join(', ')}${value.length > 5 ? ', ...' : ''}]`
  return '{...}'
}

// ---------------------------------------------------------------------------------------------------------------
// N+1
// ---------------------------------------------------------------------------------------------------------------

/** The fix for an N+1 loop of `count` queries, `repeats` of which repeat an earlier key of the same loop. */
export function suggestLoop(relation: LoopRelation, loop: QueryFacts, count: number, ctx: DetectContext): Suggestion {
  const tree = recursion(relation, loop, count, ctx.orm)
  if (tree) return withManagers(tree, tablesOf(relation), ctx.schema)
  const keys = overKeys(relation, loop, count, ctx.orm, ctx.schema)
  if (keys) return withManagers(keys, tablesOf(relation), ctx.schema)
  if (ctx.orm === 'sqlalchemy') return withAwait(sqlalchemyLoop(relation, loop, count), ctx)
  const admin =
    (ctx.adminChangelist && adminLoop(relation, loop, count, ctx.adminChangelist)) || (ctx.adminPage && adminQuerysetLoop(relation, loop, count, ctx.adminPage))
  if (admin) return withManagers(admin, tablesOf(relation), ctx.schema)
  return withProxies(withManagers(djangoLoop(relation, loop, count, ctx.view ?? null), tablesOf(relation), ctx.schema), ctx.schema)
}

/**
 * A fix whose code starts from a model's manager (`Book.objects...`) also names the model's proxies: a proxy's
 * queryset makes the same SQL, and code pasted over `ClassicBook.objects.all()` with `Book.objects` would hand the loop
 * Book objects, which lack the proxy's methods.
 */
function withProxies(suggestion: Suggestion, schema: SchemaIndex | null): Suggestion {
  const named = suggestion.code && /^(\w+)\.\w+/.exec(suggestion.code)?.[1]
  if (!schema || !named) return suggestion
  const proxies = schema.models.filter((model) => className(model.model) === named).flatMap((model) => schema.proxiesOf(model.model))
  if (proxies.length === 0) return suggestion
  const names = proxies.map((proxy) => className(proxy.model))
  const which = names.length === 1 ? `the proxy model ${names[0]}` : `a proxy model (${names.join(', ')})`
  return {
    ...suggestion,
    text: `${suggestion.text}; if the queryset is of ${which}, start from its manager instead of ${named}'s: ${named} objects lack the proxy's methods`,
  }
}

/** `SELECT "shop_book"."id" FROM "shop_book" ...`: one column of its own table and nothing else, the keys alone
 * (groups: the column's table, the column, the table selected from). */
const KEYS_ONLY = /^select\s+"?(\w+)"?\."?(\w+)"?\s+from\s+"?(\w+)"?(?:\s|$)/i

/**
 * A loop over keys alone (`values_list("id", flat=True)`, `select(Book.id)`), or over rows of columns without the
 * primary key (`values("title", "author_id")`, `select(Book.title, Book.author_id)`; a model's rows always select it):
 * the rows it goes over are no model objects, which an eager load could be added to (Django raises); the related rows
 * of every key are fetched at once instead.
 */
function overKeys(relation: LoopRelation, loop: QueryFacts, count: number, orm: Orm, schema: SchemaIndex | null): Suggestion | null {
  if (!relation.place || !['forward', 'reverse', 'reverse_one'].includes(relation.pattern) || relation.path.length !== 1) return null
  const owner = relation.path[0].owner
  const keysOnly = KEYS_ONLY.exec(relation.place.sql.trim())
  const columns = keysOnly && keysOnly[1] === keysOnly[3] ? [keysOnly[2]] : columnsWithoutKey(relation.place, relation.path[0].ownerTable, schema)
  if (!columns) return null
  // A row by its primary key per key (`Author.objects.get(pk=row["author_id"])`): Django's in_bulk() gives them by key.
  const byPk = orm === 'django' && relation.pattern === 'forward' && same(relation.column, relation.target?.pk)
  const fix = byPk ? djangoLoop({ ...relation, pattern: 'get' }, loop, count, null) : keysAtOnce(relation, loop, count, orm)
  const names = columns.map((column) => `"${column}"`).join(', ')
  const given =
    orm === 'sqlalchemy'
      ? `select(${columns.map((column) => `${owner}.${column}`).join(', ')})`
      : columns.length === 1
        ? `values_list(${names}, flat=True)`
        : `values(${names})`
  const what = columns.length === 1 ? 'selects one column, and a loop over those keys alone' : 'selects columns without the primary key, and a loop over those rows'
  return { ...fix, text: `${fix.text}: the query${at(relation.place)} ${what} (${given}) has no objects an eager load could be added to` }
}

/** The columns a query selects of its one table, when they are plain columns and leave out its model's primary key. */
function columnsWithoutKey(place: WireQuery, table: string, schema: SchemaIndex | null): string[] | null {
  const pk = schema?.byTable(table)?.pk
  const shape = shapeOf(place)
  if (!pk || !shape.selectColumns || shape.mainTables.length !== 1 || !same(shape.mainTables[0], table)) return null
  if (!shape.selectColumns.every((column) => same(column.table ?? table, table))) return null
  const columns = shape.selectColumns.map((column) => column.column)
  return columns.some((column) => same(column, pk)) ? null : columns
}

/**
 * A recursion over a tree reading each node's children (a relation of a model to itself) at several depths: one
 * finding covering every depth, whose fix loads the whole tree. SQLAlchemy's `selectinload(..., recursion_depth=-1)` follows it
 * to the end; Django's prefetch goes as deep as its path, which the code gives as deep as this unit went (a query
 * per level), or the tree comes in one query to be linked in Python.
 */
function recursion(relation: LoopRelation, loop: QueryFacts, count: number, orm: Orm): Suggestion | null {
  const hop = plainHop(relation)
  const levels = relation.levels ?? 1
  if (levels < 2 || !hop || relation.aggregate) return null
  if (hop.owner !== hop.target || (relation.pattern !== 'reverse' && relation.pattern !== 'm2m')) return null
  const query = orm === 'sqlalchemy' ? 'query' : 'queryset'
  const where = relation.place ? `the ${query} iterated${at(relation.place)}` : `the ${query} whose rows the recursion starts from`
  const recursive = `the recursion${at(loop.query)} reads .${hop.field} of every node, at ${levels} depths`
  if (orm === 'sqlalchemy') {
    const option = `selectinload(${hop.owner}.${hop.field}, recursion_depth=-1)`
    const pk = relation.target?.pk ?? 'id'
    if (relation.place && byKey(relation.place.sql, pk)) {
      // The root came from session.get(Category, 1): the option goes there (a select() of its own loads every node).
      return {
        text: `Load the whole tree: ${recursive}; pass options=[${option}] to the session.get() of its root${at(relation.place)}, one query per level instead of ${count} lazy loads`,
        code: `session.get(${hop.owner}, ${pk}, options=[${option}])`,
      }
    }
    return {
      text: `Load the whole tree: ${recursive}; add .options(${option}) to ${where}, one query per level instead of ${count} lazy loads`,
      code: `select(${hop.owner}).options(${option})`,
    }
  }
  const path = Array(levels + (relation.prefetchedLevels ?? 0)).fill(hop.field).join('__')
  return {
    text: `Load the whole tree: ${recursive}; add .prefetch_related("${path}") to ${where} (one query per level, as deep as the tree goes), or fetch every node in one query and link them in Python, instead of ${count} queries`,
    code: `${hop.owner}.objects.prefetch_related("${path}")`,
  }
}

/** The loop's one named hop from the rows iterated, when it has nothing else (no filter of its own): null otherwise. */
function plainHop(relation: LoopRelation): (LoopStep & { field: string }) | null {
  const [hop, ...rest] = relation.path
  return hop && hop.field !== null && rest.length === 0 && relation.filters.length === 0 ? (hop as LoopStep & { field: string }) : null
}

/**
 * A loop of a Django admin changelist (a `list_display` column per row): the queryset is the ModelAdmin's, so the fix
 * goes there. FKs into `list_select_related` (which replaces the admin's own `select_related()` of the non-null FKs
 * shown, so it names those it joins already); prefetches and counts into `get_queryset()`. Null when the loop is not
 * over the changelist's rows by one plain hop, or by an FK of rows it joins (`book__author`).
 */
function adminLoop(relation: LoopRelation, loop: QueryFacts, count: number, changelist: AdminChangelist): Suggestion | null {
  if (relation.path.length === 1 && (relation.pattern === 'reverse' || relation.pattern === 'm2m') && relation.aggregate === null && relation.joined !== null) {
    const row = perRow(relation, loop)
    if (row.filtered || row.cut || row.reorders) {
      // `obj.reviews.order_by("-stars").first()` per row: a Prefetch with that queryset (a plain one serves none of it).
      const place = { iterated: `get_queryset() of ${adminOf(relation.path[0].owner, changelist)}`, note: `${columnOf(loop)}${ALL_PAGES}` }
      const fix = djangoPrefetchObject(relation, loop, row.clauses, row.lookups, 'super().get_queryset(request)', place, count, row.cut)
      return { text: fix.text, code: fix.code && `def get_queryset(self, request):\n    return ${fix.code}` }
    }
  }
  const hop = relation.viaJoin && relation.filters.length === 0 ? { ...relation.path[0], field: lookupPath(relation.path) } : plainHop(relation)
  if (!hop || relation.prefetched || relation.joined === null) return null
  const admin = adminOf(hop.owner, changelist)
  const column = columnOf(loop)
  if (relation.aggregate === 'count') {
    const name = `${(hop.queryName ?? hop.field).replace(/_set$/, '')}_count`
    const annotate = `.annotate(${name}=Count("${hop.queryName ?? hop.field}", distinct=True))`
    return {
      text: `Count in get_queryset() of ${admin}, return super().get_queryset(request)${annotate}, and read obj.${name} in the column instead of ${count} COUNT queries, one per row${column}${ALL_PAGES}`,
      code: `def get_queryset(self, request):
    return super().get_queryset(request)${annotate}`,
    }
  }
  if (relation.aggregate) return null
  if ((relation.pattern === 'forward' || relation.pattern === 'reverse_one') && hop.single) {
    const fields = [...new Set([...relation.joined, hop.field, ...relation.siblings])].map(quote).join(', ')
    return {
      text: `Add "${hop.field}" to list_select_related in ${admin}, list_select_related = [${fields}] (naming the relations the changelist joins already, and those of the page's other list_select_related fixes: the list replaces them), instead of ${count} queries, one per row${column}`,
      code: `list_select_related = [${fields}]`,
    }
  }
  if (relation.pattern === 'reverse' || relation.pattern === 'm2m') {
    return {
      text: `Prefetch "${hop.field}" in get_queryset() of ${admin}, return super().get_queryset(request).prefetch_related("${hop.field}"), and read obj.${hop.field}.all() in the column instead of ${count} queries, one per row${column}${ALL_PAGES}`,
      code: `def get_queryset(self, request):
    return super().get_queryset(request).prefetch_related("${hop.field}")`,
    }
  }
  return null
}

/**
 * A loop over rows the admin's own code loads with an admin class's `get_queryset()`, where the fix goes: an inline's
 * on a page editing an object (each review's `__str__` reading its reviewer; the admin's formset loads them through
 * the parent's related manager), or the search results of an autocomplete (each book's `__str__` reading its
 * author). Null for anything else (a loop of the page's own code, a filter or an aggregate per row).
 */
function adminQuerysetLoop(relation: LoopRelation, loop: QueryFacts, count: number, page: 'inline' | 'autocomplete'): Suggestion | null {
  const { manager, place } = relation
  if (!place || place.callsite || relation.aggregate || relation.filters.length) return null
  if (page === 'inline' ? !manager || manager.prefetched : manager) return null
  const hop = relation.viaJoin ? { ...relation.path[0], field: lookupPath(relation.path) } : plainHop(relation)
  if (!hop) return null
  const call = `.${relation.path.every((s) => s.single) ? 'select_related' : 'prefetch_related'}("${hop.field}")`
  const whose = page === 'inline' ? `the InlineModelAdmin of ${hop.owner}, whose rows the inline shows` : `the ModelAdmin of ${hop.owner}, whose rows the autocomplete lists`
  return {
    text: `Add ${call} in get_queryset() of ${whose}: return super().get_queryset(request)${call} instead of ${count} queries, one per row${columnOf(loop)}`,
    code: `def get_queryset(self, request):\n    return super().get_queryset(request)${call}`,
  }
}

/** What a changelist's fix in get_queryset() does besides: the list's list_select_related is the changelist's own. */
const ALL_PAGES = " (get_queryset() serves the ModelAdmin's object, delete and autocomplete pages too)"

/** The ModelAdmin a changelist's fix goes in. A proxy model's changelist (admin/lib/bookstr/) lists the rows of the
 * model it proxies, under a ModelAdmin of its own. */
function adminOf(owner: string, changelist: AdminChangelist): string {
  return changelist.model === null || changelist.model === owner.toLowerCase() ? `the ModelAdmin of ${owner}` : `the ModelAdmin of the changelist ${changelist.route}`
}

/** Where a changelist column's queries ran: the column's own code (admin.py), or a model's `__str__`. */
const columnOf = (loop: QueryFacts): string => (loop.query.callsite ? ` (the queries run at ${loop.query.callsite.file}:${loop.query.callsite.line})` : '')

/**
 * `Book.objects` written as the model's default manager when it has another name (`Book.books`): the fixes are
 * written for `objects` first. A class name two apps share (`blog.Author`, `shop.Author`) takes the manager of the
 * model the fix is about (of `tables`), or, when it is about neither, is renamed only if they agree. (A default
 * manager that leaves rows out is dealt with where it matters: the writes, and the lookups by key.)
 */
function withManagers(suggestion: Suggestion, tables: string[], schema: SchemaIndex | null): Suggestion {
  if (!schema?.models.some((model) => model.manager && model.manager.name !== 'objects')) return suggestion
  const involved = tables.map((table) => schema.byTable(table)).filter((model) => model !== undefined)
  const managerOf = (model: ModelInfo): string => model.manager?.name ?? 'objects'
  // Only the class names the fix writes are looked up (not every model of the schema, for every finding).
  const managerNamed = (name: string): string => {
    const read = involved.find((model) => className(model.model) === name)
    if (read) return managerOf(read)
    const managers = new Set(schema.models.filter((model) => className(model.model) === name).map(managerOf))
    return managers.size === 1 ? [...managers][0] : 'objects'
  }
  const rename = (text: string): string => text.replace(/\b(\w+)\.objects\b/g, (_, name: string) => `${name}.${managerNamed(name)}`)
  return { text: rename(suggestion.text), code: suggestion.code === null ? null : rename(suggestion.code) }
}


/** A SQLAlchemy fix that calls the session is written for a Session: the same calls are awaited on an AsyncSession
 * (the SQL does not say which one ran it). */
function withAwait(suggestion: Suggestion, ctx: DetectContext): Suggestion {
  const call = /\bsession\.(\w+)\(/.exec(suggestion.code ?? '')
  if (!call || ctx.framework === 'flask') return suggestion // Flask's views are sync: a Session
  return { ...suggestion, text: `${suggestion.text} (on an AsyncSession, await the session's calls: await session.${call[1]}(...))` }
}

/** The tables a loop's fix names models of: the looked-up one and both ends of each hop of its path. */
const tablesOf = (relation: LoopRelation): string[] => [relation.table, ...relation.path.flatMap((hop) => [hop.ownerTable, hop.targetTable])]

/** An INSERT that updates or skips the rows that exist: PostgreSQL's and SQLite's ON CONFLICT, MySQL's ON DUPLICATE
 * KEY UPDATE and INSERT IGNORE, SQLite's INSERT OR REPLACE / IGNORE, REPLACE INTO. */
const UPSERT = /\bon\s+conflict\b|\bon\s+duplicate\s+key\b|^\s*insert\s+(or\s+(replace|ignore)|ignore)\b|^\s*replace\s+into\b/i

const VALUE_AGGREGATES: Record<string, string> = { avg: 'Avg', sum: 'Sum', min: 'Min', max: 'Max' }

/** Django's function for an AVG, SUM, MIN or MAX per row (`Avg`), null for other loops. */
function valueAggregate(relation: LoopRelation): string | null {
  return relation.aggregate && relation.aggregateColumn ? (VALUE_AGGREGATES[relation.aggregate] ?? null) : null
}

/** A read that locks its rows (`SELECT ... FOR UPDATE`, `FOR SHARE`): its fix must lock them too. */
const locks = (loop: QueryFacts): boolean => /\sfor\s+(no\s+key\s+)?(update|share)\b/i.test(loop.normalized)

/** What a fix that reads rows by key says when the model's default manager leaves rows out: the loop's rows may be
 * some it does not hold (read through another manager). */
function filteredNote(model: ModelInfo | null | undefined): string {
  if (!model?.manager?.filtered) return ''
  const name = className(model.model)
  return ` (${name}.${model.manager.name} leaves rows out: if the loop reads rows it does not hold, use the loop's manager, or ${name}._base_manager)`
}

const lookupPath = (path: LoopStep[]): string => path.map((s) => s.field).join('__')
const queryPath = (path: LoopStep[]): string => path.map((s) => s.queryName ?? s.field).join('__')
const root = (relation: LoopRelation): string => relation.path[0]?.owner ?? relation.table

/** Where a Django loop's fix goes, in words: the queryset (`iterated`), and what a template or a prefetch adds. */
interface Place {
  iterated: string
  note: string
}

/**
 * Where the fix goes: `the queryset iterated at ...`, named `book.reviews` when its SQL is a related manager's (the
 * same SQL as `Review.objects.filter(book=book)`, which the text allows for). A template cannot call a queryset's
 * methods, so there the text says to add the fix in the view, and the code prefetches the manager where its parent
 * is loaded (see {@link onIterated}).
 */
function iteratedOf(relation: LoopRelation, loop: QueryFacts, view: string | null): Place {
  const where = at(relation.place)
  const { manager } = relation
  // No query of the unit gave the rows (they came from elsewhere: another thread, a cache): the loop's own line is where
  // its queries run, not where the rows are looped over.
  if (!relation.place) return { iterated: `the queryset whose rows the loop goes over (its queries run${at(loop.query)})`, note: '' }
  if (!manager) {
    // The code starts from the model's manager (`Book.objects`): pasted as it is, it would drop the rows' filter and
    // the values the queryset annotates.
    const sql = relation.place.sql
    const kept = [
      /\bWHERE\b/i.test(sql) ? 'filter()' : null,
      AGGREGATE_AS.test(sql.slice(0, sql.search(/\bFROM\b/i))) ? 'annotate()' : null,
      relation.ordered && !writesOrder(relation) ? 'order_by()' : null,
    ]
    const calls = kept.filter((call) => call !== null)
    const note = calls.length ? ` (keep the queryset's ${calls.join(' and ')}: the code leaves ${calls.length > 1 ? 'them' : 'it'} out)` : ''
    return { iterated: `the queryset iterated${where}`, note: note + passedBy(relation.place, view) }
  }
  if (manager.prefetched) {
    return {
      iterated: `the ${root(relation)} rows prefetched into ${manager.expression}${where}`,
      note: relation.viaFilteredLoad
        ? `; they come from the ${manager.parent} query's Prefetch("${manager.accessor}", queryset=...) there, which filters them: put it in that queryset, keeping its filter and to_attr`
        : `; they come from the ${manager.parent} query's prefetch there: put it in a Prefetch("${manager.accessor}", queryset=...) of that query`,
    }
  }
  return {
    iterated: `${manager.expression} (or the queryset filtered the same way) iterated${where}`,
    note: relation.place.template
      ? `; a template cannot call it: add it in the view, to the queryset it passes, or for ${manager.expression} with a Prefetch("${manager.accessor}", ...) where the ${manager.parent} is loaded`
      : '',
  }
}

/** An annotate() of an aggregate (a COUNT, SUM... per row) groups the rows, and Django then leaves the model's
 * Meta.ordering out: the fix writes the iterated queryset's order, when it has one of plain columns. */
const writesOrder = (relation: LoopRelation): boolean =>
  (relation.aggregate === 'count' || valueAggregate(relation) !== null) && (relation.order?.length ?? 0) > 0

/** `.order_by("-published")` for a fix that {@link writesOrder}, else nothing; and what the text says of the order. */
function orderAfterGrouping(relation: LoopRelation): { call: string; said: string } {
  if (writesOrder(relation)) return { call: `.order_by(${relation.order!.map(quote).join(', ')})`, said: ' (with the order_by() of the rows: an annotate() of an aggregate drops the model\'s Meta.ordering)' }
  if ((relation.aggregate === 'count' || valueAggregate(relation) !== null) && relation.order === null) {
    return { call: '', said: " (add the order_by() the rows need: an annotate() of an aggregate drops the model's Meta.ordering)" }
  }
  return { call: '', said: '' }
}

/**
 * Where a queryset only a template iterates comes from: no frame of the app's is on its query's stack (a class-based
 * view's TemplateResponse is rendered by Django after the view returned), so the template's line is all the place
 * says, and a template cannot change a queryset. The view that passes it can: named when the unit knows it.
 */
function passedBy(place: WireQuery, view: string | null): string {
  if (!place.template || place.callsite) return ''
  const name = view?.split('.').pop() ?? ''
  if (view?.startsWith('django.views.generic.base.')) {
    // TemplateView has no queryset: the template's rows come from its extra_context or a subclass's get_context_data().
    return `; a template cannot change it: add it where the queryset is made, ${name}'s extra_context in your URLconf or the get_context_data() of a subclass`
  }
  if (view?.startsWith('django.views.generic.')) {
    return `; a template cannot change it: give ${name}.as_view() the queryset in your URLconf (queryset=...), or subclass ${name} and set its queryset`
  }
  const classBased = /^[A-Z]/.test(name) ? ` (its queryset attribute or get_queryset())` : ''
  return `; a template cannot change it: add it in the view${view ? ` ${view}` : ''}, to the queryset it gives the template${classBased}`
}

/**
 * The code of the iterated queryset with `calls` added (`.select_related("customer")`): `queryset` (the model's
 * `objects`, or `queryset` without the schema), or the related manager (`book.reviews`); for a related manager
 * iterated in a template, `Book.objects.prefetch_related(Prefetch("reviews", queryset=Review.objects...))`.
 */
function onIterated(relation: LoopRelation, queryset: string, calls: string): string | null {
  const { manager } = relation
  if (!manager) return `${queryset}${calls}`
  if (!manager.prefetched && !relation.place?.template) return `${manager.expression}${calls}`
  // The rows came from a Prefetch that filters them: a new Prefetch of the relation would drop its filter and to_attr.
  if (manager.prefetched && relation.viaFilteredLoad) return null
  return `${manager.parent}.objects.prefetch_related(Prefetch("${manager.accessor}", queryset=${root(relation)}.objects${calls}))`
}

/** Django's ORM quotes every identifier it writes (`"shop_author"."id"`, MySQL's backticks); SQL written by hand
 * for `cursor.execute()` seldom does. */
const ORM_COLUMN = /(?:"[^"]+"\."[^"]+")|(?:`[^`]+`\.`[^`]+`)/

/** A loop of raw SQL (`cursor.execute()` per row): no queryset to add a loader to. */
function rawLoop(relation: LoopRelation, loop: QueryFacts, count: number): Suggestion {
  const column = `"${relation.table}"."${relation.column}"`
  const where = relation.place ? `, or join it in the query${at(relation.place)}` : ''
  return {
    text: `Fetch the "${relation.table}" rows for every key in one query (WHERE ${column} IN (...))${where}, instead of ${count} queries by ${column}, one per row${at(loop.query)}`,
    code: null,
  }
}

function djangoLoop(relation: LoopRelation, loop: QueryFacts, count: number, view: string | null): Suggestion {
  if (!ORM_COLUMN.test(loop.query.sql)) return rawLoop(relation, loop, count)
  const place = iteratedOf(relation, loop, view)
  const { iterated, note } = place
  const model = root(relation)
  const named = relation.path.length > 0 && relation.path.every((s) => s.field !== null)
  switch (relation.pattern) {
    case 'deferred': {
      const field = fieldOfColumn(relation.target, relation.deferredColumn!)
      const pk = relation.target?.pk ?? 'id'
      const loaded = (relation.parentColumns ?? []).filter((c) => !same(c, pk)).map((c) => fieldOfColumn(relation.target, c))
      const fields = [...loaded, field].map(quote).join(', ')
      return {
        text: `Include "${field}" in .only(...) (or remove it from .defer(...)) on ${iterated}: the deferred field is fetched with its own query for each of the ${count} rows${note}`,
        code: onIterated(relation, `${model}.objects`, `.only(${fields})`),
      }
    }
    case 'get': {
      const target = relation.target ? className(relation.target.model) : null
      // Rows locked one by one (select_for_update()) are locked all at once, in the same transaction.
      const lock = locks(loop) ? '.select_for_update()' : ''
      // The loop's other conditions go with the keys (`filter(pk=pk, stock__gt=0)`): in_bulk(ids) alone would return
      // rows the loop did not; no code when they cannot all be written exactly.
      const lookups = exactFilters(relation, loopClauses(loop), loop, relation.table)?.map(djangoLookup) ?? null
      // The loop's select_related goes with it: in_bulk(ids) alone would bring back an N+1 of the joined table.
      const joins = relation.loopJoined?.length ? `.select_related(${relation.loopJoined.map(quote).join(', ')})` : ''
      const bulk = `${joins}${lock}${lookups?.length ? `.filter(${lookups.join(', ')})` : ''}.in_bulk(ids)`
      const written =
        (lookups === null ? " (or .filter(pk__in=ids)) with the loop's other conditions" : lookups.length ? '' : ' (or .filter(pk__in=ids))') +
        (relation.loopJoined === null ? ", keeping the loop's select_related()," : '')
      return target
        ? {
            text: `Fetch the ${target} rows at once before the loop with ${target}.objects${bulk}${written} instead of ${count} lookups by primary key${at(loop.query)}${filteredNote(relation.target)}`,
            code: relation.target?.manager?.filtered || lookups === null || relation.loopJoined === null ? null : `${target}.objects${bulk}`,
          }
        : {
            text: `Fetch the "${relation.table}" rows at once before the loop with ${bulk}${written} instead of ${count} lookups by "${relation.column}"${at(loop.query)}`,
            code: null,
          }
    }
    case 'generic': {
      // GenericForeignKey.get_prefetch_queryset() groups the rows by content type: one query per type.
      const path = lookupPath(relation.path)
      const field = relation.path[relation.path.length - 1].field
      return {
        text: `Add .prefetch_related("${path}") to ${iterated}: reading .${field} runs a query for each row's object (${count} here on "${relation.table}"); the prefetch loads the objects with one query per content type${note}`,
        code: onIterated(relation, `${model}.objects`, `.prefetch_related("${path}")`),
      }
    }
    case 'forward':
    case 'reverse':
    case 'reverse_one':
    case 'm2m':
      if (named) return djangoEagerLoad(relation, loop, model, place, count)
      return unnamed(relation, loop, count, 'select_related() or prefetch_related()')
    default:
      return relation.triggerIndex === null
        ? keysAtOnce(relation, loop, count, 'django')
        : unnamed(relation, loop, count, 'select_related() or prefetch_related()')
  }
}

/** An aggregate the select list names (`COUNT(DISTINCT "shop_review"."id") AS "reviews_count"`): an annotate(). */
const AGGREGATE_AS = new RegExp(`${AGGREGATE_CALL}\\s+AS\\s`, 'i')

/** Whether `place` selects a value named `name` (`COUNT(...) AS "reviews_count"`): an annotation of the queryset. */
const annotates = (place: WireQuery | null, name: string): boolean =>
  place !== null && new RegExp(`\\bAS\\s+["\`]?${name}["\`]?\\s*(,|\\bFROM\\b)`, 'i').test(place.sql)

/** What each of the loop's queries asks beyond its key, which a plain prefetch of the relation does not serve. */
interface PerRow {
  clauses: LoopClauses
  /** The loop's other conditions as lookups, or null when they cannot all be written exactly: no code then. */
  lookups: Lookups | null
  filtered: boolean
  /** .first(), .last() or a slice: LIMIT 21 without ORDER BY is get(), whose row a prefetch cannot hand over either. */
  cut: boolean
  reorders: boolean
}

function perRow(relation: LoopRelation, loop: QueryFacts): PerRow {
  const last = relation.path[relation.path.length - 1]
  const clauses = loopClauses(loop)
  return {
    clauses,
    lookups: clauses.plain ? exactLookups(relation, clauses, loop, last.targetTable) : null,
    filtered: isFiltered(relation, clauses),
    cut: relation.aggregate === null && !last.single && clauses.limit !== null && (clauses.ordered || clauses.limit !== 21),
    reorders: reordered(relation, clauses),
  }
}

function djangoEagerLoad(relation: LoopRelation, loop: QueryFacts, model: string, place: Place, count: number): Suggestion {
  const { iterated, note } = place
  const path = lookupPath(relation.path)
  const last = relation.path[relation.path.length - 1]
  const qs = relation.path[0].owner === relation.path[0].ownerTable ? 'queryset' : `${model}.objects`
  const { clauses, lookups, filtered, cut, reorders } = perRow(relation, loop)
  if (relation.aggregate === 'count') {
    const name = `${(last.queryName ?? last.field)!.replace(/_set$/, '')}_count`
    const only = qOf(lookups, `${queryPath(relation.path)}__`)
    // distinct=True: a second Count() over another join on the same queryset would otherwise multiply this one.
    const counted = `Count("${queryPath(relation.path)}"${only ? `, filter=${only}` : ''}, distinct=True)`
    if (annotates(relation.place, name)) {
      // The fix is in already, and the loop still counts: it reads the relation, not the annotation.
      return {
        text: `The queryset iterated${at(relation.place)} annotates ${name} already: read .${name} in the loop (in a template {{ obj.${name} }}) instead of .${last.field}.count(), which still runs ${count} COUNT queries, one per row`,
        code: null,
      }
    }
    const order = orderAfterGrouping(relation)
    return {
      text: `Annotate the count on ${iterated} with .annotate(${name}=${counted})${order.call} and read .${name} instead of running ${count} COUNT queries, one per row${order.said}${note}`,
      code: lookups ? onIterated(relation, qs, `.annotate(${name}=${counted})${order.call}`) : null,
    }
  }
  const fn = valueAggregate(relation)
  if (fn) {
    // AVG/SUM/MIN/MAX per row: an annotation over the relation (a prefetch would load the rows and still run these).
    const field = fieldOfColumn(relation.target, relation.aggregateColumn!)
    const name = `${(last.queryName ?? last.field)!.replace(/_set$/, '')}_${field}_${relation.aggregate}`
    const only = qOf(lookups, `${queryPath(relation.path)}__`)
    const annotation = `${fn}("${queryPath(relation.path)}__${field}"${only ? `, filter=${only}` : ''})`
    // A sum over a join counts a row once per row of any other to-many join of the queryset: say so.
    const twice = fn === 'Sum' ? ' (if the queryset also joins another to-many relation, the sum counts rows more than once: use a Subquery then)' : ''
    const order = orderAfterGrouping(relation)
    return {
      text: `Annotate the ${fn} on ${iterated} with .annotate(${name}=${annotation})${order.call} and read .${name} instead of running ${count} ${relation.aggregate!.toUpperCase()} queries, one per row${twice}${order.said}${note}`,
      code: lookups ? onIterated(relation, qs, `.annotate(${name}=${annotation})${order.call}`) : null,
    }
  }
  if (relation.aggregate === 'exists' && relation.path.length === 1 && relation.backField) {
    const name = `has_${queryPath(relation.path)}`
    const sameRows = lookups && clauses.joins === (relation.pattern === 'm2m' ? 1 : 0) ? lookups : null
    const exists = `Exists(${djangoQueryset(last.target, sameRows, [`${relation.backField}=OuterRef("pk")`])})`
    return {
      text: `Annotate the check on ${iterated} with .annotate(${name}=${exists}) and read .${name} instead of ${count} EXISTS queries, one per row${note}`,
      code: sameRows ? onIterated(relation, qs, `.annotate(${name}=${exists})`) : null,
    }
  }
  if (relation.prefetched && relation.path.length === 1 && !filtered && !cut && !reorders) {
    // The very rows a plain prefetch loaded, queried again: not through the prefetched manager (which would not query).
    return {
      text: `The rows are loaded already by the plain prefetch_related("${path}") on ${iterated}: read them as .${last.field}.all() in the loop instead of ${count} queries, one per row (a query of its own, such as ${last.target}.objects.${relation.backField ? `filter(${relation.backField}=...)` : 'filter(...)'}, is not served by it)${note}`,
      code: null,
    }
  }
  if ((relation.prefetched && relation.path.length === 1) || filtered || cut || reorders) {
    return djangoPrefetchObject(relation, loop, clauses, lookups, qs, place, count, cut)
  }
  const [first, ...further] = relation.path
  if (first.generic && further.length > 0) {
    // Through a GenericForeignKey: select_related cannot follow it, nor a plain prefetch path the objects of every
    // type (a type without the field raises); GenericPrefetch (Django 5.0) gives one model's objects their loads.
    const loads = `${further[0].owner}.objects.${further.every((s) => s.single) ? 'select_related' : 'prefetch_related'}("${lookupPath(further)}")`
    const generic = `GenericPrefetch("${first.field}", [${loads}])`
    return {
      text: `Add .prefetch_related(${generic}) to ${iterated}: the ${further[0].owner} objects of .${first.field} come with their "${lookupPath(further)}" instead of ${count} queries, one per row (GenericPrefetch is Django 5.0's; other content types are prefetched as before)${note}`,
      code: onIterated(relation, qs, `.prefetch_related(${generic})`),
    }
  }
  if (relation.viaFilteredLoad && further.length > 0) {
    // Prefetch("books", queryset=Book.objects.filter(...)): a plain "books__tags" would load every book again (into
    // .books, or beside a to_attr the loop reads), not the rows of the loop; the load goes into that queryset.
    const rest = lookupPath(further)
    const load = `.${further.every((s) => s.single) ? 'select_related' : 'prefetch_related'}("${rest}")`
    return {
      text: `Add ${load} to the queryset of the Prefetch("${first.field}", queryset=...) on ${iterated} instead of ${count} queries, one per row: the loop's rows come from that Prefetch, which filters them, and a plain prefetch_related("${path}") would not reach them (with a to_attr on it, .prefetch_related("<to_attr>__${rest}") after it does too)${note}`,
      code: null,
    }
  }
  const method = relation.path.every((s) => s.single) ? 'select_related' : 'prefetch_related'
  const readIt = djangoReadIt(relation)
  // The code stands for the queryset with the fix: pasted in its place, it keeps loading the FKs it joins already.
  const oneHop = !relation.manager && (relation.path.length === 1 || relation.viaJoin === true)
  const joined = oneHop ? relation.joined : []
  const kept =
    joined === null
      ? ' (keep the select_related() the queryset has: the code leaves it out)'
      : joined.length
        ? ` (the code keeps the ${joined.map(quote).join(', ')} it loads already)`
        : ''
  // Several FKs to the looked-up table, all selected: the queries do not say which each read, so load them all.
  const fields = method === 'select_related' && oneHop ? [path, ...relation.siblings] : [path]
  const named = fields.map(quote).join(', ')
  const which =
    fields.length === 1
      ? ''
      : fields.every((field) => !field.includes('__'))
        ? `: ${fields.length} foreign keys of ${model} point at ${last.target} and its queries do not say which one each read, so it loads them all`
        : `: ${fields.length} relations of ${model} lead to ${last.target} (${fields.map((field) => `.${field.replaceAll('__', '.')}`).join(', ')}) and its queries do not say which one each read, so it loads them all`
  const keep = joined?.length ? joined.map(quote).join(', ') : ''
  const calls =
    method === 'select_related' ? `.select_related(${[keep, named].filter(Boolean).join(', ')})` : `${keep ? `.select_related(${keep})` : ''}.prefetch_related(${named})`
  return {
    text: `Add .${method}(${named}) to ${iterated}: it loads ${last.field === path ? named : `"${last.field}" of every row`} in ${method === 'select_related' ? 'the same query' : 'one more query'} instead of ${count} queries, one per row${which}${readIt}${kept}${note}`,
    code: onIterated(relation, qs, calls),
  }
}

/**
 * How the loop must read what the loader brings. The same SQL comes from `book.author` and from
 * `Author.objects.get(pk=book.author_id)`, from `book.reviews.all()` and from `Review.objects.filter(book=book)`: no
 * loader serves a query of the app's own, and the SQL cannot tell which one the loop wrote. One hop only: further
 * hops are read the same way from each row of the one before.
 */
function djangoReadIt(relation: LoopRelation): string {
  const last = relation.path[relation.path.length - 1]
  if (!(relation.path.length === 1 || relation.viaJoin) || !last.field) return ''
  const notServed = (example: string) => `a query of its own, such as ${last.target}.objects.${example}, is not served by it`
  const back = relation.backField
  switch (relation.pattern) {
    case 'forward': {
      // Several FKs loaded (siblings): which one each query read is not known.
      const fields = [lookupPath(relation.path), ...relation.siblings].map((field) => `.${field.replaceAll('__', '.')}`).join(' or ')
      return ` (read it as ${fields} in the loop${relation.siblings.length ? ', whichever it reads' : ''}: ${notServed('get(pk=...)')})`
    }
    case 'reverse_one':
      return ` (read it as .${last.field} in the loop: ${notServed(back ? `get(${back}=...)` : 'get(...)')})`
    case 'reverse':
    case 'm2m':
      return ` (read them as .${last.field}.all() in the loop: ${notServed(back ? `filter(${back}=...)` : 'filter(...)')})`
    default:
      return ''
  }
}

/**
 * A related manager filtered (`.filter()`), ordered and cut (`.order_by().first()`, a slice) for each row, or queried
 * again after a plain prefetch: Django runs each of those calls as a query, whatever was prefetched. The rows to
 * prefetch are named with `Prefetch(queryset=)`, with the loop's conditions, order and cut; the loop then reads them
 * with `.all()`, or from a list (`to_attr`) when it takes the first rows. Code only when all of that could be
 * written exactly.
 */
function djangoPrefetchObject(
  relation: LoopRelation,
  loop: QueryFacts,
  clauses: LoopClauses,
  lookups: Lookups | null,
  qs: string,
  { iterated, note }: Place,
  count: number,
  cut: boolean,
): Suggestion {
  const path = lookupPath(relation.path)
  const last = relation.path[relation.path.length - 1]
  const order = clauses.ordered ? djangoOrder(clauses, loop, last.targetTable) : []
  // Only the rows of the related table itself (an M2M joins its through table), and only for one hop: in a nested
  // loop the outer hop may be filtered or cut too, which the joined path would not repeat.
  const exact = lookups && order && clauses.joins === (relation.pattern === 'm2m' ? 1 : 0) && relation.path.length === 1
  let queryset = djangoQueryset(last.target, exact ? lookups : null)
  if (clauses.ordered) queryset = `${queryset.replace(/\.all\(\)$/, '')}.order_by(${order ? order.map(quote).join(', ') : "<the loop's order>"})`
  if (cut) queryset += `[:${clauses.limit}]`
  // Beside a plain prefetch the rows go to a list of their own: that prefetch may serve other reads of the relation
  // (`.all()` elsewhere in the loop), which the filtered rows would replace; and Django refuses one lookup prefetched
  // twice with different querysets.
  const besidePlain = relation.prefetched
  // A cut list is named by its order too: .first() and .last() in one loop are two lists of one relation, and two
  // Prefetch objects with one to_attr and different querysets make Django raise.
  const byOrder = order && order.length ? [`by_${order.map((o) => (o.startsWith('-') ? `${o.slice(1)}_desc` : o)).join('_')}`] : []
  const cutName = (): string => {
    const named = listName(`${last.field}`, [...(exact ? lookups : []), ...byOrder])
    // Too long a name falls back to one without the conditions: never to the same one for .first() and .last().
    return named === `${last.field}_list` && byOrder.length ? listName(`${last.field}`, byOrder) : named
  }
  const list = cut ? cutName() : !besidePlain ? `${last.field}_list` : listName(`${last.field}`, exact ? lookups : null)
  const toList = cut || besidePlain
  const prefetch = `Prefetch("${path}", queryset=${queryset}${toList ? `, to_attr="${list}"` : ''})`
  const manager = isFiltered(relation, clauses) ? 'a filtered related manager' : 'the related manager, queried this way,'
  const how = cut
    ? clauses.limit === 1
      ? `in the loop take the first of .${list} (empty where .first() gave None): .first() or a slice of the related manager`
      : `read .${list} in the loop: a slice of the related manager`
    : toList
      ? `read .${list} (a list) in the loop instead: ${manager}`
      : `read them with .all() in the loop: ${manager}`
  const what = besidePlain
    ? `Add ${prefetch} beside the plain prefetch_related("${path}")`
    : `Prefetch the rows with ${prefetch}`
  const keep = besidePlain ? `; keep the plain prefetch for the loop's other reads of .${last.field}, or drop it if there are none` : ''
  const version = cut ? ' (a sliced queryset in Prefetch needs Django 4.2 or later)' : ''
  const lookupsToAdd = besidePlain ? `"${path}", ${prefetch}` : prefetch
  return {
    text: `${what} on ${iterated} and ${how} queries again for each row (${count} queries), even after a plain prefetch_related("${path}")${keep}${version}${note}`,
    code: exact ? onIterated(relation, qs, `.prefetch_related(${lookupsToAdd})`) : null,
  }
}

/** A `to_attr` name for filtered rows kept beside the relation's own: `reviews_rating_gte_4`, or `reviews_list` when
 * the conditions are not known or make too long a name. */
function listName(field: string, lookups: Lookups | null): string {
  if (!lookups || lookups.length === 0) return `${field}_list`
  // A minus sign and a letter's case tell values apart: `rating__gte=-1` is not `=1`, "A" not "a".
  const words = lookups.join('_').replace(/-(?=\d)/g, 'minus').replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, '')
  const name = `${field}_${words}`
  return name.length <= 40 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : `${field}_list`
}

/**
 * Whether a related manager's rows come in an order of the loop's own (`book.reviews.order_by("-stars")`), which a
 * plain prefetch_related does not serve: an ORDER BY other than the target model's default ordering, both as columns
 * (the agent sends `Meta.ordering` so). Not known without that ordering (an older agent, an expression, a related
 * field): then no claim.
 */
function reordered(relation: LoopRelation, clauses: LoopClauses): boolean {
  const last = relation.path[relation.path.length - 1]
  return !last.single && clauses.order !== null && ordersOtherwise(clauses, last.targetTable, last.targetOrdering)
}

/** Whether the loop's WHERE has more than its key (Django's own related-manager query is the key alone). */
const isFiltered = (relation: LoopRelation, clauses: LoopClauses): boolean =>
  relation.filters.length > 0 || clauses.conditions === null || clauses.conditions > 1

/** The loop's ORDER BY as order_by() fields, when it orders by columns named with the related table. */
function djangoOrder(clauses: LoopClauses, loop: QueryFacts, table: string): string[] | null {
  if (!clauses.order) return null
  const fields: string[] = []
  for (const [owner, column, descending] of clauses.order) {
    if (owner === null || !same(owner, table) || !fieldLike(column, loop)) return null // an alias, another table's column
    fields.push(`${descending ? '-' : ''}${column}`)
  }
  return fields
}

/** Django lookups that filter as the loop's conditions did: `stock__gt=0`. */
type Lookups = string[]

/**
 * The loop's conditions besides its key as Django lookups, when the WHERE has exactly the key and those conditions,
 * each a plain comparison on `table` with a value that can be written exactly. Null otherwise: a lookup left out or
 * turned into another would load other rows than the loop.
 */
function exactLookups(relation: LoopRelation, clauses: LoopClauses, loop: QueryFacts, table: string): Lookups | null {
  return exactFilters(relation, clauses, loop, table)?.map(djangoLookup) ?? null
}

const DJANGO_RANGES: Record<string, string> = { '>': '__gt', '>=': '__gte', '<': '__lt', '<=': '__lte' }
/** A filter {@link exactFilters} let through, as a Django lookup. */
const djangoLookup = (filter: LoopFilter): string => `${filter.column}${filter.op === '=' ? '' : DJANGO_RANGES[filter.op]}=${exactValue(filter.value)}`

/** The loop's conditions besides its key, when they can all be written exactly: `=` and the ranges, of plain
 * columns, with values written in full. (!= drops NULLs where exclude() keeps them, and LIKE's case rules differ by
 * database.) */
function exactFilters(relation: LoopRelation, clauses: LoopClauses, loop: QueryFacts, table: string): LoopFilter[] | null {
  if (clauses.conditions !== relation.filters.length + 1) return null
  const exact = relation.filters.every(
    (filter) =>
      (filter.table === null || same(filter.table, table)) &&
      fieldLike(filter.column, loop) &&
      exactValue(filter.value) !== null &&
      !filter.folded &&
      ((filter.role === 'eq' && filter.op === '=') || (filter.role === 'range' && filter.op in DJANGO_RANGES)),
  )
  return exact ? relation.filters : null
}

/** A column that can stand for its field in a lookup: a plain lower-case name, written so in the SQL (no quoted
 * name with spaces or capitals, which Django would only write for a `db_column`; SQLAlchemy's `books.published`). */
function fieldLike(column: string, loop: QueryFacts): boolean {
  const sql = loop.query.sql
  return /^[a-z_][a-z0-9_]*$/.test(column) && (sql.includes(`"${column}"`) || sql.includes(`\`${column}\``) || new RegExp(`\\.${column}\\b`).test(sql))
}

/** A parameter value as Python source, when it can be written in full and compares as SQL does (py() shortens long
 * strings; `= NULL` matches nothing, where a lookup `=None` means IS NULL). */
function exactValue(value: ParamValue | undefined): string | null {
  if (value === undefined || value === null || Array.isArray(value) || typeof value === 'object') return null
  if (typeof value === 'string' && value.length > 40) return null
  return py(value)
}

/** `Review.objects.filter(rating__gte=4)` (`extra` lookups first); the conditions named in words when not known. */
function djangoQueryset(model: string, lookups: Lookups | null, extra: string[] = []): string {
  const all = [...extra, ...(lookups ?? ["<the loop's other conditions>"])]
  return `${model}.objects.${all.length ? `filter(${all.join(', ')})` : 'all()'}`
}

/** `Q(books__stock__gt=0)`: the conditions of an aggregate's `filter=` ('' for none). */
function qOf(lookups: Lookups | null, prefix: string): string {
  if (!lookups) return "Q(<the loop's other conditions>)"
  return lookups.length ? `Q(${lookups.map((lookup) => prefix + lookup).join(', ')})` : ''
}

function unnamed(relation: LoopRelation, loop: QueryFacts, count: number, how: string): Suggestion {
  const parent = relation.path[0]
  const from = parent && parent.ownerTable !== relation.table ? ` for every "${parent.ownerTable}" row` : ''
  const place = relation.place ? `on the queryset iterated${at(relation.place)}` : `before the loop that runs the query${at(loop.query)}`
  return {
    text: `Load the "${relation.table}" rows${from} in one query (WHERE "${relation.column}" IN (...)) instead of ${count} queries by "${relation.table}"."${relation.column}", one per row: use ${how} ${place}`,
    code: null,
  }
}

/** A lookup by a plain column in a loop, without a parent query: fetch every key in one query before the loop. */
function keysAtOnce(relation: LoopRelation, loop: QueryFacts, count: number, orm: Orm): Suggestion {
  const model = relation.target ? className(relation.target.model) : null
  const column = `"${relation.table}"."${relation.column}"`
  const key = relation.column
  // The loop's other conditions go with the keys (a GenericRelation's content type: without it, other models' rows
  // sharing an id come too); none written when they cannot all be written exactly.
  const clauses = loopClauses(loop)
  const others = clauses.plain ? exactFilters(relation, clauses, loop, relation.table) : null
  const { aggregate, caseless } = relation
  const conditions =
    !model || !others || (caseless && aggregate)
      ? null
      : orm === 'django'
        ? caseless
          ? [`reduce(or_, [Q(${key}__iexact=v) for v in values])`, ...others.map(djangoLookup)] // (a Q goes first)
          : [...others.map(djangoLookup), `${key}__in=values`]
        : [...others.map((c) => sqlalchemyCondition(model, c)), caseless ? sqlalchemyCaseless(model, key, caseless) : `${model}.${key}.in_(values)`]
  const code = model && conditions ? keysQuery(relation, model, conditions.join(', '), orm) : null
  // A COUNT, SUM... or EXISTS per key (a count per status): one grouped query, read by key.
  const grouped = aggregate === 'count' || valueAggregate(relation) !== null
  const keys = caseless ? `${column} equal to any key, compared case-insensitively as the loop compares` : `${column} IN (...)`
  const how = code ? ` with ${code}` : ` (WHERE ${keys}${others && others.length === 0 ? '' : " and the loop's other conditions"}${locks(loop) ? ', locking them as the loop does' : ''})`
  const what = grouped
    ? `${aggregate === 'count' ? 'Count the rows' : `Compute the ${aggregate!.toUpperCase()}`} of every key in one grouped query`
    : aggregate === 'exists'
      ? 'Find which keys have rows in one query'
      : 'Fetch the rows for every key at once'
  const readBack = grouped
    ? `, and read each key's ${aggregate} from it in the loop (a key with no rows is missing${aggregate === 'count' ? ': 0' : ''})`
    : aggregate === 'exists'
      ? ', and check each key against it in the loop'
      : caseless
        ? `, then match each row to its key case-insensitively in the loop`
        : orm === 'sqlalchemy'
          ? `, then group them by ${model ?? relation.table}.${key} and read each row's from that in the loop`
          : `, then group them by their ${key} and read each key's from that in the loop`
  const filtered = orm === 'django' && relation.target?.manager?.filtered
  const queries = aggregate ? `${aggregate.toUpperCase()} queries` : 'queries'
  return {
    text: `${what} before the loop${how}${readBack} instead of ${count} ${queries} by ${column}, one per row${at(loop.query)}${orm === 'django' ? filteredNote(relation.target) : ''}`,
    code: filtered ? null : code,
  }
}

/** The one query of {@link keysAtOnce}: every key's rows, or their count (sum, average...) grouped by key, or the keys
 * that have rows. */
function keysQuery(relation: LoopRelation, model: string, where: string, orm: Orm): string {
  const key = relation.column
  const { aggregate } = relation
  const fn = valueAggregate(relation)
  if (orm === 'django') {
    const rows = `${model}.objects.filter(${where})`
    if (aggregate === 'count') return `${rows}.values("${key}").annotate(count=Count("pk"))`
    if (fn) return `${rows}.values("${key}").annotate(${aggregate}=${fn}("${fieldOfColumn(relation.target, relation.aggregateColumn!)}"))`
    // order_by(): a Meta.ordering's columns would go into distinct() and repeat keys.
    if (aggregate === 'exists') return `${rows}.order_by().values_list("${key}", flat=True).distinct()`
    return rows
  }
  const grouped = aggregate === 'count' ? 'func.count()' : fn ? `func.${aggregate}(${model}.${relation.aggregateColumn})` : null
  if (grouped) return `session.execute(select(${model}.${key}, ${grouped}).where(${where}).group_by(${model}.${key})).all()`
  if (aggregate === 'exists') return `set(session.scalars(select(${model}.${key}).where(${where}).distinct()))`
  return `session.scalars(select(${model}).where(${where})).all()`
}

// The agent leaves dynamic and write_only relationships out of the schema (eager loading them raises): a loop over
// one reaches here without a named relationship.
const SQLALCHEMY_LOADERS =
  'selectinload() or joinedload() of the relationship (a dynamic or write_only one cannot be eager-loaded: select the rows with .in_() and group them)'

function sqlalchemyLoop(relation: LoopRelation, loop: QueryFacts, count: number): Suggestion {
  const iterated = relation.place ? `the query iterated${at(relation.place)}` : `the query whose rows the loop goes over (its queries run${at(loop.query)})`
  const model = root(relation)
  const named = relation.path.length > 0 && relation.path.every((s) => s.field !== null)
  const last = relation.path[relation.path.length - 1]
  switch (relation.pattern) {
    case 'deferred':
      return {
        text: `Undefer "${relation.deferredColumn}" on ${iterated} with .options(undefer(${model}.${relation.deferredColumn})): the deferred column is loaded with its own query for each of the ${count} rows`,
        code: `select(${model}).options(undefer(${model}.${relation.deferredColumn}))`,
      }
    case 'get': {
      const target = relation.target ? className(relation.target.model) : relation.table
      const pk = relation.target?.pk ?? relation.column
      if (relation.readBack) {
        // A commit() after the rows were loaded (per row, or before this loop): the session expires every object it
        // holds, and each is loaded again when read.
        return {
          text: `Each of the ${count} queries reads a ${target} row again after a write to its table${at(loop.query)}: a commit() expires the session's objects (expire_on_commit) and each is reloaded by its key; commit once after the writes, or make the session with expire_on_commit=False`,
          code: null,
        }
      }
      if (loop.shape.selectsOnlyExpressions && !loop.shape.aggregate) {
        // `SELECT (SELECT count(...) ...) AS anon_1 FROM books WHERE books.id = ?`: one deferred expression of a row
        // (a column_property), not the row; rows fetched at once would be more queries, not fewer.
        return {
          text: `Each of the ${count} queries loads a deferred expression of a ${target} row (a column_property or query_expression), not the row${at(loop.query)}: undefer it on the query whose rows the loop reads, .options(undefer(${target}.<its attribute>)), or select it there`,
          code: null,
        }
      }
      // Kept in a dict, read by key in the loop: the session holds its objects only while something refers to them,
      // so a result thrown away saves no session.get() and adds a query.
      const rows = `${target.toLowerCase()}_by_${pk}`
      // With the loop's other conditions, as for Django's in_bulk.
      const others = exactFilters(relation, loopClauses(loop), loop, relation.table)
      const where = [...(others ?? []).map((filter) => sqlalchemyCondition(target, filter)), `${target}.${pk}.in_(ids)`].join(', ')
      const fetch = `{row.${pk}: row for row in session.scalars(select(${target}).where(${where})${locks(loop) ? '.with_for_update()' : ''})}`
      return {
        text: `Fetch the ${target} rows at once before the loop into a dict, ${rows} = ${fetch}, and read ${rows}[...] in the loop${others === null ? " (with the loop's other conditions)" : ''} instead of ${count} lookups by primary key${at(loop.query)} (a session.refresh() per row always queries: reload them all with that select and .execution_options(populate_existing=True) instead)`,
        code: others === null ? null : `${rows} = ${fetch}`,
      }
    }
    case 'forward':
    case 'reverse':
    case 'reverse_one':
    case 'm2m': {
      if (!named) return unnamed(relation, loop, count, SQLALCHEMY_LOADERS)
      // The loop's own conditions (`select(Comment).where(Comment.post_id == p.id, Comment.stars >= 3)`) go on the
      // last hop with .and_(); null when they cannot all be written exactly (no code then).
      const criteria = relation.filters.length === 0 ? [] : exactFilters(relation, loopClauses(loop), loop, last.targetTable)
      const and = criteria?.length ? `.and_(${criteria.map((f) => sqlalchemyCondition(last.target, f)).join(', ')})` : ''
      const unwritten = criteria === null ? " (with the loop's other conditions on it: .and_(...))" : ''
      if (relation.aggregate && relation.path.length === 1) {
        const target = last.target
        const value = valueAggregate(relation) ? relation.aggregate : null
        const computed = value ? `func.${value}(${target}.${relation.aggregateColumn})` : `func.count(${target}.${relation.target?.pk ?? 'id'})`
        return {
          text: `${value ? `Compute the ${value.toUpperCase()}` : 'Count'} in the same query as ${iterated} (a grouped outer join on ${model}.${last.field}${and}${unwritten}) instead of ${count} ${value ? value.toUpperCase() : 'COUNT'} queries, one per row`,
          code: criteria === null ? null : `select(${model}, ${computed}).outerjoin(${model}.${last.field}${and}).group_by(${model}.id)`,
        }
      }
      const chained = relation.path
        .map((s, i) => `${s.loader ?? (s.single ? 'joinedload' : 'selectinload')}(${s.owner}.${s.field}${i === relation.path.length - 1 ? and : ''})`)
        .join('.')
      if (!last.single && loop.shape.hasLimit) {
        // .limit(n) per row (its first, its latest...): a loader takes every row of the relation.
        return {
          text: `Load the related rows of every row at once with .options(${chained}) on ${iterated}, in the loop's order, and take each row's first ones from them in the loop instead of ${count} queries with a LIMIT, one per row (no loader applies a LIMIT per row: for many rows each, a window function, row_number() over a partition by the key)${unwritten}`,
          code: null,
        }
      }
      if (criteria === null) {
        return { text: `Add .options(${chained}) to ${iterated}${unwritten} instead of ${count} queries, one per row, and read them through ${last.owner}.${last.field} in the loop`, code: null }
      }
      if (relation.viaFilteredLoad) {
        // selectinload(Author.books.and_(...)): its criteria (or a relationship's own join) stay with the first load.
        return {
          text: `Add .options(${chained}) to ${iterated}, keeping the criteria of the load of ${relation.path[0].owner}.${relation.path[0].field} the query has (its .and_(...)), instead of ${count} lazy loads, one per row: the loop's rows come from that load, which filters them`,
          code: null,
        }
      }
      // Several relationships to the looked-up table, all of whose keys were selected: load them all (see siblings).
      const siblings = relation.path.length === 1 ? relation.siblings.map((field) => `joinedload(${last.owner}.${field})`) : []
      const options = [chained, ...siblings].join(', ')
      // A select() of the app's own makes the same kind of lookup as a lazy load, and no loader option serves it.
      const through = [last.field, ...(relation.path.length === 1 ? relation.siblings : [])].map((field) => `${last.owner}.${field}`)
      const readIt =
        relation.path.length === 1 && ['forward', 'reverse_one', 'reverse', 'm2m'].includes(relation.pattern)
          ? ` (read ${last.single ? 'it' : 'them'} through ${through.join(' or ')} in the loop${through.length > 1 ? ', whichever it reads' : ''}: a select(${last.target}) of its own is not served by it)`
          : ''
      if (relation.parentLoad?.by === 'get') {
        // The rows came from one object's relationship, the object from session.get(): the options go there.
        const { pk } = relation.parentLoad
        return {
          text: `Load the ${model}${at(relation.place)} with its related rows up front, session.get(${model}, ${pk}, options=[${options}]) (or, when the ${model} was reached through a relationship, such as post.${model.toLowerCase()}, chain the options on the query that loaded that object), instead of ${count} lazy loads, one per row${readIt}`,
          code: `session.get(${model}, ${pk}, options=[${options}])`,
        }
      }
      return {
        text: `Add .options(${options}) to ${iterated}: it loads the related rows up front instead of ${count} lazy loads, one per row${readIt}`,
        code: `select(${model}).options(${options})`,
      }
    }
    default:
      return relation.triggerIndex === null
        ? keysAtOnce(relation, loop, count, 'sqlalchemy')
        : unnamed(relation, loop, count, SQLALCHEMY_LOADERS)
  }
}

/** Any of the keys, compared as the loop compares its key: `or_(*[User.email.ilike(v) for v in values])`. */
function sqlalchemyCaseless(model: string, key: string, caseless: string): string {
  const column = `${model}.${key}`
  const compare = caseless === 'like' || caseless === 'ilike' ? `${column}.${caseless}(v)` : `func.${caseless}(${column}) == func.${caseless}(v)`
  return `or_(*[${compare} for v in values])`
}

function sqlalchemyCondition(model: string, filter: LoopFilter): string {
  const op = filter.role === 'ne' ? '!=' : filter.op === '=' ? '==' : filter.op
  if (filter.op === 'in') return `${model}.${filter.column}.in_(${py(filter.value)})`
  if (filter.role === 'like') return `${model}.${filter.column}.like(${py(filter.value)})`
  return `${model}.${filter.column} ${op} ${py(filter.value)}`
}

// ---------------------------------------------------------------------------------------------------------------
// Repeated writes
// ---------------------------------------------------------------------------------------------------------------

export function suggestWrites(group: QueryFacts[], ctx: DetectContext): Suggestion {
  const fix = writesFix(group, ctx)
  if (ctx.orm === 'sqlalchemy') return withAwait(fix, ctx)
  const modelInfo = ctx.schema?.byTable(group[0].shape.mainTables[0] ?? '')
  if (ctx.orm !== 'django' || !modelInfo) return fix
  const kind = group[0].shape.kind
  return withSaveSignals(onBaseManager(withManagers(fix, [modelInfo.table], ctx.schema), modelInfo, kind), modelInfo, kind)
}

/** An UPDATE or DELETE fix on a default manager that leaves rows out would skip them: `_base_manager`, as save() and
 * delete() use, instead. */
function onBaseManager(fix: Suggestion, model: ModelInfo, kind: string): Suggestion {
  if (!model.manager?.filtered || (kind !== 'update' && kind !== 'delete')) return fix
  const name = className(model.model)
  const manager = `\\b${name}\\.${model.manager.name}\\.`
  const base = (text: string): string => text.replace(new RegExp(manager, 'g'), `${name}._base_manager.`)
  const note = ` (on ${name}._base_manager, as ${kind === 'update' ? 'save()' : 'delete()'} uses: ${name}.${model.manager.name} leaves rows out)`
  return { text: base(fix.text) + (new RegExp(manager).test(fix.text) ? note : ''), code: fix.code === null ? null : base(fix.code) }
}

/** A bulk fix for rows saved one by one skips the model's save signals: say so, with their receivers' work to do. */
function withSaveSignals(fix: Suggestion, model: ModelInfo, kind: string): Suggestion {
  const signals = model.save_signals ?? []
  if (signals.length === 0 || (kind !== 'insert' && kind !== 'update')) return fix
  const bulk = kind === 'insert' ? 'bulk_create()' : 'bulk_update() and update()'
  return {
    ...fix,
    text: `${fix.text}. ${className(model.model)} has ${signals.join(' and ')} receivers: save() and create() run them for each row, ${bulk} send${kind === 'insert' ? 's' : ''} no signals, so do their work for these rows too`,
  }
}

function writesFix(group: QueryFacts[], ctx: DetectContext): Suggestion {
  const first = group[0]
  const { shape } = first
  const table = shape.mainTables[0] ?? 'the table'
  const modelInfo = ctx.schema?.byTable(table)
  const model = modelInfo ? className(modelInfo.model) : null
  const name = model ?? `"${table}"`
  const count = group.length
  // The line that writes, and the one that called it: the loop may be in the caller (a post_save receiver's INSERT, a
  // helper's), which the text then does not place at the writing line.
  const caller = first.query.template ? null : first.query.stack[1]
  const where = `${at(first.query)}${caller ? ` (called from ${caller.file}:${caller.line})` : ''}`
  const fieldOf = (column: string): string => fieldOfColumn(modelInfo, column)
  // The key: the WHERE column whose value changes from write to write (`book_id` of `order_id = 7 AND book_id = ?`).
  const keys = shape.slots.map((s, i) => i).filter((i) => (shape.slots[i].role === 'eq' || shape.slots[i].role === 'in') && shape.slots[i].column)
  const keyIndex = keys.find((i) => group.some((f) => f.slotValues[i] !== first.slotValues[i])) ?? keys[0] ?? -1
  // Other conditions of the WHERE, which one IN list of the key would drop: no code then.
  const otherConditions = shape.slots.some((s, i) => i !== keyIndex && s.role !== 'set' && s.role !== 'values' && s.column)
  const keyColumn = keyIndex >= 0 ? shape.slots[keyIndex].column!.column : (modelInfo?.pk ?? 'id')
  const isPk = same(keyColumn, modelInfo?.pk ?? 'id')
  const sa = ctx.orm === 'sqlalchemy'
  const saModel = model ?? table
  const key = isPk ? 'pk' : fieldOf(keyColumn)
  switch (shape.kind) {
    case 'insert':
      if (UPSERT.test(first.normalized)) {
        // An upsert per row: the batch must keep the conflict clause, or the first existing row raises.
        const skips = /\bdo\s+nothing\b|^\s*insert\s+(or\s+)?ignore\b/i.test(first.normalized)
        const mysql = /\bon\s+duplicate\s+key\b/i.test(first.normalized)
        const bulk = skips ? 'bulk_create(objs, ignore_conflicts=True)' : `bulk_create(objs, update_conflicts=True, ${mysql ? '' : 'unique_fields=[...], '}update_fields=[...])`
        return sa
          ? {
              text: `Send the upsert once with every row, session.execute(stmt, rows): the same insert(...).on_conflict_do_${skips ? 'nothing' : 'update'}() statement without .values(), a list of dicts${skips ? '' : ', its set_ taken from stmt.excluded (a value written in it would go to every conflicting row)'}, instead of ${count} upserts${where}`,
              code: null,
            }
          : {
              text: `Upsert the ${count} rows${where} with one ${model ? `${model}.objects.` : ''}${bulk} instead of ${count} upserts`,
              code: null,
            }
      }
      return sa
        ? {
            text: `Insert the ${count} rows${where} with one session.execute(insert(${saModel}), rows) after the loop instead of one INSERT per row`,
            code: `session.execute(insert(${saModel}), rows)`,
          }
        : {
            text: `Collect the new ${model ?? 'objects'} in the loop and save them with one ${model ? `${model}.objects.` : ''}bulk_create(objs) instead of ${count} INSERTs${where}`,
            code: model ? `${model}.objects.bulk_create(objs)` : null,
          }
    case 'update': {
      const setSlots = shape.slots.map((s, i) => ({ s, i })).filter(({ s }) => s.role === 'set' && s.column)
      const varying = [...new Set(setSlots.filter(({ i }) => group.some((f) => f.slotValues[i] !== first.slotValues[i])).map(({ s }) => fieldOf(s.column!.column)))]
      const assigned = [...new Set(shape.setColumns.map(fieldOf))]
      // Fields given a computed value (`F("stock") + 1`, an expression), which the SQL's slots cannot write back.
      const computed = assigned.filter((field) => !setSlots.some(({ s }) => fieldOf(s.column!.column) === field && s.op === '='))
      const rowName = sameRow(group, keyIndex, key)
      if (rowName !== null) {
        // One row written again and again (`filter(pk=b.pk).update(stock=F("stock") + 1)` per order line): an IN
        // list of its keys would write it once, with one step of the change.
        return computed.length > 0
          ? {
              text: `The ${count} UPDATEs${where} change ${rowName} each time: combine the changes into one UPDATE after the loop${sa ? '' : ` (for a counter, add up the steps: .update(${computed[0]}=F("${computed[0]}") + total))`}`,
              code: null,
            }
          : {
              text: `The ${count} UPDATEs${where} write ${rowName} each time and only the last values stay: write it once, after the loop`,
              code: null,
            }
      }
      if (varying.length === 0 && computed.length > 0) {
        // An IN list applies the change once per row: a key that came back would lose its other steps.
        const again = new Set(group.map((f) => f.slotValues[keyIndex])).size < group.length
        const how = `.filter(${key}__in=ids).update(${computed.map((field) => `${field}=F("${field}") ...`).join(', ')})`
        return {
          text: `Every row gets the same computed change${where}${again ? ', some rows more than once' : ''}: ${again ? "add up each row's steps and " : ''}update them with one ${sa ? 'UPDATE ... WHERE ... IN (...)' : how} (the same expression) instead of ${count} UPDATEs`,
          code: null,
        }
      }
      if (varying.length === 0) {
        const given = assigned.map((field) => {
          const plain = setSlots.find(({ s }) => fieldOf(s.column!.column) === field && s.op === '=')! // none is computed
          return { field, value: firstValue(first, plain.i) }
        })
        const values = given.map(({ field, value }) => `${field}=${py(value)}`)
        const others = otherConditions ? ", <the loop's other conditions>" : ''
        // One UPDATE of these rows with these assignments.
        const oneUpdate = (assignments: string[]): string =>
          sa
            ? `session.execute(update(${saModel}).where(${saModel}.${isPk ? (modelInfo?.pk ?? keyColumn) : keyColumn}.in_(ids)${others}).values(${assignments.join(', ')}))`
            : `${model ?? 'queryset'}${model ? '.objects' : ''}.filter(${key}__in=ids${others}).update(${assignments.join(', ')})`
        const code = oneUpdate(values)
        // Rows saved one by one (by primary key) with equal parameters: the code may set that value, or compute it
        // from rows that all held the same (`book.stock += 1` when every stock was 10). Only a value written in the
        // SQL is surely the code's; otherwise the rows are saved as they are, and the one UPDATE is the alternative.
        const fromRows = isPk && !otherConditions && setSlots.some(({ s }) => s.values.some((value) => 'param' in value))
        if (fromRows && (model || sa)) {
          const batch = sa ? `session.execute(update(${saModel}), rows)` : `${model}.objects.bulk_update(objs, [${assigned.map(quote).join(', ')}])`
          // ...or, for numbers, computes it alike in every row (`book.stock += 1` over stocks that were all 0): one
          // UPDATE of that expression, whose step the SQL does not show.
          const numbers = given.filter(({ value }) => typeof value === 'number').map(({ field }) => field)
          const alike =
            numbers.length === 0
              ? ''
              : `, and if it changes every row alike (a counter: += n), one ${oneUpdate(numbers.map((field) => (sa ? `${field}=${saModel}.${field} + n` : `${field}=F("${field}") + n`)))}`
          const them = values.length > 1
          return {
            text: `Save the ${count} changed rows${where} with one ${batch} instead of ${count} UPDATEs; every row was given the same ${values.join(', ')}: if your code sets ${them ? 'those values' : 'that value'} rather than computing ${them ? 'them' : 'it'} from each row, one ${code} does it${alike}`,
            code: batch,
          }
        }
        return {
          text: `Every row gets the same change: update the ${count} rows${where} with one ${code} instead of ${count} UPDATEs`,
          code: otherConditions ? null : code,
        }
      }
      // Every field the UPDATE assigns: which of them the loop changed cannot be told from the SQL (rows differ in
      // fields nobody touched, and a changed field may end equal in every row); the text asks to keep only those.
      const fields = assigned.map(quote).join(', ')
      if (sa) {
        return {
          text: `Update the ${count} rows${where} with one bulk UPDATE by primary key, session.execute(update(${saModel}), rows), instead of ${count} UPDATEs`,
          code: `session.execute(update(${saModel}), rows)`,
        }
      }
      const saveNote = assigned.length > varying.length || assigned.length > 2 ? ' (name only the fields you changed: save() writes them all)' : ''
      return {
        text: `Save the ${count} changed rows${where} with one ${model ? `${model}.objects.` : ''}bulk_update(objs, [${fields}])${saveNote} instead of ${count} UPDATEs; when every row changes the same way, one .filter(...).update(field=F("field") + n) is cheaper still`,
        code: model ? `${model}.objects.bulk_update(objs, [${fields}])` : null,
      }
    }
    case 'delete': {
      const rows = sameRow(group, keyIndex, key)
      if (rows !== null) {
        return { text: `The ${count} DELETEs${where} delete ${rows} each time: after the first, none is left; run it once`, code: null }
      }
      const others = otherConditions ? ", <the loop's other conditions>" : ''
      const code = sa
        ? `session.execute(delete(${saModel}).where(${saModel}.${keyColumn}.in_(ids)${others}))`
        : `${model ?? 'queryset'}${model ? '.objects' : ''}.filter(${key}__in=ids${others}).delete()`
      return {
        text: `Delete the ${count} rows${where} with one ${code} instead of ${count} DELETEs`,
        code: otherConditions ? null : code,
      }
    }
    default:
      return { text: `Batch the ${count} writes${where} into one statement`, code: null }
  }
}

/** `the same row (pk=11)` (`the same rows (status="new")` by another key) when every write of the group has the same
 * WHERE values, all known; null otherwise. */
function sameRow(group: QueryFacts[], keyIndex: number, key: string): string | null {
  const [first] = group
  if (keyIndex < 0 || first.shape.slots[keyIndex].role !== 'eq') return null
  const where = first.shape.slots.map((slot, i) => i).filter((i) => first.shape.slots[i].role !== 'set')
  const alike = (f: QueryFacts) => where.every((i) => first.slotValues[i] !== undefined && f.slotValues[i] === first.slotValues[i])
  if (!group.every(alike)) return null
  return `the same ${key === 'pk' ? 'row' : 'rows'} (${key}=${py(firstValue(first, keyIndex))})`
}

// ---------------------------------------------------------------------------------------------------------------
// Duplicates and slow queries
// ---------------------------------------------------------------------------------------------------------------

export function suggestDuplicate(
  copies: QueryFacts[],
  { orm, adminChangelist, adminPage, request, schema }: Pick<DetectContext, 'orm' | 'adminChangelist' | 'adminPage' | 'request' | 'schema'>,
  afterWrites = false,
): Suggestion {
  const choices = adminPage === 'inline' ? selectChoices(copies, schema) : null
  if (choices) return choices
  if (adminChangelist && copies.length === 2 && copies[0].shape.aggregate === 'count' && copies[0].shape.mainTables.length === 1 && oneStackOf(copies)) {
    // The changelist counts its rows for the paginator and again for "N total": the same query without a filter.
    return {
      text: `Django's admin counts the changelist's rows twice, for the page and for the full count: show_full_result_count = False in the ModelAdmin leaves the full count out`,
      code: 'show_full_result_count = False',
    }
  }
  const places = distinctPlaces(copies)
  const oneStack = oneStackOf(copies)
  const n = copies.length
  const shown = places.slice(0, 3).join(', ') + (places.length > 3 ? ` and ${places.length - 3} more` : '')
  const write = copies[0].shape.kind === 'update' ? 'UPDATE' : copies[0].shape.kind === 'delete' ? 'DELETE' : null
  if (write) {
    const from = shown ? `${oneStack ? ' at' : ', from'} ${shown}` : ''
    return {
      text: `The same ${write} runs ${n} times with the same values${from}: after the first it changes nothing; run it once`,
      code: null,
    }
  }
  const [first] = copies
  const pk = schema?.byTable(first.shape.mainTables[0] ?? '')?.pk ?? 'id'
  if (orm === 'sqlalchemy' && afterWrites && first.shape.kind === 'select' && byKey(first.query.sql, pk)) {
    // The session's identity map answers a second get() of a row it holds, unless a commit() expired it (a select()
    // of the code's own always queries).
    return {
      text: `The same row is loaded ${n} times${shown ? `, from ${shown}` : ''}, with writes between: when a commit() came between them, it expired the session's objects (expire_on_commit) and reading the row loaded it again; commit once after the writes, or make the session with expire_on_commit=False (else: load it once and pass the result along)`,
      code: null,
    }
  }
  if (oneStack) {
    return {
      text: `The same query runs ${n} times with the same parameters${places.length ? ` at ${places[0]}` : ''}: run it once (before the loop, when a loop runs it) and reuse the result`,
      code: null,
    }
  }
  // A script or a task has no request to keep it on.
  const cache = orm !== 'django' ? '' : request ? ' (for example on the request, or with @cached_property)' : ' (for example with @cached_property)'
  return {
    text: `The same query runs ${n} times with the same parameters${shown ? `, from ${shown}` : ''}: load it once and pass the result along${cache}`,
    code: null,
  }
}

/**
 * On an admin page editing an object, every row of a table selected again and again by the admin's own templates:
 * each form (an inline's, one per row) renders a `<select>` of all of them, a ForeignKey's or ManyToManyField's
 * widget. `raw_id_fields` (or `autocomplete_fields`) shows the field without loading them. Null for anything else.
 */
function selectChoices(copies: QueryFacts[], schema: SchemaIndex | null): Suggestion | null {
  const [first] = copies
  const table = first.shape.mainTables[0]
  const unfiltered = first.shape.kind === 'select' && first.shape.mainTables.length === 1 && !/\bWHERE\b/i.test(first.query.sql)
  const fromTemplates = copies.every((c) => !c.query.callsite && c.query.template?.name.startsWith('admin/'))
  if (!table || !unfiltered || !fromTemplates) return null
  const model = schema?.byTable(table)
  const rows = model ? `${className(model.model)} row` : `row of "${table}"`
  return {
    text: `The page's forms render a <select> of every ${rows} (a ForeignKey's or ManyToManyField's widget), ${copies.length} times, one per form: name that field in raw_id_fields (or autocomplete_fields) of the ModelAdmin or InlineModelAdmin whose form shows it, and the rows are not loaded at all`,
    code: null,
  }
}

const oneStackOf = (copies: QueryFacts[]): boolean => copies.every((c) => c.stackKey === copies[0].stackKey)

/**
 * Where each copy ran, told apart: when copies share their call site (a helper called from two places), each is
 * named with the first caller frame where their stacks part: `shop/settings.py:18 (called from shop/views.py:35)`.
 */
export function distinctPlaces(copies: QueryFacts[]): string[] {
  const frameText = (c: QueryFacts, depth: number): string => {
    const frame = c.query.stack[depth]
    return frame ? `${frame.file}:${frame.line}` : ''
  }
  const deepest = Math.max(0, ...copies.map((c) => c.query.stack.length))
  let depth = 0
  while (depth < deepest && copies.every((c) => frameText(c, depth) === frameText(copies[0], depth))) depth++
  const labels = copies.map((c) => {
    const place = placeOf(c.query)
    if (!place) return null
    const caller = depth > 0 && !c.query.template ? frameText(c, depth) : ''
    return caller ? `${place} (called from ${caller})` : place
  })
  return [...new Set(labels.filter((label): label is string => label !== null))]
}

export function suggestSlow(facts: QueryFacts, slowMs: number, orm: Orm): Suggestion {
  const filtered = [...new Set(facts.shape.slots.filter((s) => s.column && s.role !== 'set' && s.role !== 'values').map((s) => `"${s.column!.table ?? facts.shape.mainTables[0]}"."${s.column!.column}"`))]
  const columns = filtered.length ? `, and check that the columns it filters on are indexed: ${filtered.join(', ')}` : ''
  const explain = facts.dialect === 'pg' ? 'EXPLAIN ANALYZE' : facts.dialect === 'sqlite' ? 'EXPLAIN QUERY PLAN' : 'EXPLAIN'
  const how = orm === 'django' ? 'queryset.explain()' : explain
  return {
    text: `This query took ${Math.round(facts.query.duration_ms)} ms (over ${slowMs} ms)${at(facts.query)}: read its plan with ${how}${columns}`,
    code: `${explain} ${facts.normalized}`,
  }
}
