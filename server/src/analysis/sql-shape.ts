/**
 * The shape of one SQL statement, read from the shared lexer's tokens: what kind of statement it is, which tables it
 * reads or writes, which columns its values are compared with, and what it selects. The detectors and the
 * suggestions work on this shape; they never look at SQL text themselves.
 *
 * This is not a parser: it reads the statements Django and SQLAlchemy send well, and anything else without throwing
 * (unknown constructs simply yield fewer facts).
 * @module
 */
import { tokenize, type Dialect, type Token } from './lexer.js'

export type StatementKind =
  | 'select'
  | 'insert'
  | 'update'
  | 'delete'
  | 'savepoint'
  | 'release'
  | 'begin'
  | 'commit'
  | 'rollback'
  | 'set'
  | 'other'

/** A column, with its table resolved from aliases (names unquoted and lower-cased). */
export interface ColumnRef {
  table: string | null
  column: string
}

/** How a value of the statement is used. */
export type SlotRole = 'eq' | 'in' | 'ne' | 'range' | 'like' | 'limit' | 'offset' | 'set' | 'values' | 'other'

/** A value in the SQL: a placeholder (by position or name) or a literal written in the text. */
export type ValueRef = { param: number | string } | { literal: string }

/**
 * One value position of the statement. An IN list, an `= ANY(...)` array and a whole VALUES clause are one slot
 * each, so that statements with one fingerprint have the same slots whatever the length of their lists.
 */
export interface Slot {
  role: SlotRole
  /** The column the value is compared with or assigned to, when there is one. */
  column: ColumnRef | null
  /** The comparison operator as written, lower-cased (`=`, `>=`, `in`, `like`...). */
  op: string
  values: ValueRef[]
  /** Both sides folded to one case, `UPPER("t"."c"::text) = UPPER(%s)` (Django's `iexact` on PostgreSQL): the value
   * is compared case-insensitively. The function, lower-cased. */
  folded?: string
}

export interface TableRef {
  /** Unquoted, lower-cased, without its schema. */
  name: string
  alias: string | null
  via: 'from' | 'join' | 'into' | 'update'
  /** 0 for the statement itself, more inside subqueries. */
  depth: number
}

export interface SqlShape {
  kind: StatementKind
  /** Transaction control or connection setup (SAVEPOINT, BEGIN, SET, SHOW, SELECT VERSION()...): never a finding. */
  control: boolean
  tables: TableRef[]
  /** The tables of the statement itself (FROM, JOIN, INTO, UPDATE at depth 0), in order. */
  mainTables: string[]
  slots: Slot[]
  /** The selected columns, when every selected item is a plain column; null otherwise. */
  selectColumns: ColumnRef[] | null
  /** Whether the select list has items and none of them is a plain column (`SELECT (SELECT count(...)) AS anon_1`). */
  selectsOnlyExpressions: boolean
  /** `count` for `SELECT COUNT(...)`, `exists` for Django's `SELECT 1 AS "a" ... LIMIT 1`, the function's name for
   * `SELECT AVG("t"."rating")` (SUM, MIN, MAX) of one column. */
  aggregate: Aggregate | null
  /** The column of an AVG, SUM, MIN or MAX. */
  aggregateColumn: ColumnRef | null
  hasLimit: boolean
  /** An INSERT writing more than one row of VALUES: already a batch. */
  multiRowValues: boolean
  /** The columns an UPDATE assigns, in order. */
  setColumns: string[]
}

const COMPARISONS: Record<string, SlotRole> = {
  '=': 'eq',
  '==': 'eq',
  '<=>': 'eq',
  '!=': 'ne',
  '<>': 'ne',
  '<': 'range',
  '>': 'range',
  '<=': 'range',
  '>=': 'range',
}
const LIKE_WORDS = new Set(['like', 'ilike', 'glob', 'regexp'])
const FOLDS = ['upper', 'lower']

/** Words that end a table reference or a column operand: never an alias or a column name. */
const RESERVED = new Set([
  'select', 'from', 'where', 'join', 'inner', 'left', 'right', 'full', 'outer', 'cross', 'natural', 'on', 'using',
  'group', 'order', 'having', 'limit', 'offset', 'union', 'except', 'intersect', 'set', 'values', 'value', 'returning',
  'for', 'and', 'or', 'not', 'in', 'is', 'as', 'by', 'when', 'then', 'else', 'end', 'case', 'fetch', 'window',
  'lateral', 'straight_join', 'into', 'default', 'null', 'true', 'false', 'like', 'ilike', 'between', 'exists',
  'distinct', 'all', 'any', 'some', 'with', 'on', 'update', 'delete', 'insert', 'interval', 'escape', 'asc', 'desc',
])

