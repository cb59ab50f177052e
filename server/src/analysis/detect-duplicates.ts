/**
 * Duplicates (DESIGN.md §6): the same SQL text with the same parameters on the same database at least twice in one
 * unit. `wasted_ms` is the time of every copy but the first.
 *
 * Copies that all belong to one N+1 or repeated-write finding are not reported again: that finding's fix removes
 * them too. Copies spread over places outside such a finding are reported: those outside it when there are two or
 * more (the finding's fix leaves them), else all of them. Without captured
 * parameters, only SQL without placeholders can be known to repeat.
 *
 * An INSERT, or an UPDATE that computes its value, is never a duplicate: each run changes rows (see changesEachTime).
 * Nor is a statement that failed (the next run is its retry), one calling a volatile function (`RANDOM()`,
 * `nextval()`), or one whose parameters the agent cut short (they may differ after the cut).
 *
 * A read run again after a write to a table it reads (on the same database) is not a duplicate of the read before
 * the write: it may see other rows (re-reading stock after a restock is right). The copies are split there, and each
 * part is judged on its own. A statement whose tables cannot be read, or that is neither a read nor a known write,
 * counts as a write to every table, and so does a change of schema (`SET search_path`, `USE`), after which the same
 * names are other tables; a read whose tables cannot be read, as a read of every table.
 * @module
 */
import type { Finding, Suggestion } from '../protocol.js'
import { groupBy, harnessQuery, wastedMs, type DetectContext } from './detect-context.js'
import type { QueryFacts } from './query-facts.js'
import { same } from './schema-index.js'
import { explainLoop } from './loop-relation.js'
import { at, suggestDuplicate, suggestLoop } from './suggest.js'

export function detectDuplicates(all: QueryFacts[], ctx: DetectContext, covered: readonly (readonly number[])[] = []): Finding[] {
  const owner = new Map<number, number>()
  covered.forEach((indexes, n) => indexes.forEach((index) => owner.set(index, n)))
  const comparable = all.filter(
    (f) =>
      !f.shape.control &&
      !harnessQuery(f, ctx) &&
      (f.query.params !== null || !f.hasParams) &&
      !changesEachTime(f) &&
      f.query.error === null &&
      !VOLATILE.test(f.normalized) &&
      !cutShort(f.query.params),
  )
  const groups = groupBy(comparable, (f) => `${f.query.db}\0${f.query.many}\0${f.sqlId}\0${f.paramsKey}`)
  const writes = writesOf(all)
  const findings: Finding[] = []
  for (const repeated of [...groups.values()].flatMap((group) => (group.length < 2 ? [] : splitAtWrites(group, writes)))) {
    if (repeated.length < 2) continue
    const inside = owner.get(repeated[0].index)
    if (inside !== undefined && repeated.every((c) => owner.get(c.index) === inside)) continue
    // A loop's fix removes its own copies: when the rest still repeat (a get before the loop and one after it), they
    // are the duplicate, at their own lines.
    const outside = repeated.filter((c) => !owner.has(c.index))
    const copies = outside.length >= 2 ? outside : repeated
    const repeat = copies[1]
    const loop = oneLoopsKey(copies, all, ctx)
    findings.push({
      kind: 'duplicate',
      severity: 'warning',
      fingerprint: repeat.fingerprint,
      sql: repeat.normalized,
      count: copies.length,
      wasted_ms: wastedMs(copies),
      query_indexes: copies.map((c) => c.index),
      callsite: repeat.query.callsite ?? null,
      template: repeat.query.template ?? null,
      trigger_index: loop?.triggerIndex ?? null,
      // (Writes between them are to other tables: one to a table they read splits them, see splitAtWrites.)
      suggestion: loop?.suggestion ?? suggestDuplicate(copies, ctx, writtenBetween(writes, copies[0].index, repeat.index, repeat.query.db, null)),
    })
  }
  return findings
}

/**
 * The copies of one line, one per row of a loop, reading a relation every row shares (the books of one author, each
 * looking its author up): the loop's eager load removes them as it would an N+1's, and the duplicate's own advice
 * (run it once before the loop) does not reach a lookup Django makes for `book.author`. Said both ways, since the
 * same key may also be a value of the code's own; its trigger is the loop's (the fix joins the N+1s' over the same
 * rows). Null when no relation of the loop's rows explains the lookup.
 */
function oneLoopsKey(copies: QueryFacts[], all: QueryFacts[], ctx: DetectContext): { suggestion: Suggestion; triggerIndex: number } | null {
  const first = copies[0]
  if (first.shape.kind !== 'select' || first.shape.aggregate || copies.some((c) => c.stackKey !== first.stackKey)) return null
  const keySlot = first.shape.slots.findIndex((slot) => (slot.role === 'eq' || slot.role === 'in') && slot.column)
  if (keySlot < 0) return null
  const relation = explainLoop(copies, keySlot, { all, schema: ctx.schema, orm: ctx.orm, previous: new Map() })
  if (relation.triggerIndex === null || !LOADED_PATTERNS.has(relation.pattern)) return null
  const fix = suggestLoop(relation, first, copies.length, ctx)
  if (fix.code === null) return null
  const text = `The same query runs ${copies.length} times, one per row of a loop, with the same key${at(first.query)}: if each row reads it through a relation (every row has the same one), ${lowerFirst(fix.text)}; if the key is a value of the code's own, run it once before the loop and reuse the result`
  return { suggestion: { text, code: fix.code }, triggerIndex: relation.triggerIndex }
}

