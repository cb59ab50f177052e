/**
 * N+1 (DESIGN.md §6): at least `minRepeats` SELECTs of one unit with the same fingerprint, the same application
 * stack (template position included; in code seen recursing, its calls of a function to itself left out, so that
 * every depth of a tree is one loop) and the same database, whose values differ, and whose differing values are
 * all equality or IN lookups: a key per iteration. Pagination in a loop (a varying range, LIMIT or OFFSET) is not,
 * nor is a loop over batches of one list of keys (see {@link isBatched}), nor the levels of a tree loaded by a
 * recursive eager load (see {@link isTreeLevels}).
 * @module
 */
import type { Finding, Suggestion } from '../protocol.js'
import { djangoBookkeeping, groupBy, harnessQuery, repeatedGroupFinding, type DetectContext } from './detect-context.js'
import { loopClauses } from './loop-clauses.js'
import { explainLoop, type LoopRelation } from './loop-relation.js'
import { recurses, stackKeyOf, type QueryFacts } from './query-facts.js'
import { same, type SchemaIndex } from './schema-index.js'
import { suggestLoop } from './suggest.js'

const isLoopRead = (facts: QueryFacts): boolean =>
  facts.shape.kind === 'select' && !facts.shape.control && !facts.query.many && !djangoBookkeeping(facts)

export function detectNPlusOne(all: QueryFacts[], ctx: DetectContext): Finding[] {
  const reads = all.filter((facts) => isLoopRead(facts) && !harnessQuery(facts, ctx))
  // A recursion's depths are one loop, where the code is seen calling itself (a frame twice in one stack): methods
  // of one name in two classes of a file look alike, frame by frame, and are no recursion.
  const recursive = new Set(reads.filter((f) => recurses(f.query)).map((f) => f.fingerprint))
  const groups = groupBy(reads, (f) => `${f.query.db}\0${f.fingerprint}\0${recursive.has(f.fingerprint) ? stackKeyOf(f.query, true) : f.stackKey}`)
  const previous = new Map<number, LoopRelation>()
  const findings: Finding[] = []
  for (const group of groups.values()) {
    if (group.length < ctx.options.minRepeats) continue
    const keySlot = keySlotOf(group)
    if (keySlot === null || (isBatched(group, keySlot) && !perRowParent(group, all)) || isTreeLevels(group, keySlot, ctx.schema)) continue
    if (eagerByBatch(group, keySlot, all)) continue
    const relation = explainLoop(group, keySlot, { all, schema: ctx.schema, orm: ctx.orm, previous })
    // A recursion: the same lookup at each depth of the tree, as many levels as stacks (or depths of a recursion of
    // templates, whose positions are the same at every depth), below the levels a prefetch loaded before it
    // (`prefetch_related("children")` on the roots: an IN on the same key column).
    relation.levels = new Set(group.map((facts) => `${facts.stackKey}\0${facts.query.template?.recursion_depth ?? 0}`)).size
    if (relation.levels > 1) relation.prefetchedLevels = prefetchedLevels(group, keySlot, all)
    if (readBackAfterWrites(group, keySlot, all)) relation.readBack = true
    // A GenericForeignKey's ContentType lookups fill Django's per-process cache, one per type: no change to the code
    // removes them (its prefetch looks the types up too), and the next request does not make them.
    if (relation.pattern === 'generic_type') continue
    for (const facts of group) previous.set(facts.index, relation)
    findings.push(
      repeatedGroupFinding('n_plus_one', group, ctx, {
        triggerIndex: relation.triggerIndex,
        suggestion: withRepeats(suggestLoop(relation, group[0], group.length, ctx), group),
      }),
    )
  }
  return findings
}