const CLAUSE_WORDS = new Set([
  'select', 'from', 'where', 'on', 'having', 'group', 'order', 'limit', 'offset', 'set', 'values', 'value', 'into',
  'returning', 'using', 'union', 'except', 'intersect', 'window', 'fetch', 'for',
])

const SETUP_WORDS = new Set(['show', 'pragma', 'use', 'reset', 'discard', 'listen', 'unlisten'])
const SETUP_FUNCTIONS = new Set([
  'version', 'current_setting', 'set_config', 'current_schema', 'current_schemas', 'current_database', 'current_user',
  'session_user', 'user', 'database', 'connection_id', 'sqlite_version', 'pg_backend_pid', 'pg_is_in_recovery',
  'last_insert_id', 'last_insert_rowid', 'txid_current',
])
const CATALOG_SCHEMAS = new Set(['pg_catalog', 'information_schema', 'mysql', 'performance_schema', 'sys'])
const CATALOG_TABLES = new Set(['sqlite_master', 'sqlite_schema', 'sqlite_temp_master', 'sqlite_sequence'])

interface Context {
  clause: string
  /** What the parenthesis that opened this level is: the statement itself, a subquery, an IN list, a VALUES row... */
  kind: 'root' | 'subquery' | 'list' | 'row' | 'group'
  /** The slot collecting every value of an IN list, ANY(...) array or VALUES clause at this level. */
  listSlot: Slot | null
  /** The parenthesis of a function call (`EXTRACT(YEAR FROM ...)` has no table). */
  call?: boolean
}

/** Unquote an identifier token (`"shop_book"`, `` `x` ``, `[x]`) or lower-case a bare word. */
export function nameOf(token: Token): string {
  if (token.kind !== 'ident') return token.text.toLowerCase()
  const text = token.text
  const open = text[0]
  const close = open === '[' ? ']' : open
  const inner = text.endsWith(close) && text.length >= 2 ? text.slice(1, -1) : text.slice(1)
  return inner.split(close + close).join(close).toLowerCase()
}

const isWord = (t: Token | undefined, ...words: string[]): boolean =>
  t !== undefined && t.kind === 'word' && words.includes(t.text.toLowerCase())
const isPunct = (t: Token | undefined, text: string): boolean => t !== undefined && t.kind === 'punct' && t.text === text
const isName = (t: Token | undefined): t is Token =>
  t !== undefined && (t.kind === 'ident' || (t.kind === 'word' && !RESERVED.has(t.text.toLowerCase())))
const isLiteralWord = (t: Token): boolean => isWord(t, 'null', 'true', 'false')

/** The key a placeholder reads its value from: a position in a params list, or a name in a params object. */
function paramKey(text: string, ordinal: number): number | string {
  if (text === '%s' || text === '?') return ordinal
  if (text.startsWith('%(')) return text.slice(2, text.lastIndexOf(')'))
  if (/^[$?]\d+$/.test(text)) return Number(text.slice(1)) - 1
  if (text.startsWith('__[POSTCOMPILE_')) return text.slice('__[POSTCOMPILE_'.length, -1)
  if (/^[:@$]/.test(text)) return text.slice(1)
  return ordinal
}

/** Read the shape of one statement. Never throws. */
export function sqlShape(sql: string, dialect: Dialect): SqlShape {
  const tokens = tokenize(sql, dialect).filter((t) => t.kind !== 'space' && t.kind !== 'comment')
  return new ShapeReader(tokens).read()
}

class ShapeReader {
  private readonly tables: TableRef[] = []
  private readonly slots: Slot[] = []
  private readonly setColumns: string[] = []
  private readonly stack: Context[] = [{ clause: 'start', kind: 'root', listSlot: null }]
  private ordinal = 0
  private valuesRows = 0
  private hasLimit = false
  private betweenSlot: Slot | null = null
  private catalog = false
  /** The column an UPDATE's SET is assigning, for values inside its expression. */
  private setColumn: ColumnRef | null = null
  private setDepth = 0

  constructor(private readonly tokens: Token[]) {}

