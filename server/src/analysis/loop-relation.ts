/**
 * What an N+1 loop walks: from the repeated query's key column and the queries before it, which relation of which
 * parent queryset is loaded one row at a time, and which earlier query produced the keys (the trigger).
 * With the schema, relations come from the models; without it, from Django's naming (`author_id` → `shop_author`).
 * @module
 */
import type { ModelInfo, ParamValue, WireQuery } from '../protocol.js'
import type { Orm } from './detect-context.js'
import { byKey, loopClauses, orderByArgs, ordersOtherwise } from './loop-clauses.js'
import { firstValue, type QueryFacts } from './query-facts.js'
import { className, same, type SchemaIndex } from './schema-index.js'
import type { Aggregate, Slot, SlotRole } from './sql-shape.js'

export type LoopPattern =
  /** A primary-key lookup of the target after a query on the table holding the FK: `select_related`. */
  | 'forward'
  /** A lookup by the target's FK column (reverse FK): `prefetch_related`. */
  | 'reverse'
  /** A reverse one-to-one: `select_related` of the accessor. */
  | 'reverse_one'
  /** A join through a many-to-many table: `prefetch_related`. */
  | 'm2m'
  /** A single deferred column fetched per row: include it in `only()`. */
  | 'deferred'
  /** Objects of a GenericForeignKey, looked up by primary key per row of its model: `prefetch_related("target")`. */
  | 'generic'
  /** The ContentType of each row's GenericForeignKey (cached per process by Django afterwards). */
  | 'generic_type'
  /** A get by primary key in a loop without a parent query: `in_bulk`. */
  | 'get'
  | 'unknown'

/** One relation hop from a model (or table) to the next. */
export interface LoopStep {
  /** The class name of the model the hop starts from, or its table without the schema. */
  owner: string
  ownerTable: string
  /** The attribute to name in select_related / prefetch_related / selectinload; null when it cannot be known. */
  field: string | null
  /** The name for lookups in filter()/Count(): a reverse accessor `review_set` is queried as `review`. */
  queryName: string | null
  /** Single-valued (FK, one-to-one, reverse one-to-one): joinable with select_related / joinedload. */
  single: boolean
  target: string
  targetTable: string
  /** The target model's default ordering (`Meta.ordering`), when the schema gives it. */
  targetOrdering?: string[]
  /** SQLAlchemy: the hop's rows came in a JOIN of the parent's query (`joinedload`, or `contains_eager` of an
   * explicit join), the loader the chained fix keeps for it. */
  loader?: 'joinedload' | 'contains_eager'
  /** Django: the hop is a GenericForeignKey (objects of several models): a path on through it is a GenericPrefetch. */
  generic?: boolean
}

export interface LoopFilter {
  /** The table the column was named with, when it was. */
  table: string | null
  column: string
  op: string
  role: SlotRole
  value: ParamValue | undefined
  /** Compared with both sides folded to one case (`UPPER(...) = UPPER(%s)`). */
  folded?: true
}

export interface LoopRelation {
  pattern: LoopPattern
  /** The table and key column the repeated query looks up. */
  table: string
  column: string
  /** The model of the looked-up table, with the schema. */
  target: ModelInfo | null
  /** The relation path from the root queryset (more than one hop when an outer loop is chained in). */
  path: LoopStep[]
  triggerIndex: number | null
  /** The query that iterates the queryset to change: the trigger, or the outermost loop's trigger when chained. */
  place: WireQuery | null
  aggregate: Aggregate | null
  /** The column of an AVG, SUM, MIN or MAX per row. */
  aggregateColumn: string | null
  deferredColumn: string | null
  /** Columns the parent query selected (for `only()`). */
  parentColumns: string[] | null
  /** An earlier query already prefetched this relation: the loop filters it again per row. */
  prefetched: boolean
  /** Constant conditions of the loop besides its key, for `Prefetch(queryset=...filter())`. */
  filters: LoopFilter[]
  /** The FK attribute on the target pointing back at the parent (`book`), for `Exists(... OuterRef)`. */
  backField: string | null
  /** The queryset to change is a parent's related manager (`book.reviews`), with the schema. */
  manager: RelatedManager | null
  /** FKs the trigger already loads with select_related, for a code that keeps them; null when it joins tables this
   * cannot explain as the root model's own FKs (`select_related("author__country")`): the text asks to keep them. */
  joined: string[] | null
  /** A lookup by primary key (`get`): the FKs the loop's own query loads with select_related, which the fix's one query
   * must load too (`Book.objects.select_related("author").in_bulk(ids)`); null when it joins tables this cannot explain
   * so. */
  loopJoined?: string[] | null
  /** The iterated queryset orders its rows itself (an ORDER BY other than the root model's `Meta.ordering`): a fix
   * written from the model's manager says to keep its `order_by()`. */
  ordered?: boolean
  /** The iterated queryset's ORDER BY as order_by() arguments (`["-published", "title"]`; `[]` without one; null when
   * not plain columns of its table): an annotate() of an aggregate groups the rows, and Django then leaves the model's
   * `Meta.ordering` out, so such a fix writes the order. */
  order?: string[] | null
  /** Other FKs to the same table whose keys the trigger selected (`sender`, `recipient`; `book__author` of a table
   * it joins): the loop's queries cannot tell which one each read, so the fix loads them all. */
  siblings: string[]
  /** The path's first hop is a join the trigger has already (`select_related("book")`), and the loop reads an FK of
   * the joined rows (`review.book.author`): the fix is one select_related of the whole path. */
  viaJoin?: boolean
  /** How the key is compared case-insensitively, null when it is not: `like` or `ilike` (of values without a
   * wildcard: Django's `iexact` on SQLite), or the function both sides are folded with (`upper`: `iexact` on
   * PostgreSQL). */
  caseless: string | null
  /** The rows looped over came from an eager load of their own that filters them (`Prefetch("books",
   * queryset=Book.objects.filter(...))`, `selectinload(Author.books.and_(...))`): its WHERE has more than the
   * parents' keys. The fix goes into that load: a plain path through the relation would load every row again. */
  viaFilteredLoad?: boolean
  /** SQLAlchemy: the loop's rows came from one object's relationship, loaded lazily (`for post in user.posts`), and
   * `place` is the query that loaded that object: by its primary key (`session.get()`, `pk` naming it), or a select. */
  parentLoad?: { by: 'get' | 'select'; pk: string }
  /** The loop reads rows loaded before a write to their table: read back after a commit expired them (SQLAlchemy's
   * expire_on_commit), not rows the code asked for anew. */
  readBack?: boolean
  /** Depths of a recursion the loop's queries were made at (1: no recursion). */
  levels?: number
  /** Levels of the tree a prefetch loaded before the loop's (its path starts above the loop's first depth). */
  prefetchedLevels?: number
}