/** Exact repeats inside the loop are not reported as duplicates of their own; the N+1 says how many there are. */
function withRepeats(suggestion: Suggestion, group: QueryFacts[]): Suggestion {
  const distinct = new Set(group.map((f) => `${f.sqlId}\0${f.paramsKey}`))
  const repeats = group[0].query.params === null ? 0 : group.length - distinct.size
  if (repeats === 0) return suggestion
  return { ...suggestion, text: `${suggestion.text} (${repeats} of the ${group.length} queries repeat a key the loop already fetched)` }
}

/**
 * The slot holding the loop's key: the first varying equality/IN lookup on a column (a LIKE without a wildcard is
 * one). Null when nothing varies (exact repeats are duplicates), or when something other than a lookup varies
 * (LIMIT/OFFSET, or a range in a statement with a LIMIT or without a varying key: pagination; a LIKE with a
 * wildcard: a search per row). A varying `!=` / NOT IN alongside a key lookup is allowed, and so is a varying range
 * in a statement without a LIMIT.
 * Values that were not captured (`params: null`) count as varying.
 */
export function keySlotOf(group: QueryFacts[]): number | null {
  const slots = group[0].shape.slots
  if (group.some((f) => f.shape.slots.length !== slots.length)) return null
  let key: number | null = null
  const ranges: string[] = []
  for (let i = 0; i < slots.length; i++) {
    const first = group[0].slotValues[i]
    const varies = group.some((f) => f.slotValues[i] === undefined || f.slotValues[i] !== first)
    if (!varies) continue
    const slot = slots[i]
    if ((slot.role === 'eq' || slot.role === 'in' || (slot.role === 'like' && matchesExactly(group, i))) && slot.column) key ??= i
    else if (slot.role === 'range') ranges.push(slot.column?.column ?? '')
    else if (slot.role !== 'ne') return null
  }
  // A range that varies is a page unless a key is seen to vary too (values captured): then it is the row's own bound
  // (`book.reviews.filter(created__lte=now())`, `.first()` of a price valid now), an N+1 all the same, unless the
  // statement pages through the key's rows: several rows at a time in the order of the range's column (keyset pages
  // of each author's books, `id > %s ORDER BY id LIMIT 100`).
  if (ranges.length === 0) return key
  const keyKnown = key !== null && group.every((f) => f.slotValues[key!] !== undefined)
  return !keyKnown || pages(group[0], ranges) ? null : key
}

/** A LIKE that is an equality on every row: each value known and without a wildcard (`%`, `_` not escaped by a
 * backslash), as Django writes `iexact` on SQLite. (A LIKE with one is a search per row.) */
function matchesExactly(group: QueryFacts[], slot: number): boolean {
  return group.every((facts) => {
    const text = facts.slotValues[slot]
    if (text === undefined) return false
    const values = JSON.parse(text) as unknown[]
    return values.every((value) => typeof value === 'string' && !/[%_]/.test(value.replace(/\\./g, '')))
  })
}

/** A keyset page: a LIMIT of several rows (or one not written in the SQL), ordered by a column the range bounds (or
 * by what cannot be read). */
function pages(facts: QueryFacts, ranges: string[]): boolean {
  if (!facts.shape.hasLimit) return false
  const { limit, ordered, order } = loopClauses(facts)
  if ((limit !== null && limit <= 1) || !ordered) return false
  return order === null || order.some(([, column]) => ranges.some((range) => same(range, column)))
}

/**
 * A loop over batches, not rows: the key is an IN list (or an `= ANY` array) of several values in every query, all
 * lists of one length but the last, which may be shorter, and no value in two of them: chunks of one list of keys
 * (`iterator(chunk_size=...)` with a prefetch, `in_bulk()` or `IN` per chunk). Already what the fix would do. A list
 * per row (a prefetch inside a loop) holds one key, or as many as the row has relations, lengths that vary.
 */
export function isBatched(group: QueryFacts[], keySlot: number): boolean {
  const lists = keyLists(group, keySlot)
  if (lists === null) return false
  const size = lists[0]?.length ?? 0
  if (size < 2 || lists.some((list) => list === null)) return false
  if (lists.slice(0, -1).some((list) => list!.length !== size) || lists.at(-1)!.length > size) return false
  return disjoint(lists)
}