  read(): SqlShape {
    const kind = this.statementKind()
    const t = this.tokens
    for (let i = 0; i < t.length; i++) i = this.step(i)
    const aliases = new Map<string, string>()
    for (const table of this.tables) {
      aliases.set(table.name, table.name)
      if (table.alias) aliases.set(table.alias, table.name)
    }
    const single = this.tables.length === 1 ? this.tables[0].name : null
    const resolve = (ref: ColumnRef | null): ColumnRef | null =>
      ref && { column: ref.column, table: ref.table ? (aliases.get(ref.table) ?? ref.table) : single }
    for (const slot of this.slots) slot.column = resolve(slot.column)
    const select = kind === 'select' ? this.selectItems() : null
    const selectColumns = select && select.every((item) => item.column) ? select.map((item) => resolve(item.column)!) : null
    return {
      kind,
      control: this.isControl(kind, select),
      tables: this.tables,
      mainTables: this.tables.filter((table) => table.depth === 0).map((table) => table.name),
      slots: this.slots,
      selectColumns,
      selectsOnlyExpressions: select !== null && select.length > 0 && select.every((item) => !item.column),
      aggregate: this.aggregate(select),
      aggregateColumn: this.aggregateColumn(select),
      hasLimit: this.hasLimit,
      multiRowValues: this.valuesRows > 1,
      setColumns: this.setColumns,
    }
  }

  private get top(): Context {
    return this.stack[this.stack.length - 1]
  }

  private statementKind(): StatementKind {
    const t = this.tokens
    let i = 0
    while (isPunct(t[i], '(')) i++
    const first = t[i]?.kind === 'word' ? t[i].text.toLowerCase() : ''
    switch (first) {
      case 'select':
      case 'values':
      case 'table':
        return 'select'
      case 'insert':
      case 'replace':
      case 'merge':
        return 'insert'
      case 'update':
        return 'update'
      case 'delete':
        return 'delete'
      case 'savepoint':
        return 'savepoint'
      case 'release':
        return 'release'
      case 'begin':
      case 'start':
        return 'begin'
      case 'commit':
      case 'end':
        return 'commit'
      case 'rollback':
      case 'abort':
        return 'rollback'
      case 'set':
        return 'set'
      case 'with': {
        let depth = 0
        for (let j = i + 1; j < t.length; j++) {
          if (isPunct(t[j], '(')) depth++
          else if (isPunct(t[j], ')')) depth--
          else if (depth === 0 && isWord(t[j], 'select', 'insert', 'update', 'delete')) {
            return t[j].text.toLowerCase() as StatementKind
          }
        }
        return 'select'
      }
      default:
        return 'other'
    }
  }

  /** Handle the token at `i`; return the index of the last token consumed. */
  private step(i: number): number {
    const t = this.tokens
    const token = t[i]
    const top = this.top
    if (token.kind === 'punct') {
      if (token.text === '(') return this.open(i)
      if (token.text === ')') {
        if (this.stack.length > 1) this.stack.pop()
        return i
      }
      if (token.text === ',' && top.clause === 'from' && top.kind !== 'list') return this.tableRef(i + 1, 'from') - 1
      return i
    }
    if (token.kind === 'word') {
      const word = token.text.toLowerCase()
      if (word === 'join') return this.tableRef(i + 1, 'join') - 1
      if (word === 'from' && top.kind !== 'list' && !top.call) {
        top.clause = 'from'
        return this.tableRef(i + 1, 'from') - 1
      }
      if (word === 'into') {
        top.clause = 'into'
        return this.tableRef(i + 1, 'into') - 1
      }
      if (word === 'update' && !isWord(t[i - 1], 'for', 'key', 'do', 'no')) {
        top.clause = 'update'
        return this.tableRef(i + 1, 'update') - 1
      }
      if (word === 'where' || word === 'having') top.clause = 'where'
      else if (word === 'limit') {
        top.clause = 'limit'
        if (this.stack.length === 1) this.hasLimit = true
      } else if (word === 'values' || word === 'value') {
        top.clause = 'values'
        top.listSlot = this.addSlot({ role: 'values', column: null, op: 'values', values: [] })
      } else if (CLAUSE_WORDS.has(word)) {
        top.clause = word
        if (word === 'set') this.setDepth = this.stack.length
      }
      else if (word === 'between') {
        this.betweenSlot = this.addSlot({ role: 'range', column: this.columnBefore(i - 1), op: 'between', values: [] })
      }
      if (isLiteralWord(token) && !isWord(t[i - 1], 'is', 'not')) this.value(i, { literal: word })
      return i
    }
    if (token.kind === 'op' && token.text === '=' && top.clause === 'set' && this.stack.length === this.setDepth) {
      this.setColumn = this.columnBefore(i - 1)
      if (this.setColumn) this.setColumns.push(this.setColumn.column)
      return i
    }
    if (token.kind === 'param') {
      this.value(i, { param: paramKey(token.text, this.ordinal++) })
      return i
    }
    if (token.kind === 'string' || token.kind === 'number') {
      const sign = t[i - 1]?.kind === 'op' && (t[i - 1].text === '-' || t[i - 1].text === '+') ? t[i - 1].text : ''
      this.value(i, { literal: sign === '-' ? `-${token.text}` : token.text })
      return i
    }
    return i
  }