/** A parent row's related manager, read with nothing but its key: `book.reviews.all()` runs
 * `... FROM "shop_review" WHERE "shop_review"."book_id" = ?`. */
export interface RelatedManager {
  /** The parent's model class (`Book`) and its accessor (`reviews`). */
  parent: string
  accessor: string
  /** As code, the parent named after its model: `book.reviews`. */
  expression: string
  /** Its rows come from a prefetch of the parent's query (`prefetch_related("reviews")`): the fix goes there. */
  prefetched: boolean
}

export interface ExplainContext {
  all: QueryFacts[]
  schema: SchemaIndex | null
  /** Django gives every FK a reverse accessor (`review_set`) the schema may leave out; SQLAlchemy has only those
   * the schema names. */
  orm: Orm
  /** Relations of the loops found so far, by the index of each of their queries, for nested loops. */
  previous: Map<number, LoopRelation>
}

/** Explain an N+1 group whose key is the slot `keySlot` of its queries. */
export function explainLoop(group: QueryFacts[], keySlot: number, ctx: ExplainContext): LoopRelation {
  const first = group[0]
  const shape = first.shape
  const key = shape.slots[keySlot].column!
  const table = key.table ?? shape.mainTables[0] ?? ''
  const column = key.column
  const base: LoopRelation = {
    pattern: 'unknown',
    table,
    column,
    target: ctx.schema?.byTable(table) ?? null,
    path: [],
    triggerIndex: null,
    place: null,
    aggregate: shape.aggregate,
    aggregateColumn: shape.aggregateColumn?.column ?? null,
    deferredColumn: null,
    parentColumns: null,
    prefetched: false,
    filters: [],
    backField: null,
    manager: null,
    joined: [],
    siblings: [],
    caseless: caselessBy(shape.slots[keySlot]),
  }
  // A key compared case-insensitively is no relation's: the rows of every key, compared as the loop compares them.
  if (base.caseless) return { ...base, filters: filtersOf(group, keySlot) }
  const relation = (ctx.schema ? withSchema(base, first, ctx.schema, ctx) : withoutSchema(base, first, ctx)) ?? base
  relation.filters = filtersOf(group, keySlot)
  const root = ctx.schema && (relation.path.length === 1 || relation.viaJoin) ? ctx.schema.byTable(relation.path[0].ownerTable) : undefined
  if (root && relation.triggerIndex !== null) {
    const loaded = relation.path[0].field
    relation.joined = selectRelated(ctx.all[relation.triggerIndex], root)?.filter((field) => field !== loaded) ?? null
  }
  if (relation.pattern === 'reverse' || relation.pattern === 'm2m' || relation.pattern === 'reverse_one') {
    relation.prefetched = wasPrefetched(first, table, column, ctx.all)
  }
  const outer = chain(relation, ctx)
  const prefetch = outer === relation && ctx.schema ? prefetchOf(relation, ctx.schema, ctx) : null
  if (prefetch && plainLoad(relation, first)) {
    // One hop further on the parent's query: Author.objects.prefetch_related("books__tags").
    return { ...relation, path: [prefetch.hop, ...relation.path], ...(prefetch.filtered ? { viaFilteredLoad: true } : {}) }
  }
  if (prefetch) {
    // A count, a filter, a cut or a re-query of prefetched rows: its one-hop fix goes into a Prefetch of them.
    return { ...relation, manager: prefetch.manager, ...(prefetch.filtered ? { viaFilteredLoad: true } : {}) }
  }
  const joined = outer === relation && ctx.schema && ctx.orm === 'sqlalchemy' ? joinedHop(relation, ctx.schema, ctx) : null
  if (joined && plainLoad(relation, first)) {
    // One hop further on the parent's query, keeping its join: joinedload(Author.books).selectinload(Book.reviews).
    return { ...relation, path: [joined, ...relation.path] }
  }
  const lazy = outer === relation && ctx.schema && ctx.orm === 'sqlalchemy' ? lazyHop(relation, ctx.schema, ctx) : null
  if (lazy && plainLoad(relation, first)) {
    // One hop further on the query that loaded the object whose relationship gave the rows.
    return { ...relation, path: [lazy.hop, ...relation.path], place: lazy.parent.query, parentLoad: lazy.load }
  }
  const place = outer.place ? ctx.all.find((facts) => facts.query === outer.place) : undefined
  const ownerTable = outer.path[0]?.ownerTable
  outer.manager = ctx.schema && place && ownerTable ? relatedManager(place, ownerTable, ctx.schema) : null
  outer.ordered = place !== undefined && ownerTable !== undefined && ordersOtherwise(loopClauses(place), ownerTable, ctx.schema?.byTable(ownerTable)?.ordering)
  outer.order = place !== undefined && ownerTable !== undefined ? orderByArgs(loopClauses(place), ownerTable) : null
  return outer
}

