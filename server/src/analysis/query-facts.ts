/**
 * What the detectors know about each query of a unit: its fingerprint, its SQL shape, the key of its application
 * stack, and the value of each of its slots. Built once per unit; the detectors only read it.
 * @module
 */
import { templateText, type Frame, type Params, type ParamValue, type WireQuery } from '../protocol.js'
import { fingerprint, fingerprintId } from './fingerprint.js'
import { dialectOf, type Dialect } from './lexer.js'
import { sqlShape, type SqlShape, type ValueRef } from './sql-shape.js'

export interface QueryFacts {
  /** Index in the unit's `queries`. */
  index: number
  query: WireQuery
  dialect: Dialect
  /** Fingerprint id (16 hex digits). */
  fingerprint: string
  /** The normalized SQL (F1). */
  normalized: string
  shape: SqlShape
  /** Frames and lines of the application stack, plus the template position: queries from one loop share it. */
  stackKey: string
  /** Each slot's values as comparable text; `undefined` when they cannot be known (params not captured). */
  slotValues: (string | undefined)[]
  /** Whether the SQL has placeholders at all. */
  hasParams: boolean
  /** The same number for the same SQL text within a unit (whatever the dialect): a short key for grouping. */
  sqlId: number
  /** `query.params` as JSON: equal for equal parameters. */
  paramsKey: string
}

/** What a SQL text gives in one dialect: read once, then shared by every query with that text. */
interface SqlFacts {
  normalized: string
  fingerprint: string
  shape: SqlShape
  hasParams: boolean
}

/** The facts of each SQL text, per dialect: the SQL an app sends is mostly the same from one unit to the next. */
const sqlCache = new Map<string, { id: number; dialects: Partial<Record<Dialect, SqlFacts>> }>()
/** The cache is emptied between units once it holds this many SQL texts, or this many characters of them. */
const SQL_CACHE_TEXTS = 5_000
const SQL_CACHE_CHARS = 4_000_000
let cachedChars = 0

function sqlFacts(sql: string, dialect: Dialect): { id: number; known: SqlFacts } {
  let text = sqlCache.get(sql)
  if (!text) {
    text = { id: sqlCache.size, dialects: {} }
    sqlCache.set(sql, text)
    cachedChars += sql.length
  }
  let known = text.dialects[dialect]
  if (!known) {
    const normalized = fingerprint(sql, dialect)
    const shape = sqlShape(sql, dialect)
    known = { normalized, fingerprint: fingerprintId(normalized), shape, hasParams: shape.slots.some((slot) => slot.values.some((value) => 'param' in value)) }
    text.dialects[dialect] = known
  }
  return { id: text.id, known }
}

/** The shape of one query's SQL (from the cache the unit's facts were read with). */
export const shapeOf = (query: WireQuery): SqlShape => sqlFacts(query.sql, dialectOf(query.vendor)).known.shape

/**
 * Read the facts of every query. Each SQL text is tokenized once per dialect, and remembered for the next units
 * (the cache is only emptied between units, so `sqlId` is stable within one).
 */
export function queryFacts(queries: WireQuery[]): QueryFacts[] {
  if (sqlCache.size > SQL_CACHE_TEXTS || cachedChars > SQL_CACHE_CHARS) {
    sqlCache.clear()
    cachedChars = 0
  }
  return queries.map((query, index) => {
    const dialect = dialectOf(query.vendor)
    const { id, known } = sqlFacts(query.sql, dialect)
    const { shape } = known
    return {
      index,
      query,
      dialect,
      fingerprint: known.fingerprint,
      normalized: known.normalized,
      shape,
      stackKey: stackKeyOf(query),
      slotValues: shape.slots.map((slot) => valuesText(slot.values, query.params, query.many)),
      hasParams: known.hasParams,
      sqlId: id,
      paramsKey: JSON.stringify(query.params),
    }
  })
}

/** Same frames and lines, same template position: the same place in the code. With `recursion` left out, a
 * comprehension's frame is skipped (it is the function it is written in), so is a frame of the function of the frame
 * inside it (a function calling itself), and a frame seen already inside it ends a cycle, whose frames are dropped
 * (`walk` calling itself from two places): every depth of a recursion has the stack of its first. (Frames name functions without their class: the caller must know that the
 * code recurses, see {@link recurses}.) */
export function stackKeyOf(query: WireQuery, recursion = false): string {
  const frames = framesOf(query)
  const kept: string[] = []
  let inner: Frame | undefined
  for (let i = 0; i < frames.length; i++) {
    const frame = `${frames[i].file}:${frames[i].line}:${frames[i].function}`
    if (recursion) {
      // A comprehension's own frame (Python 3.11's `[walk(c) for c in children]`) is the function it is written in:
      // between a function and its call of itself, it would make each depth's stack another.
      if (COMPREHENSION.test(frames[i].function)) continue
      const previous = inner
      inner = frames[i]
      if (previous && previous.file === frames[i].file && previous.function === frames[i].function) continue
      const earlier = kept.indexOf(frame)
      if (earlier >= 0) {
        kept.length = earlier + 1
        continue
      }
    }
    kept.push(frame)
  }
  const key = kept.join('|')
  return query.template ? `${key}|template:${templateText(query.template)}` : key
}

const COMPREHENSION = /^<(?:listcomp|setcomp|dictcomp|genexpr)>$/

/** A stack holding one frame twice (the same file, line and function): code that called itself on the way. */
export function recurses(query: WireQuery): boolean {
  const frames = framesOf(query).map((frame) => `${frame.file}:${frame.line}:${frame.function}`)
  return new Set(frames).size < frames.length
}

const framesOf = (query: WireQuery) => (query.stack?.length ? query.stack : query.callsite ? [query.callsite] : [])

/** The value a placeholder reads, or `undefined` when it cannot be known. */
export function paramValue(params: Params, key: number | string): ParamValue | undefined {
  if (params === null) return undefined
  if (Array.isArray(params)) return typeof key === 'number' ? params[key] : undefined
  return typeof key === 'string' ? params[key] : undefined
}

function valuesText(values: ValueRef[], params: Params, many: boolean): string | undefined {
  const out: unknown[] = []
  for (const value of values) {
    if ('literal' in value) out.push(['literal', value.literal])
    else {
      const resolved = many ? undefined : paramValue(params, value.param)
      if (resolved === undefined) return undefined
      out.push(resolved)
    }
  }
  return JSON.stringify(out)
}

/** The first value of a slot, resolved, for rendering in a suggestion. */
export function firstValue(facts: QueryFacts, slotIndex: number): ParamValue | undefined {
  const value = facts.shape.slots[slotIndex]?.values[0]
  if (!value) return undefined
  if ('literal' in value) return literalValue(value.literal)
  return facts.query.many ? undefined : paramValue(facts.query.params, value.param)
}

function literalValue(text: string): ParamValue {
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text)
  if (text.startsWith("'") && text.endsWith("'") && text.length >= 2) return text.slice(1, -1).replaceAll("''", "'")
  const lower = text.toLowerCase()
  if (lower === 'true') return true
  if (lower === 'false') return false
  if (lower === 'null') return null
  return text
}
