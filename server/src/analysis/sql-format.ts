/**
 * SQL laid out for reading: major clauses (SELECT, FROM, WHERE, JOIN, GROUP BY, ORDER BY, LIMIT, VALUES, SET,
 * RETURNING...) start lines, AND/OR and the columns of a SELECT list go on indented lines, subqueries are indented
 * one level. Built on the lexer's tokens, so the text of every token (literals, identifiers, keywords, comments) is
 * kept exactly as written; only whitespace changes, and re-tokenizing the result gives the same tokens.
 *
 * One pass, no recursion, never throws. Indentation stops growing after `MAX_INDENT` levels so that deeply nested
 * input keeps a linear-size output.
 * @module
 */
import { tokenize, type Dialect, type Token } from './lexer.js'

const INDENT = '  '
const MAX_INDENT = 16

/** Clause words that start a line wherever they appear at the level of their statement or subquery. */
const CLAUSES = new Set(['select', 'from', 'where', 'having', 'limit', 'offset', 'returning', 'union', 'except',
  'intersect', 'window', 'values', 'set'])
const JOIN_MODIFIERS = new Set(['left', 'right', 'full', 'inner', 'cross', 'natural', 'outer'])

interface Paren {
  subquery: boolean
  level: number
  clause: string
  caseDepth: number
}

/** A multi-line, indented form of `sql` for display. */
export function formatSql(sql: string, dialect: Dialect): string {
  const all = tokenize(typeof sql === 'string' ? sql : '', dialect)
  const tokens: Token[] = []
  const spaceBefore: boolean[] = []
  for (let i = 0; i < all.length; i++) {
    if (all[i].kind === 'space') continue
    tokens.push(all[i])
    spaceBefore.push(i > 0 && all[i - 1].kind === 'space')
  }
  const n = tokens.length
  const words = tokens.map((t) => (t.kind === 'word' ? t.text.toLowerCase() : ''))
  // next[i]: the next token after i that is not a comment (n when there is none).
  const next = new Array<number>(n + 1)
  next[n] = n
  for (let i = n - 1; i >= 0; i--) next[i] = i + 1 < n && tokens[i + 1].kind === 'comment' ? next[i + 1] : i + 1
  const wordAt = (i: number) => (i < n ? words[i] : '')

  let out = ''
  let level = 0 // subquery depth
  let clause = '' // the clause the current level is in
  let caseDepth = 0
  let between = false
  let breakTo = -1 // a line break requested by the previous token (a line comment, a SELECT-list comma)
  let previous = -1 // index of the previous non-comment token
  const parens: Paren[] = []

  const isClauseStart = (i: number): boolean => {
    const w = words[i]
    if (w === '') return false
    const prev = previous >= 0 ? words[previous] : ''
    if (CLAUSES.has(w)) {
      if (w === 'from') return prev !== 'distinct' && prev !== 'delete'
      if (w === 'values') return previous < 0 || tokens[previous].kind === 'word' || tokens[previous].kind === 'ident' || tokens[previous].text === ')'
      return true
    }
    const after = wordAt(next[i])
    switch (w) {
      case 'group':
      case 'order':
        return after === 'by'
      case 'join':
      case 'straight_join':
        return !JOIN_MODIFIERS.has(prev)
      case 'on':
        return after === 'conflict' || after === 'duplicate'
      case 'for':
        return after === 'update' || after === 'share' || after === 'no' || after === 'key'
      case 'fetch':
        return after === 'first' || after === 'next'
    }
    if (JOIN_MODIFIERS.has(w) && !JOIN_MODIFIERS.has(prev)) {
      const second = wordAt(next[i])
      return second === 'join' || (JOIN_MODIFIERS.has(second) && wordAt(next[next[i]]) === 'join')
    }
    return false
  }

  for (let i = 0; i < n; i++) {
    const t = tokens[i]
    const w = words[i]
    const top = parens.length > 0 ? parens[parens.length - 1] : null
    const inPlainParens = top !== null && !top.subquery
    let lineAt = -1

    if (t.kind === 'punct' && t.text === ';') {
      // After a line comment the `;` must go on the next line, or it would be part of the comment.
      const afterLineComment = i > 0 && tokens[i - 1].kind === 'comment' && !tokens[i - 1].text.startsWith('/*')
      out += afterLineComment ? `\n${INDENT.repeat(Math.min(level + 1, MAX_INDENT))};` : ';'
      level = 0
      clause = ''
      caseDepth = 0
      between = false
      parens.length = 0
      previous = -1
      breakTo = 0
      continue
    }
    if (t.kind !== 'comment' && !inPlainParens) {
      if (isClauseStart(i)) {
        lineAt = level
        clause = w
      } else if (w === 'and' && between) {
        between = false
      } else if ((w === 'and' || w === 'or') && caseDepth === 0) {
        lineAt = level + 1
      }
    }
    if (t.kind === 'punct' && t.text === ')' && top !== null && top.subquery) lineAt = top.level
    if (lineAt < 0 && breakTo >= 0 && out !== '') lineAt = breakTo
    breakTo = -1
    // Never split an operator from what it touches: MySQL `1--AND` would become a comment.
    if (lineAt >= 0 && !spaceBefore[i] && i > 0 && tokens[i - 1].kind === 'op') lineAt = -1

    if (out === '') out = t.text
    else if (lineAt >= 0) out += `\n${INDENT.repeat(Math.min(lineAt, MAX_INDENT))}${t.text}`
    else out += spaceBefore[i] ? ` ${t.text}` : t.text

    if (t.kind === 'comment') {
      if (!t.text.startsWith('/*')) breakTo = level + 1
      continue
    }
    if (t.kind === 'punct') {
      if (t.text === '(') {
        const inner = wordAt(next[i])
        const subquery = inner === 'select' || inner === 'with'
        parens.push({ subquery, level, clause, caseDepth })
        if (subquery) {
          level++
          caseDepth = 0
        }
      } else if (t.text === ')' && top !== null) {
        parens.pop()
        level = top.level
        clause = top.clause
        caseDepth = top.caseDepth
      } else if (t.text === ',' && !inPlainParens && clause === 'select') {
        breakTo = level + 1
      }
    } else if (w === 'between') {
      between = true
    } else if (w === 'case') {
      caseDepth++
    } else if (w === 'end' && caseDepth > 0) {
      caseDepth--
    }
    previous = i
  }
  return out
}
