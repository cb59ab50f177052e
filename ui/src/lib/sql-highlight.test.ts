import { describe, expect, it } from 'vitest'
import type { Token, TokenKind } from '../../../server/src/analysis/lexer.js'
import { classify, oneLine, toSpans } from './sql-highlight.js'

/** Tokens written by hand, in the lexer's documented shape, so these tests do not depend on its details. */
function tokens(...parts: [TokenKind, string][]): Token[] {
  let start = 0
  return parts.map(([kind, text]) => {
    const token = { kind, text, start, end: start + text.length }
    start += text.length
    return token
  })
}

describe('classify', () => {
  it('paints keywords, functions, names and quoted identifiers apart', () => {
    const list = tokens(['word', 'SELECT'], ['space', ' '], ['word', 'COUNT'], ['punct', '('], ['op', '*'], ['punct', ')'],
      ['space', ' '], ['word', 'FROM'], ['space', ' '], ['ident', '"shop_book"'], ['space', ' '], ['word', 'books'])
    expect(classify(list)).toEqual(['kw', 'space', 'fn', 'punct', 'op', 'punct', 'space', 'kw', 'space', 'ident', 'space', 'name'])
  })
  it('treats IN ( as a keyword, not a function call', () => {
    expect(classify(tokens(['word', 'in'], ['space', ' '], ['punct', '(']))[0]).toBe('kw')
  })
  it('maps literal, placeholder and comment tokens to their own classes', () => {
    expect(classify(tokens(['string', "'x'"], ['number', '42'], ['param', '%s'], ['comment', '/* c */']))).toEqual(['str', 'num', 'param', 'comment'])
  })
})

describe('toSpans', () => {
  it('merges neighbouring tokens of one class and the spaces after them', () => {
    const spans = toSpans(tokens(['word', 'ORDER'], ['space', ' '], ['word', 'BY'], ['space', ' '], ['word', 'title'], ['punct', ';']))
    expect(spans).toEqual([{ cls: 'kw', text: 'ORDER BY ' }, { cls: 'name', text: 'title' }, { cls: 'punct', text: ';' }])
  })
  it('keeps every character of the source, markup included, as text', () => {
    const sql = "SELECT '<script>alert(1)</script>'"
    const spans = toSpans(tokens(['word', 'SELECT'], ['space', ' '], ['string', "'<script>alert(1)</script>'"]))
    expect(spans.map((s) => s.text).join('')).toBe(sql)
  })
})

it('puts multi-line SQL on one line', () => {
  expect(oneLine('SELECT a\n  FROM b\n WHERE c = 1 ')).toBe('SELECT a FROM b WHERE c = 1')
})