  private open(i: number): number {
    const t = this.tokens
    const top = this.top
    const next = t[i + 1]
    if (isWord(next, 'select', 'with', 'values')) {
      this.stack.push({ clause: 'start', kind: 'subquery', listSlot: null })
      return i
    }
    const before = t[i - 1]
    if (isWord(before, 'in')) {
      const column = this.columnBefore(isWord(t[i - 2], 'not') ? i - 3 : i - 2)
      const slot = this.addSlot({ role: isWord(t[i - 2], 'not') ? 'ne' : 'in', column, op: 'in', values: [] })
      this.stack.push({ clause: top.clause, kind: 'list', listSlot: slot })
      return i
    }
    if (isWord(before, 'any', 'some') && t[i - 2]?.kind === 'op' && t[i - 2].text === '=') {
      const slot = this.addSlot({ role: 'in', column: this.columnBefore(i - 3), op: 'in', values: [] })
      this.stack.push({ clause: top.clause, kind: 'list', listSlot: slot })
      return i
    }
    if (top.clause === 'values') {
      if (top.kind !== 'row') this.valuesRows++
      this.stack.push({ clause: 'values', kind: 'row', listSlot: top.listSlot })
      return i
    }
    const call = isName(before) && before.kind === 'word'
    const inList = top.kind === 'list'
    this.stack.push({ clause: top.clause, kind: inList ? 'list' : 'group', listSlot: inList ? top.listSlot : null, call })
    return i
  }

  /** Read a table reference starting at `i` (a name with an optional alias); return the index after it. */
  private tableRef(i: number, via: TableRef['via']): number {
    const t = this.tokens
    if (isWord(t[i], 'only', 'lateral')) i++
    if (!isName(t[i])) return i
    const parts = [nameOf(t[i])]
    i++
    while (isPunct(t[i], '.') && (t[i + 1]?.kind === 'ident' || t[i + 1]?.kind === 'word')) {
      parts.push(nameOf(t[i + 1]))
      i += 2
    }
    if (isPunct(t[i], '(') && via !== 'into') return i // a table function
    let alias: string | null = null
    if (isWord(t[i], 'as') && isName(t[i + 1])) {
      alias = nameOf(t[i + 1])
      i += 2
    } else if (isName(t[i]) && via !== 'into') {
      alias = nameOf(t[i])
      i++
    }
    const name = parts[parts.length - 1]
    const schema = parts.length > 1 ? parts[parts.length - 2] : null
    this.tables.push({ name, alias, via, depth: this.stack.length - 1 })
    if (schema && CATALOG_SCHEMAS.has(schema)) this.catalog = true
    return i
  }

  private addSlot(slot: Slot): Slot {
    this.slots.push(slot)
    return slot
  }