/** The related manager `place` read, when it read one of `ownerTable`'s rows by their FK to a parent and nothing
 * else (no other condition, join, cut or aggregate), so that the fix can name it. */
function relatedManager(place: QueryFacts, ownerTable: string, schema: SchemaIndex): RelatedManager | null {
  const { shape } = place
  if (shape.kind !== 'select' || shape.aggregate || shape.mainTables.length !== 1 || !same(shape.mainTables[0], ownerTable)) {
    return null
  }
  const clauses = loopClauses(place)
  if (!clauses.plain || clauses.joins !== 0 || clauses.conditions !== 1 || clauses.limit !== null) return null
  const keys = shape.slots.filter((slot) => slot.column)
  const key = keys.length === 1 && keys[0].role === 'eq' && keys[0].op === '=' && !keys[0].folded ? keys[0].column! : null
  if (!key || (key.table !== null && !same(key.table, ownerTable))) return null
  const found = parentOf(ownerTable, key.column, schema)
  return found && managerOf(found.parent, found.accessor, false)
}

/** The model `column` of `ownerTable` is an FK to, and its reverse accessor back (`shop_review.book_id` → Book,
 * `reviews`); null when either is not in the schema (a `related_name="+"` has none). */
function parentOf(ownerTable: string, column: string, schema: SchemaIndex): { owner: ModelInfo; parent: ModelInfo; accessor: string } | null {
  const owner = schema.byTable(ownerTable)
  const fk = owner?.relations.find((r) => r.kind === 'fk' && same(r.column, column))
  const parent = fk ? schema.byName(fk.target) : undefined
  const accessor = parent?.relations.find((r) => r.kind === 'reverse_fk' && r.target === owner!.model && same(r.target_column, column))
  return owner && parent && accessor ? { owner, parent, accessor: accessor.field } : null
}

function managerOf(parent: ModelInfo, accessor: string, prefetched: boolean): RelatedManager {
  const name = className(parent.model)
  return { parent: name, accessor, expression: `${snakeCase(name)}.${accessor}`, prefetched }
}

/** `OrderItem` → `order_item`: how a variable holding one is usually named. */
const snakeCase = (name: string): string => name.replace(/(?<=[a-z0-9])([A-Z])/g, '_$1').toLowerCase()

/** The nearest SELECT before `before` that reads one of `tables`. */
function nearestOn(all: QueryFacts[], before: number, test: (facts: QueryFacts) => boolean): QueryFacts | null {
  for (let i = before - 1; i >= 0; i--) {
    const facts = all[i]
    if (facts.shape.kind === 'select' && !facts.shape.control && loadsRows(facts) && test(facts)) return facts
  }
  return null
}

/** A query that brings rows a loop can go over: not a COUNT, EXISTS or other aggregate, nor a select of expressions
 * only, whose one value has no key to look anything up by (a count of the books is not the books). */
const loadsRows = (facts: QueryFacts): boolean => facts.shape.aggregate === null && !facts.shape.selectsOnlyExpressions

const reads = (facts: QueryFacts, table: string): boolean => facts.shape.mainTables.some((t) => same(t, table))
const selects = (facts: QueryFacts, table: string, column: string): boolean =>
  facts.shape.selectColumns?.some((c) => same(c.column, column) && (c.table === null || same(c.table, table))) ?? false

