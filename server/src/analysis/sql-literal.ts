/**
 * A query's SQL with its parameters written in as literals, for an EXPLAIN to paste into a database shell: the
 * normalized SQL has `?` for every value, which no shell runs. Exact or nothing: a value the agent cut (`…`), left out
 * (parameter capture off) or that SQL cannot spell plainly gives null, and the caller shows the normalized SQL.
 * @module
 */
import type { Params, ParamValue } from '../protocol.js'
import { tokenize, type Dialect } from './lexer.js'

export function withLiterals(sql: string, params: Params | null | undefined, dialect: Dialect): string | null {
  if (params === null || params === undefined) return null
  const positional = Array.isArray(params) ? params : null
  const tokens = tokenize(sql, dialect)
  // Django's and psycopg's `%s` style: a `%%` of the SQL (in a string too) is a percent sign once the values are in.
  const formatStyle = tokens.some((token) => token.kind === 'param' && token.text.startsWith('%'))
  let next = 0
  const out: string[] = []
  for (const token of tokens) {
    if (token.kind !== 'param') {
      out.push(formatStyle ? token.text.replaceAll('%%', '%') : token.text)
      continue
    }
    const value = valueOf(token.text, positional, params, () => next++)
    if (value === undefined) return null
    const literal = literalOf(value, dialect)
    if (literal === null) return null
    out.push(literal)
  }
  if (positional && next !== 0 && next !== positional.length) return null // a count that does not add up: not exact
  return out.join('')
}

/** The value a placeholder stands for; undefined when the parameters do not have it. */
function valueOf(placeholder: string, positional: ParamValue[] | null, params: Params, take: () => number): ParamValue | undefined {
  if (placeholder === '%s' || placeholder === '?') return positional ? positional[take()] : undefined
  const numbered = /^[$?](\d+)$/.exec(placeholder)
  if (numbered) return positional ? positional[Number(numbered[1]) - 1] : undefined
  const named = /^%\((\w+)\)s$/.exec(placeholder) ?? /^[:@$](\w+)$/.exec(placeholder)
  if (!named || positional) return undefined
  const object = params as Record<string, ParamValue>
  return Object.hasOwn(object, named[1]) ? object[named[1]] : undefined
}

/** A value as an SQL literal of the dialect; null when it cannot be written exactly. */
export function literalOf(value: ParamValue, dialect: Dialect): string | null {
  if (value === null) return 'NULL'
  if (typeof value === 'boolean') return dialect === 'pg' || dialect === 'ansi' ? (value ? 'TRUE' : 'FALSE') : value ? '1' : '0'
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : null
  if (typeof value === 'string') {
    if (value.endsWith('…')) return null // cut by the agent: not the value the query ran with
    const quoted = value.replaceAll("'", "''")
    return `'${dialect === 'mysql' ? quoted.replaceAll('\\', '\\\\') : quoted}'`
  }
  if (Array.isArray(value) && dialect === 'pg') {
    // psycopg sends a list as an array (`= ANY(%s)`, Django's `__in` on PostgreSQL does not use it, raw SQL may).
    const items = value.map((item) => literalOf(item, dialect))
    return items.every((item) => item !== null) ? `ARRAY[${items.join(', ')}]` : null
  }
  return null
}