  /** Place the value at token `i` in its slot, by the clause it is in and the operator next to it. */
  private value(i: number, ref: ValueRef): void {
    const t = this.tokens
    const top = this.top
    if (top.listSlot) {
      top.listSlot.values.push(ref)
      return
    }
    if (this.betweenSlot) {
      this.betweenSlot.values.push(ref)
      if (this.betweenSlot.values.length >= 2) this.betweenSlot = null
      return
    }
    let prev = i - 1
    if (t[prev]?.kind === 'op' && (t[prev].text === '-' || t[prev].text === '+') && t[i].kind === 'number') prev--
    if (top.clause === 'limit' || top.clause === 'offset' || top.clause === 'fetch') {
      this.addSlot({ role: top.clause === 'offset' ? 'offset' : 'limit', column: null, op: top.clause, values: [ref] })
      return
    }
    const before = t[prev]
    if (top.clause === 'set' && !(before?.kind === 'op' && before.text === '=')) {
      this.addSlot({ role: 'set', column: this.setColumn, op: 'expression', values: [ref] })
      return
    }
    if (before?.kind === 'op' && before.text in COMPARISONS) {
      const column = this.columnBefore(prev - 1)
      if (top.clause === 'set') this.addSlot({ role: 'set', column: this.setColumn, op: '=', values: [ref] })
      else this.addSlot({ role: COMPARISONS[before.text], column, op: before.text, values: [ref] })
      return
    }
    const folded = this.foldedComparison(i, ref)
    if (folded) {
      this.addSlot(folded)
      return
    }
    if (isWord(before, ...LIKE_WORDS)) {
      this.addSlot({ role: 'like', column: this.columnBefore(isWord(t[prev - 1], 'not') ? prev - 2 : prev - 1), op: before!.text.toLowerCase(), values: [ref] })
      return
    }
    if (isWord(before, 'in')) {
      this.addSlot({ role: 'in', column: this.columnBefore(prev - 1), op: 'in', values: [ref] })
      return
    }
    let next = i + 1
    while (t[next]?.kind === 'op' && t[next].text === '::') next += 2
    const after = t[next]
    if (after?.kind === 'op' && after.text in COMPARISONS) {
      const column = this.columnAfter(next + 1)
      if (column) {
        this.addSlot({ role: COMPARISONS[after.text], column, op: after.text, values: [ref] })
        return
      }
    }
    this.addSlot({ role: 'other', column: null, op: '', values: [ref] })
  }

  /** The slot of a value at token `i` compared with a column with both sides folded to one case:
   * `UPPER("t"."c"::text) = UPPER(%s)`, `lower(t.c) = lower(?)`; `lower(t.c) LIKE lower(?)` is an ILIKE. */
  private foldedComparison(i: number, ref: ValueRef): Slot | null {
    const t = this.tokens
    const fold = t[i - 2]
    if (!isPunct(t[i - 1], '(') || !isWord(fold, ...FOLDS) || !isPunct(t[i + 1], ')')) return null
    const op = t[i - 3]
    const like = isWord(op, 'like') // SQLAlchemy's ilike() on SQLite: lower(t.c) LIKE lower(?)
    if ((!like && (op?.kind !== 'op' || !(op.text in COMPARISONS))) || !isPunct(t[i - 4], ')')) return null
    // The column's call, back from its `)`: FOLD ( name [. name] [:: type] ), the same function as the value's.
    let k = i - 5
    if (t[k - 1]?.kind === 'op' && t[k - 1].text === '::') k -= 2
    const column = this.columnBefore(k)
    if (!column) return null
    const start = column.table === null ? k : k - 2
    if (!isPunct(t[start - 1], '(') || !isWord(t[start - 2], fold!.text.toLowerCase())) return null
    if (like) return { role: 'like', column, op: 'ilike', values: [ref] }
    return { role: COMPARISONS[op.text], column, op: op.text, values: [ref], folded: fold!.text.toLowerCase() }
  }

  /** The column whose reference ends at token `k` (`"t"."c"`, `t.c`, `c`, with an optional `::type` cast). */
  private columnBefore(k: number): ColumnRef | null {
    const t = this.tokens
    if (t[k - 1]?.kind === 'op' && t[k - 1].text === '::') k -= 2
    if (isPunct(t[k], ')') && isName(t[k - 1]) && isPunct(t[k - 2], '.') && isName(t[k - 3]) && isPunct(t[k - 4], '(')) {
      k -= 1 // Django wraps some references in parentheses: ("t"."c")
    }
    if (!isName(t[k])) return null
    if (isPunct(t[k - 1], '.') && isName(t[k - 2])) return { table: nameOf(t[k - 2]), column: nameOf(t[k]) }
    if (isPunct(t[k + 1], '(')) return null
    return { table: null, column: nameOf(t[k]) }
  }

  /** The column whose reference starts at token `k`. */
  private columnAfter(k: number): ColumnRef | null {
    const t = this.tokens
    if (!isName(t[k])) return null
    if (isPunct(t[k + 1], '.') && isName(t[k + 2])) {
      if (isPunct(t[k + 3], '.') && isName(t[k + 4])) return { table: nameOf(t[k + 2]), column: nameOf(t[k + 4]) }
      return { table: nameOf(t[k]), column: nameOf(t[k + 2]) }
    }
    if (isPunct(t[k + 1], '(')) return null
    return { table: null, column: nameOf(t[k]) }
  }