function withSchema(base: LoopRelation, first: QueryFacts, schema: SchemaIndex, ctx: ExplainContext): LoopRelation | null {
  const { table, column, target } = base
  const before = first.index
  if (target && same(column, target.pk)) {
    // Forward FK or one-to-one: the nearest earlier query on a table holding an FK to this one.
    const owners = schema.relations.filter(
      ({ relation }) => (relation.kind === 'fk' || relation.kind === 'o2o') && relation.target === target.model,
    )
    const trigger = nearestOn(ctx.all, before, (facts) => owners.some(({ model }) => reads(facts, model.table)))
    const deferred = deferredFetch(base, first, target.pk, ctx)
    // A select without the key (SQLAlchemy's `SELECT author.bio ... WHERE author.id = ?`) loads no row: a deferred
    // column, whatever query came last.
    const keyless = !selects(first, base.table, target.pk)
    if (deferred && (!trigger || keyless || deferred.triggerIndex! > trigger.index)) return deferred
    // A lookup of a table some read model holds an FK to is that FK's, unless the same line also looks up other
    // tables by their keys: a GenericForeignKey's objects of several types.
    const generic = genericFetch(base, first, schema, ctx)
    if (generic && (!trigger || (generic.triggerIndex! > trigger.index && looksUpOtherTables(first, schema, ctx)))) return generic
    if (trigger) {
      const candidates = owners.filter(({ model }) => reads(trigger, model.table))
      const loaded = candidates.filter(({ model, relation }) => relation.column && selects(trigger, model.table, relation.column))
      // The rows iterated are those of the table the trigger selects FROM: an FK of theirs before one of a table they
      // join (`Review.objects.select_related("book")` has Review.reviewer and Book.author to Author).
      const fromTable = trigger.shape.mainTables[0] ?? ''
      const best = loaded.find(({ model }) => same(model.table, fromTable)) ?? loaded[0] ?? candidates[0]
      const viaGeneric = best.model.generic_fks?.find((gfk) => same(gfk.ct_column, best.relation.column))
      if (viaGeneric && !repeatsAKey(first, ctx)) {
        // The ContentType FK of a GenericForeignKey: reading .target looks each type up by its id, once per process
        // (ContentType's cache). Reading .content_type itself, an FK like any other, would repeat keys.
        return {
          ...base,
          pattern: 'generic_type',
          triggerIndex: trigger.index,
          place: trigger.query,
          path: [step(best.model, viaGeneric.field, viaGeneric.field, true, null, best.relation.target)],
        }
      }
      const hop = step(best.model, best.relation.field, best.relation.field, true, target)
      const root = schema.byTable(fromTable)
      const joinedFields = root ? (selectRelated(trigger, root) ?? []) : []
      // The FK of the rows iterated that the trigger follows with select_related to the rows of `model`.
      const joinedFk = (model: ModelInfo) =>
        root?.relations.find((r) => (r.kind === 'fk' || r.kind === 'o2o') && joinedFields.includes(r.field) && schema.byName(r.target) === model)
      const join = root && !same(best.model.table, fromTable) ? joinedFk(best.model) : undefined
      // Every other selected FK to the target might be the one the loop reads: the fix loads them all (through its
      // join for a joined table's: "book__author").
      const lookup = ({ model, relation }: (typeof loaded)[number]): string | null => {
        if (model === (join ? root : best.model)) return relation.field
        const via = joinedFk(model)
        return via ? `${via.field}__${relation.field}` : null
      }
      const siblings = loaded.filter((other) => other.relation !== best.relation).map(lookup)
      return {
        ...base,
        pattern: 'forward',
        triggerIndex: trigger.index,
        place: trigger.query,
        // `review.book.author` of rows loaded with select_related("book"): a hop through the join first.
        path: join ? [step(root!, join.field, join.field, true, best.model), hop] : [hop],
        ...(join ? { viaJoin: true } : {}),
        siblings: siblings.filter((field): field is string => field !== null),
      }
    }
    return { ...base, pattern: 'get', loopJoined: selectRelated(first, target) }
  }
  // A join through a many-to-many table, looked up by the column pointing at the parent. Rows of a through model of
  // the app's own, selected from its table (`book.booktag_set.all()`), are its reverse FK's instead: prefetching the
  // M2M's targets would not load them.
  const throughRows = target !== null && same(first.shape.mainTables[0] ?? '', table)
  const m2m = throughRows
    ? undefined
    : schema.relations.find(
        ({ relation }) =>
          (relation.kind === 'm2m' || relation.kind === 'reverse_m2m') &&
          same(relation.through_table, table) &&
          same(relation.source_column, column),
      )
  if (m2m) {
    const trigger = nearestOn(ctx.all, before, (facts) => reads(facts, m2m.model.table))
    const targetModel = schema.byName(m2m.relation.target) ?? null
    return {
      ...base,
      pattern: 'm2m',
      target: targetModel,
      triggerIndex: trigger?.index ?? null,
      place: trigger?.query ?? null,
      path: [step(m2m.model, m2m.relation.field, m2m.relation.field, false, targetModel, m2m.relation.target)],
    }
  }
  // A reverse FK or reverse one-to-one: the target's FK column, looked up per parent row.
  if (target) {
    const reverse =
      schema.relations.find(
        ({ relation }) =>
          (relation.kind === 'reverse_fk' || relation.kind === 'reverse_o2o') &&
          relation.target === target.model &&
          same(relation.target_column, column),
      ) ?? null
    const forward = target.relations.find((r) => (r.kind === 'fk' || r.kind === 'o2o') && same(r.column, column))
    const parent = reverse?.model ?? (forward ? schema.byName(forward.target) : undefined)
    if (parent) {
      const one = reverse ? reverse.relation.kind === 'reverse_o2o' : forward!.kind === 'o2o'
      const trigger = nearestOn(ctx.all, before, (facts) => reads(facts, parent.table))
      if (!reverse && ctx.orm === 'sqlalchemy') {
        // No relationship from the parent (none declared, or a dynamic/write_only one the agent leaves out): nothing
        // to name; the loop's parent query is still known.
        return { ...base, pattern: one ? 'reverse_one' : 'reverse', triggerIndex: trigger?.index ?? null, place: trigger?.query ?? null }
      }
      const field = reverse?.relation.field ?? defaultAccessor(target, one)
      const path = [step(parent, field, queryNameOf(field, target, !!reverse), one, target)]
      // `Review.objects.filter(book__author=a)`: the key sits on a joined table; hop on to the selected one.
      const selected = first.shape.mainTables[0]
      const selectedModel = selected && !same(selected, table) ? schema.byTable(selected) : undefined
      if (selectedModel) {
        const next = target.relations.find(
          (r) => (r.kind === 'reverse_fk' || r.kind === 'reverse_o2o') && r.target === selectedModel.model,
        )
        if (next) path.push(step(target, next.field, next.field, next.kind === 'reverse_o2o', selectedModel))
      }
      return {
        ...base,
        pattern: one ? 'reverse_one' : 'reverse',
        triggerIndex: trigger?.index ?? null,
        place: trigger?.query ?? null,
        path,
        backField: forward?.field ?? null,
      }
    }
  }
  return null
}