const LOADED_PATTERNS = new Set(['forward', 'reverse', 'reverse_one', 'm2m'])
const lowerFirst = (text: string) => text.charAt(0).toLowerCase() + text.slice(1)

/**
 * A write that does something each time it runs, so that running it again is no waste: an INSERT adds rows (identical
 * ones too: `bulk_create` batches of equal objects), an UPDATE that computes its value (`SET stock = stock + 1`,
 * `NOW()`) changes the row again. An UPDATE of plain values, a DELETE, is done after the first time.
 */
function changesEachTime(f: QueryFacts): boolean {
  const { kind, setColumns, slots } = f.shape
  if (kind === 'insert') return true
  if (kind !== 'update') return false
  const plain = (column: string) => slots.some((s) => s.role === 'set' && s.column !== null && same(s.column.column, column) && s.op === '=')
  return !setColumns.every(plain) || COMPUTED_SET.test(setClause(f.normalized))
}

/** A call whose result differs each time (`ORDER BY RANDOM()`, `nextval('ticket_seq')`): running it again is not
 * running the same query again. */
const VOLATILE = /\b(random|rand|nextval|setval|lastval|gen_random_uuid|uuid_generate_v[14]|newid|clock_timestamp|timeofday|txid_current)\s*\(/i

/** Parameters the agent cut to its length limits (a string ending with "…", a list of its 1,000 items): equal
 * beginnings say nothing of the rest. */
function cutShort(params: unknown, depth = 0): boolean {
  if (typeof params === 'string') return params.endsWith('…')
  if (Array.isArray(params)) return (depth > 0 && params.length >= 1000) || params.some((value) => cutShort(value, depth + 1))
  if (params !== null && typeof params === 'object') return Object.values(params).some((value) => cutShort(value, depth + 1))
  return false
}

/** An operator or a call in a SET clause (`SET n = ? + n`, which the slot alone, `= ?`, does not show). */
const COMPUTED_SET = /[-+*/|(]/

/** The SET clause of a normalized UPDATE, its quoted names blanked. */
function setClause(normalized: string): string {
  const unquoted = normalized.replace(/"[^"]*"|`[^`]*`/g, 'x')
  const start = unquoted.search(/\bset\b/i)
  if (start < 0) return ''
  const end = unquoted.slice(start).search(/\b(where|returning|from)\b/i)
  return unquoted.slice(start + 3, end < 0 ? undefined : start + end)
}

/** A statement that may change rows: where it ran, and the tables it writes (null: any table, as far as we know). */
interface Write {
  index: number
  db: string
  tables: readonly string[] | null
}

function writesOf(all: QueryFacts[]): Write[] {
  const writes: Write[] = []
  for (const f of all) {
    const { kind, control, mainTables } = f.shape
    // A change of session state (`SET search_path TO tenant_2`, MySQL's `USE`, a tenant setting) may make the same
    // statement read other rows: a write to every table, as far as reads are concerned.
    if (CHANGES_SESSION.test(f.normalized)) {
      writes.push({ index: f.index, db: f.query.db, tables: null })
      continue
    }
    if (control || kind === 'select') continue
    const known = (kind === 'insert' || kind === 'update' || kind === 'delete') && mainTables.length > 0
    writes.push({ index: f.index, db: f.query.db, tables: known ? mainTables : null })
  }
  return writes // in query order, as `all` is
}

// A change of session state a read may depend on: the schema (`SET search_path`, `USE`), a role, a setting a row
// security policy reads (`SET app.tenant = ...`, `set_config(...)`).
const CHANGES_SESSION = /^\s*(set\s|use\s)|\bset_config\s*\(/i

/** The copies of one read, split wherever a write to a table it reads ran between two of them; of one UPDATE or
 * DELETE, wherever another write to its table did (`status='shipped'` between two `status='pending'`: the second
 * changes the row again). */
function splitAtWrites(copies: QueryFacts[], writes: Write[]): QueryFacts[][] {
  const read = copies[0]
  const { kind } = read.shape
  if ((kind !== 'select' && kind !== 'update' && kind !== 'delete') || writes.length === 0) return [copies]
  // A read whose tables cannot be told (a function, a view the parser does not see through) may read any of them.
  const tables = kind !== 'select' ? new Set(read.shape.mainTables) : read.shape.tables.length ? new Set(read.shape.tables.map((t) => t.name)) : null
  const parts: QueryFacts[][] = [[read]]
  for (let i = 1; i < copies.length; i++) {
    if (writtenBetween(writes, copies[i - 1].index, copies[i].index, read.query.db, tables)) parts.push([copies[i]])
    else parts[parts.length - 1].push(copies[i])
  }
  return parts
}

function writtenBetween(writes: Write[], after: number, before: number, db: string, tables: ReadonlySet<string> | null): boolean {
  let low = 0
  let high = writes.length
  while (low < high) {
    const mid = (low + high) >> 1
    if (writes[mid].index <= after) low = mid + 1
    else high = mid
  }
  for (let i = low; i < writes.length && writes[i].index < before; i++) {
    const write = writes[i]
    if (write.db === db && (write.tables === null || tables === null || write.tables.some((table) => tables.has(table)))) return true
  }
  return false
}