/**
 * The levels of a tree, each loaded in one query by the keys of the level above: an IN on a table's foreign key to
 * itself, every query right after the one before it and no key in two lists (`prefetch_related("children__children")`,
 * SQLAlchemy's `selectinload(Category.children, recursion_depth=...)`). The fix for a recursion over a tree, not a
 * loop over rows: the lists are as long as each level is wide. Without captured values (`CAPTURE_PARAMS` off) the
 * shape alone decides: a loop over rows that reads a self-relation by IN, query after query with nothing between,
 * is one the lists could not tell from levels anyway (a prefetch per row: one key each, all disjoint).
 */
export function isTreeLevels(group: QueryFacts[], keySlot: number, schema: SchemaIndex | null): boolean {
  const first = group[0]
  const slot = first.shape.slots[keySlot]
  const table = slot.column?.table ?? first.shape.mainTables[0]
  const model = table ? schema?.byTable(table) : undefined
  // The FK to itself, declared on either side (a `parent` relation, or only the `children` one).
  const column = slot.column?.column
  const selfKey = model?.relations.some(
    (r) =>
      r.target === model.model &&
      (((r.kind === 'fk' || r.kind === 'o2o') && same(r.column, column)) || (r.kind === 'reverse_fk' && same(r.target_column, column))),
  )
  if (slot.role !== 'in' || !selfKey) return false
  if (group.some((facts, i) => i > 0 && facts.index !== group[i - 1].index + 1)) return false
  const values = group.map((facts) => facts.slotValues[keySlot])
  return values.every((value) => value === undefined) || disjoint(values.map(keyList))
}

/** How many queries before the loop fetched its table by an IN on its key column: the levels of a tree a prefetch
 * loaded before the recursion went on lazily. */
function prefetchedLevels(group: QueryFacts[], keySlot: number, all: QueryFacts[]): number {
  const { shape } = group[0]
  const column = shape.slots[keySlot].column
  const byKeys = (facts: QueryFacts): boolean =>
    facts.shape.kind === 'select' &&
    same(facts.shape.mainTables[0], shape.mainTables[0]) &&
    facts.shape.slots.some((slot) => slot.role === 'in' && same(slot.column?.column, column?.column))
  return all.slice(0, group[0].index).filter(byKeys).length
}

/** No value in two of the lists (none of them null: values not captured). */
function disjoint(lists: (unknown[] | null)[]): boolean {
  const seen = new Set<string>()
  for (const list of lists) {
    if (list === null) return false
    for (const value of list) {
      const key = JSON.stringify(value)
      if (seen.has(key)) return false
      seen.add(key)
    }
  }
  return true
}

/**
 * Whether each query of the group comes right after a lookup of its own parent rows: one SELECT of one fingerprint
 * whose `=` key is all that varies from one to the next (`author.books.prefetch_related("reviews")` in a loop: the
 * author's books, then their reviews by IN). Lists that look like chunks are then one per row (fixtures often give
 * every parent as many children). A page of a keyset loop (a varying `>`) or another prefetch of the same chunk (a
 * varying IN) is not such a lookup.
 */
function perRowParent(group: QueryFacts[], all: QueryFacts[]): boolean {
  const parents = group.map((facts) => all[facts.index - 1])
  const first = parents[0]
  if (!first || first.shape.kind !== 'select' || !parents.every((facts) => facts?.fingerprint === first.fingerprint)) return false
  const key = keySlotOf(parents) // the lookup's key, as for a loop of its own
  return key !== null && first.shape.slots[key].role === 'eq'
}

/**
 * Whether the loop reads back rows a write expired (see {@link LoopRelation.readBack}): a write to their table came
 * before or between the loop's reads, and the rows had been loaded before that write, by another query of the table
 * with no condition on the loop's key (a list of its rows) or one that looked up some of the same keys. Rows read for
 * the first time, a write after each (`s.get(Book, i)`, change it, commit), are a plain loop of lookups.
 */