function withoutSchema(base: LoopRelation, first: QueryFacts, ctx: ExplainContext): LoopRelation | null {
  const { table, column } = base
  const before = first.index
  if (column === 'id' || column === 'pk') {
    // Django names an FK column `<field>_id`; its target table usually ends with `<field>`.
    const pointsHere = (name: string): boolean => {
      const stem = name.slice(0, -3)
      return name.endsWith('_id') && (table === stem || table.endsWith(`_${stem}`))
    }
    const trigger = nearestOn(ctx.all, before, (facts) =>
      (facts.shape.selectColumns ?? []).some((c) => pointsHere(c.column) && !same(c.table, table)),
    )
    const deferred = deferredFetch(base, first, column, ctx)
    if (deferred && (!trigger || deferred.triggerIndex! > trigger.index)) return deferred
    if (trigger) {
      const fk = trigger.shape.selectColumns!.find((c) => pointsHere(c.column) && !same(c.table, table))!
      const ownerTable = fk.table ?? trigger.shape.mainTables[0] ?? ''
      const field = fk.column.slice(0, -3)
      return {
        ...base,
        pattern: 'forward',
        triggerIndex: trigger.index,
        place: trigger.query,
        path: [{ owner: ownerTable, ownerTable, field, queryName: field, single: true, target: table, targetTable: table }],
      }
    }
    return { ...base, pattern: 'get' }
  }
  if (column.endsWith('_id')) {
    const stem = column.slice(0, -3)
    const trigger = nearestOn(ctx.all, before, (facts) =>
      facts.shape.mainTables.some((t) => (t === stem || t.endsWith(`_${stem}`)) && t !== table),
    )
    if (!trigger) return null
    const parentTable = trigger.shape.mainTables.find((t) => t === stem || t.endsWith(`_${stem}`))!
    const selected = first.shape.mainTables[0] ?? table
    const joined = !same(selected, table)
    return {
      ...base,
      pattern: joined ? 'm2m' : 'reverse',
      triggerIndex: trigger.index,
      place: trigger.query,
      path: [
        { owner: parentTable, ownerTable: parentTable, field: null, queryName: null, single: false, target: selected, targetTable: selected },
      ],
    }
  }
  return null
}

/** `book.description` of a deferred field: a PK lookup of the parent's own table selecting one more column. */
function deferredFetch(base: LoopRelation, first: QueryFacts, pk: string, ctx: ExplainContext): LoopRelation | null {
  const columns = first.shape.selectColumns
  if (!columns || first.shape.mainTables.length !== 1 || first.shape.aggregate) return null
  const others = columns.filter((c) => !same(c.column, pk))
  if (others.length !== 1 || columns.length > 2) return null
  const deferred = others[0].column
  // The parent loaded model instances of this table without the column: it selected the pk and some other column.
  const trigger = nearestOn(
    ctx.all,
    first.index,
    (facts) =>
      facts.shape.selectColumns !== null &&
      facts.fingerprint !== first.fingerprint &&
      reads(facts, base.table) &&
      selects(facts, base.table, pk) &&
      facts.shape.selectColumns.some((c) => !same(c.column, pk) && same(c.table ?? base.table, base.table)) &&
      !selects(facts, base.table, deferred),
  )
  if (!trigger) return null
  const owner = base.target ? className(base.target.model) : base.table
  return {
    ...base,
    pattern: 'deferred',
    deferredColumn: deferred,
    triggerIndex: trigger.index,
    place: trigger.query,
    parentColumns: trigger.shape.selectColumns!.filter((c) => same(c.table ?? base.table, base.table)).map((c) => c.column),
    path: [{ owner, ownerTable: base.table, field: null, queryName: null, single: true, target: owner, targetTable: base.table }],
  }
}