  /** The items of the top-level select list, each a plain column or not. */
  private selectItems(): { tokens: Token[]; column: ColumnRef | null }[] | null {
    const t = this.tokens
    let depth = 0
    let start = -1
    const items: { tokens: Token[]; column: ColumnRef | null }[] = []
    let current: Token[] = []
    for (let i = 0; i < t.length; i++) {
      const token = t[i]
      if (start < 0) {
        if (isPunct(token, '(')) depth++
        else if (isPunct(token, ')')) depth--
        else if (depth === 0 && isWord(token, 'select')) {
          start = i
          if (isWord(t[i + 1], 'distinct', 'all')) i++
        }
        continue
      }
      if (isPunct(token, '(')) depth++
      else if (isPunct(token, ')')) depth--
      if (depth === 0 && (isWord(token, 'from', 'where', 'limit', 'order', 'group', 'union', 'into') || isPunct(token, ';'))) break
      if (depth === 0 && isPunct(token, ',')) {
        items.push({ tokens: current, column: plainColumn(current) })
        current = []
      } else current.push(token)
    }
    if (start < 0) return null
    if (current.length) items.push({ tokens: current, column: plainColumn(current) })
    return items
  }

  private aggregate(select: { tokens: Token[] }[] | null): SqlShape['aggregate'] {
    if (!select || select.length !== 1) return null
    const item = select[0].tokens
    if (isWord(item[0], 'count') && isPunct(item[1], '(')) return 'count'
    if (this.aggregateColumn(select)) return item[0].text.toLowerCase() as Aggregate
    const literal = isPunct(item[0], '(') ? item[1] : item[0]
    // Django before 5.x selects `1`; 5.x passes it as a parameter (`SELECT %s AS "a" ... LIMIT 1`).
    if ((literal?.kind === 'number' || literal?.kind === 'param') && this.hasLimit && this.tables.length > 0) return 'exists'
    return null
  }

  /** `AVG("t"."rating")`, alone in the select list (an alias allowed): its column. */
  private aggregateColumn(select: { tokens: Token[] }[] | null): ColumnRef | null {
    if (!select || select.length !== 1) return null
    const item = select[0].tokens
    if (item[0]?.kind !== 'word' || !VALUE_AGGREGATES.has(item[0].text.toLowerCase()) || !isPunct(item[1], '(')) return null
    const close = item.findIndex((token, i) => i > 1 && isPunct(token, ')'))
    const rest = item.slice(close + 1)
    if (close < 0 || !(rest.length === 0 || (rest.length === 2 && isWord(rest[0], 'as')) || rest.length === 1)) return null
    return plainColumn(item.slice(2, close))
  }

  private isControl(kind: StatementKind, select: { tokens: Token[] }[] | null): boolean {
    if (kind !== 'select' && kind !== 'insert' && kind !== 'update' && kind !== 'delete' && kind !== 'other') return true
    const first = this.tokens[0]
    if (kind === 'other') return first?.kind === 'word' && SETUP_WORDS.has(first.text.toLowerCase())
    if (kind !== 'select') return false
    if (this.catalog) return true
    if (this.tables.length > 0) return this.tables.every((table) => CATALOG_TABLES.has(table.name) || table.name.startsWith('pg_'))
    // A SELECT without tables: a connection check (`SELECT 1`), a version or setting read.
    return (select ?? []).every((item) =>
      item.tokens.every(
        (token) =>
          token.kind === 'number' ||
          token.kind === 'string' ||
          token.kind === 'param' ||
          token.kind === 'punct' ||
          token.kind === 'ident' ||
          (token.kind === 'word' && (SETUP_FUNCTIONS.has(token.text.toLowerCase()) || token.text.startsWith('@@') || isWord(token, 'as'))),
      ),
    )
  }
}

export type Aggregate = 'count' | 'exists' | 'avg' | 'sum' | 'min' | 'max'
const VALUE_AGGREGATES = new Set(['avg', 'sum', 'min', 'max'])

/** A select item that is one column reference, with an optional alias: `"t"."c"`, `t.c AS t_c`, `c`. */
function plainColumn(item: Token[]): ColumnRef | null {
  let end = item.length
  if (end >= 2 && isWord(item[end - 2], 'as')) end -= 2
  else if (end === 2 || end === 4) end -= 1 // an alias without AS
  if (end === 1 && isName(item[0])) return { table: null, column: nameOf(item[0]) }
  if (end === 3 && isName(item[0]) && isPunct(item[1], '.') && isName(item[2])) {
    return { table: nameOf(item[0]), column: nameOf(item[2]) }
  }
  return null
}
