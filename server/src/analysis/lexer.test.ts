import { describe, expect, it } from 'vitest'
import { dialectOf, tokenize, type Dialect, type TokenKind } from './lexer.js'

/** `kind:text` of every token but spaces. */
const lex = (sql: string, dialect: Dialect = 'pg') =>
  tokenize(sql, dialect)
    .filter((t) => t.kind !== 'space')
    .map((t) => `${t.kind}:${t.text}`)

const kinds = (sql: string, dialect: Dialect = 'pg'): TokenKind[] =>
  tokenize(sql, dialect)
    .filter((t) => t.kind !== 'space')
    .map((t) => t.kind)

describe('dialectOf', () => {
  it('maps Django vendor names to dialects and anything else to ansi', () => {
    expect(['postgresql', 'postgres', 'pg', 'PostgreSQL'].map(dialectOf)).toEqual(['pg', 'pg', 'pg', 'pg'])
    expect(['mysql', 'mariadb', 'sqlite', 'oracle', ''].map(dialectOf)).toEqual(['mysql', 'mysql', 'sqlite', 'ansi', 'ansi'])
  })
})

describe('tokenize', () => {
  it('covers the input exactly, spaces and comments included', () => {
    const sql = 'SELECT "a" , b::text -- c\n/* d */ FROM t WHERE x = $1'
    const tokens = tokenize(sql, 'pg')
    expect(tokens.map((t) => t.text).join('')).toBe(sql)
    for (const t of tokens) expect(sql.slice(t.start, t.end)).toBe(t.text)
    expect(tokens.filter((t) => t.kind === 'comment').map((t) => t.text)).toEqual(['-- c', '/* d */'])
  })

  it('tells words, quoted identifiers, strings, numbers, parameters, operators and punctuation apart', () => {
    expect(lex(`SELECT "t"."id", 'x', 4.5, %s FROM t WHERE a >= 1`)).toEqual([
      'word:SELECT', 'ident:"t"', 'punct:.', 'ident:"id"', 'punct:,', "string:'x'", 'punct:,', 'number:4.5',
      'punct:,', 'param:%s', 'word:FROM', 'word:t', 'word:WHERE', 'word:a', 'op:>=', 'number:1',
    ])
  })

  it('reads every number form and keeps digits inside names', () => {
    expect(kinds('42 4.5 .5 5. 1e10 1.5E-3 0x1F 0b101 0o17 1_000')).toEqual(Array(10).fill('number'))
    expect(lex('123abc table_2021 s140245_x12')).toEqual(['word:123abc', 'word:table_2021', 'word:s140245_x12'])
  })

  it('reads string prefixes as part of the literal', () => {
    expect(lex("E'a\\'b' U&'x' N'y' X'1F' B'01'", 'pg')).toEqual([
      "string:E'a\\'b'", "string:U&'x'", "string:N'y'", "string:X'1F'", "string:B'01'",
    ])
    expect(lex(`_utf8mb4'x' "a\\"b" 'c\\'d'`, 'mysql')).toEqual([`string:_utf8mb4'x'`, 'string:"a\\"b"', "string:'c\\'d'"])
  })

  it('keeps a backslash literal in pg and sqlite standard strings', () => {
    expect(lex("'C:\\', 'x'", 'pg')).toEqual(["string:'C:\\'", 'punct:,', "string:'x'"])
    expect(lex("'C:\\', 'x'", 'sqlite')).toEqual(["string:'C:\\'", 'punct:,', "string:'x'"])
  })

  it('reads dollar-quoted strings in pg and $1 as a parameter', () => {
    expect(lex('$$a$b$$ $t$ $$ $t$ $1', 'pg')).toEqual(['string:$$a$b$$', 'string:$t$ $$ $t$', 'param:$1'])
  })

  it('reads each dialect’s quoted identifiers', () => {
    expect(lex('"a""b" U&"c"', 'pg')).toEqual(['ident:"a""b"', 'ident:U&"c"'])
    expect(lex('`a``b` [c d]', 'sqlite')).toEqual(['ident:`a``b`', 'ident:[c d]'])
    expect(lex('`a` "b"', 'mysql')).toEqual(['ident:`a`', 'string:"b"'])
    expect(lex('a[1]', 'pg')).toEqual(['word:a', 'punct:[', 'number:1', 'punct:]'])
  })

  it('reads the placeholders of every driver', () => {
    expect(kinds('%s %(name_1)s $1 :name', 'pg')).toEqual(['param', 'param', 'param', 'param'])
    expect(kinds('? ?12 :a @b $c', 'sqlite')).toEqual(['param', 'param', 'param', 'param', 'param'])
    expect(lex('__[POSTCOMPILE_id_1]', 'sqlite')).toEqual(['param:__[POSTCOMPILE_id_1]'])
    expect(lex('a %% b', 'pg')).toEqual(['word:a', 'op:%%', 'word:b'])
  })

  it('reads ?, ?| and ?& as jsonb operators in pg', () => {
    expect(lex('? ?| ?&', 'pg')).toEqual(['op:?', 'op:?|', 'op:?&'])
  })

  it('reads MySQL variables as words', () => {
    expect(lex('@a @@session.x', 'mysql')).toEqual(['word:@a', 'word:@@session', 'punct:.', 'word:x'])
  })

  it('reads -- as a comment in MySQL only before whitespace', () => {
    expect(kinds('1--1', 'mysql')).toEqual(['number', 'op', 'op', 'number'])
    expect(kinds('1-- x', 'mysql')).toEqual(['number', 'comment'])
    expect(kinds('1--1', 'pg')).toEqual(['number', 'comment'])
  })

  it('reads # as a comment in MySQL and as an operator elsewhere', () => {
    expect(kinds('a # b\nc', 'mysql')).toEqual(['word', 'comment', 'word'])
    expect(lex('a #>> b # c', 'pg')).toEqual(['word:a', 'op:#>>', 'word:b', 'op:#', 'word:c'])
  })

  it('nests block comments in pg only', () => {
    expect(lex('/* a /* b */ c */ d', 'pg')).toEqual(['comment:/* a /* b */ c */', 'word:d'])
    expect(lex('/* a /* b */ c', 'mysql')).toEqual(['comment:/* a /* b */', 'word:c'])
  })

  it('matches the longest operator', () => {
    expect(lex('<=> ->> #>> !~* :: <= >= <> != || -> @> <@ && << >> := => !~ ~* +', 'pg').map((t) => t.slice(3))).toEqual(
      ['<=>', '->>', '#>>', '!~*', '::', '<=', '>=', '<>', '!=', '||', '->', '@>', '<@', '&&', '<<', '>>', ':=', '=>', '!~', '~*', '+'],
    )
  })

  it('runs unterminated strings, identifiers and comments to the end of the input', () => {
    expect(lex("a = 'x", 'pg')).toEqual(['word:a', 'op:=', "string:'x"])
    expect(lex('a = "x', 'pg')).toEqual(['word:a', 'op:=', 'ident:"x'])
    expect(lex('a /* x', 'pg')).toEqual(['word:a', 'comment:/* x'])
    expect(lex('a $q$ x', 'pg')).toEqual(['word:a', 'string:$q$ x'])
  })

  it('treats U+FEFF and other Unicode spaces as whitespace', () => {
    expect(lex('\uFEFFSELECT\u00a01', 'pg')).toEqual(['word:SELECT', 'number:1'])
  })

  it('returns no tokens for an empty input and never throws on a non-string', () => {
    expect(tokenize('', 'pg')).toEqual([])
    expect(tokenize(undefined as unknown as string, 'pg')).toEqual([])
  })
})