/**
 * A primary-key lookup per row of a model with a GenericForeignKey (`comment.target`): the nearest earlier query on
 * such a model that selected the object's key column. The target table says nothing: any model may be the object.
 */
function genericFetch(base: LoopRelation, first: QueryFacts, schema: SchemaIndex, ctx: ExplainContext): LoopRelation | null {
  const owners = schema.models.flatMap((model) => (model.generic_fks ?? []).map((gfk) => ({ model, gfk })))
  if (owners.length === 0) return null
  const selectsKey = (facts: QueryFacts, table: string, column: string) => facts.shape.selectColumns === null || selects(facts, table, column)
  const holds = (facts: QueryFacts) => owners.find(({ model, gfk }) => reads(facts, model.table) && selectsKey(facts, model.table, gfk.fk_column))
  const trigger = nearestOn(ctx.all, first.index, (facts) => holds(facts) !== undefined)
  if (!trigger) return null
  const { model, gfk } = holds(trigger)!
  return {
    ...base,
    pattern: 'generic',
    triggerIndex: trigger.index,
    place: trigger.query,
    path: [{ ...step(model, gfk.field, gfk.field, true, base.target), generic: true }],
  }
}

/** An aggregate call of a select list, `COUNT(DISTINCT "shop_review"."id")` (a RegExp source). */
export const AGGREGATE_CALL = String.raw`\b(?:count|sum|avg|min|max)\s*\((?:distinct\s+)?[^()]*\)`

/**
 * The FKs of `model` that `facts` already loads with select_related, read from Django's joins: a join whose columns
 * the SELECT list names and whose ON clause is `"<model's table>"."<fk column>" = <the join>."<pk>"`. Null when the
 * query is not on the model's table, or selects the columns of a join it cannot explain so (a nested
 * `author__country`): the code would then drop what the queryset loads.
 */
function selectRelated(facts: QueryFacts, model: ModelInfo): string[] | null {
  const { shape } = facts
  const sql = facts.query.sql
  if (shape.kind !== 'select' || !same(shape.mainTables[0], model.table)) return null
  // (the shape lower-cases aliases) A join whose columns are only counted or summed (`.annotate(Count("reviews"))`)
  // loads no object: its columns inside an aggregate are left out.
  const selectList = sql
    .slice(0, Math.max(0, sql.search(/\bFROM\b/i)))
    .toLowerCase()
    .replace(new RegExp(AGGREGATE_CALL, 'gi'), '')
  const fields: string[] = []
  for (const join of shape.tables) {
    if (join.via !== 'join' || join.depth !== 0) continue
    if (!selectList.includes((join.alias ? `${join.alias}."` : `"${join.name}".`).toLowerCase())) continue // joined for a filter or an order
    const on = joinCondition(sql, join.name, join.alias)
    const fk = on && same(on.fkTable, model.table) && model.relations.find((r) => (r.kind === 'fk' || r.kind === 'o2o') && same(r.column, on.fkColumn))
    if (!fk) return null
    fields.push(fk.field)
  }
  return fields
}

/** The FK side of Django's `JOIN "t" [alias] ON ("a"."fk" = <alias or "t">."id")`: the table and column it joins from. */
function joinCondition(sql: string, table: string, alias: string | null): { fkTable: string; fkColumn: string } | null {
  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const ref = alias ? escape(alias) : `"${escape(table)}"`
  const join = new RegExp(`\\bJOIN\\s+"${escape(table)}"${alias ? `\\s+(?:AS\\s+)?${escape(alias)}` : ''}\\s+ON\\s+\\(\\s*"([^"]+)"\\."([^"]+)"\\s*=\\s*${ref}\\."[^"]+"\\s*\\)`, 'i').exec(sql)
  return join ? { fkTable: join[1], fkColumn: join[2] } : null
}

/** Whether the loop's line also looks up another table by its primary key (one query a row, of several types). */
function looksUpOtherTables(first: QueryFacts, schema: SchemaIndex, ctx: ExplainContext): boolean {
  return ctx.all.some((facts) => {
    const table = facts.shape.mainTables[0]
    if (facts.stackKey !== first.stackKey || facts.shape.kind !== 'select' || !table || same(table, first.shape.mainTables[0])) return false
    const pk = schema.byTable(table)?.pk
    return pk !== undefined && facts.shape.slots.some((slot) => slot.role === 'eq' && slot.column !== null && same(slot.column.column, pk))
  })
}

/** Whether two queries of the loop look up the same key. */
function repeatsAKey(first: QueryFacts, ctx: ExplainContext): boolean {
  const keys = ctx.all.filter((facts) => facts.fingerprint === first.fingerprint && facts.stackKey === first.stackKey).map((facts) => facts.paramsKey)
  return new Set(keys).size < keys.length
}

