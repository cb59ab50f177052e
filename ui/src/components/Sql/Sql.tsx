/**
 * SQL, highlighted (and optionally formatted) with the server's own lexer. Every token is a text node inside a
 * preact element: SQL is never parsed as HTML, so `<script>` in a query shows as text.
 */
import { useMemo } from 'preact/hooks'
import { dialectOf, tokenize } from '../../../../server/src/analysis/lexer.js'
import { formatSql } from '../../../../server/src/analysis/sql-format.js'
import { toSpans, type Span } from '../../lib/sql-highlight.js'

export interface SqlProps {
  sql: string
  /** The query's `vendor` (`postgresql`, `sqlite`, `mysql`…); picks the lexer's dialect. */
  vendor: string
  /** Multi-line pretty form (`formatSql`) instead of the text as sent. */
  format?: boolean
  /** One line, cut after `maxChars`, for dense rows. */
  inline?: boolean
  maxChars?: number
  class?: string
  testid?: string
}

const INLINE_CACHE = new Map<string, Span[]>()
const INLINE_CACHE_SIZE = 2000

export function Sql({ sql, vendor, format = false, inline = false, maxChars = 400, class: className = '', testid }: SqlProps) {
  const spans = useMemo(() => (inline ? inlineSpans(sql, vendor, maxChars) : blockSpans(sql, vendor, format)), [sql, vendor, format, inline, maxChars])
  const Tag = inline ? 'code' : 'pre'
  return (
    <Tag class={`sql ${inline ? 'sql--inline' : 'sql--block'} ${className}`} data-testid={testid}>
      {spans.map((span) => (span.cls === 'space' ? span.text : <span class={`t-${span.cls}`}>{span.text}</span>))}
    </Tag>
  )
}

function blockSpans(sql: string, vendor: string, format: boolean): Span[] {
  const dialect = dialectOf(vendor)
  const text = format ? formatSql(sql, dialect) : sql
  return toSpans(tokenize(text, dialect))
}

/** Spans of the first `maxChars` of the SQL on one line (line breaks become spaces), cached across row redraws. */
function inlineSpans(sql: string, vendor: string, maxChars: number): Span[] {
  const key = `${vendor}\0${maxChars}\0${sql}`
  const cached = INLINE_CACHE.get(key)
  if (cached) return cached
  const cut = sql.length > maxChars
  const tokens = tokenize(cut ? sql.slice(0, maxChars) : sql, dialectOf(vendor)).map((token) =>
    token.kind === 'space' ? { ...token, text: ' ' } : token,
  )
  const spans = toSpans(tokens)
  if (cut) spans.push({ cls: 'comment', text: ' …' })
  if (INLINE_CACHE.size >= INLINE_CACHE_SIZE) INLINE_CACHE.delete(INLINE_CACHE.keys().next().value as string)
  INLINE_CACHE.set(key, spans)
  return spans
}