function readBackAfterWrites(group: QueryFacts[], keySlot: number, all: QueryFacts[]): boolean {
  const table = group[0].shape.mainTables[0]
  const key = group[0].shape.slots[keySlot].column
  if (table === undefined || key === null) return false
  const last = group[group.length - 1].index
  const firstWrite = all.findIndex((facts) => facts.index < last && ['insert', 'update', 'delete'].includes(facts.shape.kind) && same(facts.shape.mainTables[0], table))
  if (firstWrite < 0) return false
  const loop = new Set(group.map((facts) => facts.index))
  const valuesIn = (text: string | undefined): string[] => (keyList(text) ?? []).map((value) => JSON.stringify(value))
  const keys = new Set(group.flatMap((facts) => valuesIn(facts.slotValues[keySlot])))
  const loaded = (facts: QueryFacts): boolean => {
    const onKey = facts.shape.slots.flatMap((slot, i) => (slot.column && same(slot.column.column, key.column) ? [i] : []))
    return onKey.length === 0 || onKey.some((i) => valuesIn(facts.slotValues[i]).some((value) => keys.has(value)))
  }
  return all
    .slice(0, firstWrite)
    .some((facts) => !loop.has(facts.index) && facts.shape.kind === 'select' && facts.shape.mainTables.some((t) => same(t, table)) && loaded(facts))
}

/**
 * An eager load made batch by batch while the parent rows are iterated: IN queries from the very place that ran the
 * parent query once (the line iterating it), not from a loop's body. SQLAlchemy's selectinload under `yield_per`,
 * Django's prefetch under `iterator(chunk_size=...)`: each batch's keys, which overlap from batch to batch for a
 * many-to-one (the authors of many books). Already what a fix would do. (A parent query run again and again at that
 * place is a loop's: `publisher.books.prefetch_related("author")` per publisher.)
 */
function eagerByBatch(group: QueryFacts[], keySlot: number, all: QueryFacts[]): boolean {
  if (group[0].shape.slots[keySlot].role !== 'in') return false
  const table = group[0].shape.mainTables[0]
  const parent = all
    .slice(0, group[0].index)
    .reverse()
    .find((facts) => facts.stackKey === group[0].stackKey && facts.shape.kind === 'select' && !same(facts.shape.mainTables[0], table))
  return parent !== undefined && all.filter((facts) => facts.stackKey === parent.stackKey && facts.fingerprint === parent.fingerprint).length === 1
}

/** Each query's list of keys: its IN list, or its `("t"."id" = %s OR "t"."id" = %s)`, a list written out (Django's
 * prefetch of a forward FK on SQLite); null for a key of one value. */
function keyLists(group: QueryFacts[], keySlot: number): (unknown[] | null)[] | null {
  const { slots } = group[0].shape
  const key = slots[keySlot]
  if (key.role === 'in') return group.map((facts) => keyList(facts.slotValues[keySlot]))
  const written = slots
    .map((slot, i) => (slot.role === 'eq' && slot.column?.column === key.column?.column && slot.column?.table === key.column?.table ? i : -1))
    .filter((i) => i >= 0)
  if (key.role !== 'eq' || written.length < 2 || !/ or /.test(group[0].normalized)) return null
  return group.map((facts) => {
    const values = written.map((i) => keyList(facts.slotValues[i]))
    return values.some((list) => list === null) ? null : values.flatMap((list) => list!)
  })
}

/** The values of an IN slot (`slotValues` text), an `= ANY(%s)` array's elements; null when not captured. */
function keyList(text: string | undefined): unknown[] | null {
  if (text === undefined) return null
  const values = JSON.parse(text) as unknown[]
  return values.length === 1 && Array.isArray(values[0]) ? values[0] : values
}