function step(
  owner: ModelInfo,
  field: string,
  queryName: string,
  single: boolean,
  target: ModelInfo | null,
  targetName?: string,
): LoopStep {
  return {
    owner: className(owner.model),
    ownerTable: owner.table,
    field,
    queryName,
    single,
    target: target ? className(target.model) : className(targetName ?? ''),
    targetTable: target?.table ?? '',
    targetOrdering: target?.ordering,
  }
}

/** Django's accessor when the schema has no reverse relation: `review_set`, or `review` for a one-to-one. */
function defaultAccessor(target: ModelInfo, one: boolean): string {
  const name = className(target.model).toLowerCase()
  return one ? name : `${name}_set`
}

/** The name of a reverse relation in lookups: its related_name, or the model name for a default `_set` accessor. */
function queryNameOf(field: string, target: ModelInfo, fromSchema: boolean): string {
  const name = className(target.model).toLowerCase()
  if (field === `${name}_set` || (!fromSchema && field.endsWith('_set'))) return name
  return field
}

/** An earlier query fetched this table by the same column with an IN list: a prefetch. */
function wasPrefetched(first: QueryFacts, table: string, column: string, all: QueryFacts[]): boolean {
  for (let i = 0; i < first.index; i++) {
    const facts = all[i]
    if (facts.shape.kind !== 'select' || facts.fingerprint === first.fingerprint) continue
    const fetchesAll = facts.shape.slots.some(
      (slot) => slot.role === 'in' && slot.column && same(slot.column.column, column) && same(slot.column.table ?? table, table),
    )
    if (fetchesAll) return true
  }
  return false
}

/** How a key slot compares case-insensitively (see {@link LoopRelation.caseless}). */
const caselessBy = (slot: Slot): string | null => (slot.role === 'like' ? slot.op : (slot.folded ?? null))

/** The loop's conditions that are the same on every row, besides its key. */
function filtersOf(group: QueryFacts[], keySlot: number): LoopFilter[] {
  const first = group[0]
  const filters: LoopFilter[] = []
  first.shape.slots.forEach((slot, i) => {
    if (i === keySlot || !slot.column) return
    if (slot.role !== 'eq' && slot.role !== 'ne' && slot.role !== 'range' && slot.role !== 'like' && slot.role !== 'in') return
    const constant = group.every((facts) => facts.slotValues[i] === first.slotValues[i])
    if (!constant) return
    const filter: LoopFilter = { table: slot.column.table, column: slot.column.column, op: slot.op, role: slot.role, value: firstValue(first, i) }
    filters.push(slot.folded ? { ...filter, folded: true } : filter)
  })
  return filters
}

/**
 * Whether the loop loads a relation as a plain prefetch or join would: not a count or an exists per row (a count on
 * the parent's queryset would add up its rows' children), not a relation already prefetched and queried again,
 * nor one filtered or cut per row (`Prefetch(queryset=...)` fixes, written for one hop).
 */
function plainLoad(relation: LoopRelation, loop: QueryFacts): boolean {
  if (relation.aggregate || relation.prefetched || relation.filters.length > 0 || relation.pattern === 'deferred') return false
  const clauses = loopClauses(loop)
  return clauses.plain && clauses.limit === null
}

/**
 * A loop over rows a prefetch loaded: the trigger fetched the owner's rows by IN on their FK to a parent, right after
 * and from the same place as a query of the parent's table (`prefetch_related("books")`, `selectinload(Author.books)`,
 * run when the authors are loaded). The fix belongs on the parent's query: one hop further for a plain load
 * (`Author.objects.prefetch_related("books__tags")`, `selectinload(Author.books).selectinload(Book.tags)`), else in
 * a `Prefetch("books", queryset=...)` of it. (A fix on a Book queryset would name rows the Author query loads.)
 */
function prefetchOf(
  relation: LoopRelation,
  schema: SchemaIndex,
  ctx: ExplainContext,
): { hop: LoopStep; manager: RelatedManager; filtered: boolean } | null {
  const first = relation.path[0]
  if (relation.triggerIndex === null || !first || first.field === null || relation.pattern === 'deferred') return null
  const trigger = ctx.all[relation.triggerIndex]
  const parentQuery = ctx.all[relation.triggerIndex - 1]
  if (!parentQuery || parentQuery.stackKey !== trigger.stackKey || trigger.shape.kind !== 'select') return null
  // Selected from the owner's table; joins beside it are the owner's own eager loads (a lazy="joined" relationship).
  const from = trigger.shape.tables.find((table) => table.depth === 0 && table.via === 'from')
  if (!from || !same(from.name, first.ownerTable)) return null
  const key = trigger.shape.slots.find((slot) => slot.role === 'in' && slot.column !== null)?.column
  if (!key || (key.table !== null && !same(key.table, first.ownerTable))) return null
  const found = parentOf(first.ownerTable, key.column, schema)
  if (!found || !parentQuery.shape.mainTables.some((table) => same(table, found.parent.table))) return null
  const { owner, parent, accessor } = found
  // More than the parents' keys in its WHERE (or a form not read): the load filters the rows (or cuts them).
  const filtered = loopClauses(trigger).conditions !== 1
  return { hop: step(parent, accessor, queryNameOf(accessor, owner, true), false, owner), manager: managerOf(parent, accessor, true), filtered }
}

