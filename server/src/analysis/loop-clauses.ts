/**
 * What a loop's query says besides its key, read back from its normalized SQL (F1) for the fixes that must say it
 * again: `Prefetch(queryset=Book.objects.filter(...).order_by(...)[:n])`, `Exists(...filter(...))`,
 * `Count(filter=Q(...))`. Only the simplest form is read: conditions that are plain column comparisons joined by AND,
 * an ORDER BY of plain columns, a LIMIT. Anything else (OR, NOT, IS NULL, BETWEEN, functions, subqueries) leaves the
 * part it is in unread (null), and the fix then names the conditions instead of writing code that would load other
 * rows than the loop did.
 * @module
 */
import type { QueryFacts } from './query-facts.js'
import { same } from './schema-index.js'

export interface LoopClauses {
  /** Nothing else shapes the rows: no OFFSET, DISTINCT, GROUP BY, HAVING, UNION, subquery or FOR UPDATE. */
  plain: boolean
  /** How many JOINs the query has (an M2M's through table is one). */
  joins: number
  /** How many conditions the WHERE has, each a column compared with one value, all ANDed (`"shop_book"."stock" > ?`);
   * null when it has any other form; 0 without a WHERE. */
  conditions: number | null
  /** Whether the query has an ORDER BY at all. */
  ordered: boolean
  /** The ORDER BY as `[table, column, descending]` items; null when absent or not plain columns. */
  order: [table: string | null, column: string, descending: boolean][] | null
  /** The LIMIT's number, from the SQL as sent (the normalized form has `limit ?`); null when there is none. */
  limit: number | null
}

const IDENT = '(?:"([^"]+)"|`([^`]+)`|([a-z_][a-z0-9_$]*))'
const COLUMN = new RegExp(`^(?:${IDENT}\\.)?${IDENT}$`)
const CONDITION = new RegExp(`^(.+?) (=|!=|<>|<|<=|>|>=|like|ilike|in) (\\?|\\(\\.\\.\\.\\))$`)
// SQLAlchemy's lazy loads put the value first: `? = book.author_id`.
const VALUE_FIRST = /^\? (=|!=|<>) (.+)$/
// Django's iexact: `upper("t"."c"::text) = upper(?)` on PostgreSQL, `"t"."c" like ? escape ?` on SQLite; SQLAlchemy's
// ilike() on SQLite: `lower(t.c) like lower(?)`.
const FOLDED = /^(upper|lower)\((.+?)(?:::[a-z_]+)?\) (?:=|like) \1\(\?\)$/
const LIKE_ESCAPE = /^(.+?) i?like \? escape \?$/
const TAIL = / (?:group by|having|order by|limit|offset|for update|returning) /
const NOT_PLAIN = / offset | distinct | group by | having | union | intersect | except | for update|\blimit \?, \?/

export function loopClauses(facts: QueryFacts): LoopClauses {
  const sql = facts.normalized
  const limit = /\blimit\s+(\d+)\b/i.exec(facts.query.sql)
  return {
    plain: !NOT_PLAIN.test(` ${sql} `) && !sql.includes(' select ', 1) && !sql.includes('(select '),
    joins: sql.split(' join ').length - 1,
    conditions: conditionsOf(sql),
    ordered: sql.includes(' order by '),
    order: orderOf(sql),
    limit: limit ? Number(limit[1]) : null,
  }
}

/** A query's ORDER BY as order_by() arguments (`["-published", "title"]`, by column: an FK's `author_id` orders as the
 * SQL did, `author` would order by the author's own ordering); `[]` without one; null when it orders by anything but
 * columns of `table`. */
export function orderByArgs(clauses: LoopClauses, table: string): string[] | null {
  if (!clauses.ordered) return []
  if (!clauses.order) return null
  const order: string[] = []
  for (const [owner, column, descending] of clauses.order) {
    if (owner !== null && !same(owner, table)) return null
    order.push(`${descending ? '-' : ''}${column}`)
  }
  return order
}

/**
 * Whether a query on `table` orders its rows otherwise than `ordering` (the model's `Meta.ordering` as columns, as
 * the agent sends it; `[]` for none): an `order_by()` of the code's own. False when the ordering is not known.
 */
export function ordersOtherwise(clauses: LoopClauses, table: string, ordering: readonly string[] | undefined): boolean {
  if (!clauses.ordered || !ordering) return false
  // null: an expression or another table's column (a default ordering is sent only as its own columns)
  const order = orderByArgs(clauses, table)
  return order === null || order.length !== ordering.length || order.some((column, i) => !same(column, ordering[i]))
}

/** A lookup of one row by `key` and nothing else (`... WHERE categories.id = ?`): what session.get(), a refresh or a
 * lazy load of a many-to-one writes. */
export const byKey = (sql: string, key: string): boolean =>
  new RegExp(`\\bwhere\\s+(?:[\\w"]+\\.)?"?${key}"?\\s*=\\s*(?:\\?|%s|%\\(\\w+\\)s|\\$1|:\\w+)\\s*$`, 'i').test(sql.trim())

function conditionsOf(sql: string): number | null {
  const at = sql.indexOf(' where ')
  if (at < 0) return sql.includes(' select ', 1) ? null : 0
  if (sql.indexOf(' where ', at + 1) >= 0 || sql.includes(' select ', at)) return null // a subquery
  let clause = sql.slice(at + ' where '.length)
  const tail = TAIL.exec(` ${clause} `)
  if (tail) clause = ` ${clause} `.slice(0, tail.index).trim()
  clause = unwrap(clause)
  if (/ or |\bnot\b|\bis\b|\bbetween\b|\bexists\b/.test(clause)) return null
  const parts = clause.split(' and ')
  for (const part of parts) {
    const condition = unwrap(part.trim())
    const column =
      CONDITION.exec(condition)?.[1] ?? VALUE_FIRST.exec(condition)?.[2] ?? FOLDED.exec(condition)?.[2] ?? LIKE_ESCAPE.exec(condition)?.[1]
    if (!column || !columnOf(column)) return null
  }
  return parts.length
}

function orderOf(sql: string): LoopClauses['order'] {
  const clause = / order by (.+?)(?: limit | offset | for update|$)/.exec(sql)?.[1]
  if (!clause) return null
  const items: NonNullable<LoopClauses['order']> = []
  for (const item of clause.split(', ')) {
    const [, name, direction] = /^(.+?)(?: (asc|desc))?$/.exec(item.trim()) ?? []
    const column = name ? columnOf(name) : null
    if (!column) return null
    items.push([column.table, column.column, direction === 'desc'])
  }
  return items
}

/** `"shop_book"."stock"`, `` `shop_book`.`stock` `` or `stock`; null for anything else (a function, an expression). */
function columnOf(text: string): { table: string | null; column: string } | null {
  const match = COLUMN.exec(text)
  if (!match) return null
  const table = match[1] ?? match[2] ?? match[3] ?? null
  const column = match[4] ?? match[5] ?? match[6]
  return { table: table?.toLowerCase() ?? null, column: column.toLowerCase() }
}

/** `(a and b)` → `a and b`, only when the parentheses wrap the whole text. */
function unwrap(text: string): string {
  while (text.startsWith('(') && text.endsWith(')')) {
    let depth = 0
    for (let i = 0; i < text.length; i++) {
      if (text[i] === '(') depth++
      else if (text[i] === ')' && --depth === 0 && i < text.length - 1) return text
    }
    text = text.slice(1, -1).trim()
  }
  return text
}