/**
 * A loop over rows a SQLAlchemy JOIN loaded with their parents (`joinedload(Author.books)`, or `contains_eager` of
 * `.join(Author.books)`): the trigger selects from the parent's table and joins the owner's table, whose FK to the
 * parent is its one relationship from it. The fix goes on the parent's query, one hop further (a `select(Book)` fix
 * would name rows the Author query loads, and its options do not apply to it). An anonymous alias (`books_1`) is
 * joinedload's; the table's own name, an explicit join's.
 */
function joinedHop(relation: LoopRelation, schema: SchemaIndex, ctx: ExplainContext): LoopStep | null {
  const first = relation.path[0]
  if (relation.triggerIndex === null || !first || first.field === null) return null
  const trigger = ctx.all[relation.triggerIndex]
  const tables = trigger.shape.tables.filter((table) => table.depth === 0)
  const from = tables.find((table) => table.via === 'from')
  const joins = tables.filter((table) => table.via === 'join' && same(table.name, first.ownerTable))
  const parent = from && !same(from.name, first.ownerTable) ? schema.byTable(from.name) : undefined
  const owner = schema.byTable(first.ownerTable)
  if (joins.length === 0 || !parent || !owner) return null
  const accessors = parent.relations.filter((r) => r.kind === 'reverse_fk' && r.target === owner.model)
  if (accessors.length !== 1) return null
  // joinedload's join has an anonymous alias (`books_1`); a join of the query's own (`.join(Author.books)`) loads the
  // rows only when they are selected from it (contains_eager), else it only filters: the rows come lazily.
  const selectedFrom = (name: string): boolean => trigger.shape.selectColumns?.some((c) => same(c.table, name)) ?? false
  const loader = joins.some((join) => join.alias && /_\d+$/.test(join.alias))
    ? 'joinedload'
    : joins.some((join) => join.alias === null && selectedFrom(join.name))
      ? 'contains_eager'
      : null
  if (loader === null) return null
  return { ...step(parent, accessors[0].field, accessors[0].field, false, owner), loader }
}

/**
 * A loop over rows one object's relationship loaded lazily (`user = session.get(User, 1); for post in user.posts:
 * for c in post.comments`): the trigger is SQLAlchemy's lazy load, `WHERE ? = posts.user_id`, the owner's FK to its
 * parent and nothing else. The fix goes on the query that loaded the parent (the nearest earlier one reading its
 * table), one hop further: a `select(Post)` fix would name a query the code never wrote.
 */
function lazyHop(relation: LoopRelation, schema: SchemaIndex, ctx: ExplainContext): { hop: LoopStep; parent: QueryFacts; load: LoopRelation['parentLoad'] } | null {
  const first = relation.path[0]
  if (relation.triggerIndex === null || !first || first.field === null) return null
  const trigger = ctx.all[relation.triggerIndex]
  const from = trigger.shape.tables.find((table) => table.depth === 0 && table.via === 'from')
  if (trigger.shape.kind !== 'select' || !from || !same(from.name, first.ownerTable)) return null
  if (!/\bwhere \? = [\w".]+$/.test(trigger.normalized) || loopClauses(trigger).conditions !== 1) return null
  const key = trigger.shape.slots.find((slot) => slot.role === 'eq' && slot.column !== null)?.column
  if (!key || (key.table !== null && !same(key.table, first.ownerTable))) return null
  const found = parentOf(first.ownerTable, key.column, schema)
  if (!found) return null
  const parent = nearestOn(ctx.all, trigger.index, (facts) => reads(facts, found.parent.table) && loadsRows(facts))
  if (!parent) return null
  const by = byKey(parent.query.sql, found.parent.pk) ? 'get' : 'select'
  return { hop: step(found.parent, found.accessor, found.accessor, false, found.owner), parent, load: { by, pk: found.parent.pk } }
}

/**
 * Nested loops: when the trigger is itself a query of an outer N+1, the fix belongs on the outer queryset, one
 * hop further: `Order.objects.prefetch_related("items__book")`.
 */
function chain(relation: LoopRelation, ctx: ExplainContext): LoopRelation {
  if (relation.triggerIndex === null || relation.path.length === 0 || relation.aggregate || relation.pattern === 'deferred') return relation
  const outer = ctx.previous.get(relation.triggerIndex)
  if (!outer || outer.path.length === 0 || outer.pattern === 'deferred' || outer.pattern === 'get' || outer.pattern === 'unknown') {
    return relation
  }
  if (outer.aggregate || outer.path.some((s) => s.field === null) || relation.path.some((s) => s.field === null)) return relation
  const last = outer.path[outer.path.length - 1]
  if (!same(last.targetTable, relation.path[0].ownerTable)) return relation
  return { ...relation, path: [...outer.path, ...relation.path], place: outer.place }
}
