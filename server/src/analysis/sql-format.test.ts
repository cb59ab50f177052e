import { describe, expect, it } from 'vitest'
import { tokenize, type Dialect } from './lexer.js'
import { formatSql } from './sql-format.js'

const significant = (sql: string, dialect: Dialect) =>
  tokenize(sql, dialect)
    .filter((t) => t.kind !== 'space')
    .map((t) => `${t.kind}:${t.text}`)

describe('formatSql', () => {
  it('puts each major clause on its own line and AND/OR on indented lines', () => {
    const sql =
      'SELECT "auth_user"."id", "auth_user"."username" FROM "auth_user" WHERE "auth_user"."id" = %s AND "x" = 1 OR y = 2 ORDER BY "auth_user"."id" ASC LIMIT 21'
    expect(formatSql(sql, 'pg')).toBe(
      [
        'SELECT "auth_user"."id",',
        '  "auth_user"."username"',
        'FROM "auth_user"',
        'WHERE "auth_user"."id" = %s',
        '  AND "x" = 1',
        '  OR y = 2',
        'ORDER BY "auth_user"."id" ASC',
        'LIMIT 21',
      ].join('\n'),
    )
  })

  it('starts joins on new lines and indents subqueries', () => {
    const sql =
      'SELECT "a"."id" FROM "a" LEFT OUTER JOIN "b" ON ("a"."b_id" = "b"."id") WHERE "a"."id" IN (SELECT U0."id" FROM "u" U0 WHERE U0."x" = 1) GROUP BY 1'
    expect(formatSql(sql, 'pg')).toBe(
      [
        'SELECT "a"."id"',
        'FROM "a"',
        'LEFT OUTER JOIN "b" ON ("a"."b_id" = "b"."id")',
        'WHERE "a"."id" IN (',
        '  SELECT U0."id"',
        '  FROM "u" U0',
        '  WHERE U0."x" = 1',
        ')',
        'GROUP BY 1',
      ].join('\n'),
    )
  })

  it('lays out INSERT ... VALUES ... ON CONFLICT ... RETURNING', () => {
    const sql = 'INSERT INTO "t" ("a", "b") VALUES (%s, %s), (%s, %s) ON CONFLICT("a") DO UPDATE SET "b" = EXCLUDED."b" RETURNING "t"."id"'
    expect(formatSql(sql, 'pg')).toBe(
      [
        'INSERT INTO "t" ("a", "b")',
        'VALUES (%s, %s), (%s, %s)',
        'ON CONFLICT("a") DO UPDATE',
        'SET "b" = EXCLUDED."b"',
        'RETURNING "t"."id"',
      ].join('\n'),
    )
  })

  it('keeps BETWEEN ... AND, CASE WHEN ... AND and clauses inside function calls on one line', () => {
    const sql = 'SELECT CASE WHEN a AND b THEN 1 END, COUNT(*) OVER (PARTITION BY a ORDER BY b) FROM t WHERE x BETWEEN 1 AND 2'
    expect(formatSql(sql, 'pg')).toBe(
      [
        'SELECT CASE WHEN a AND b THEN 1 END,',
        '  COUNT(*) OVER (PARTITION BY a ORDER BY b)',
        'FROM t',
        'WHERE x BETWEEN 1 AND 2',
      ].join('\n'),
    )
  })

  it('keeps literals, identifiers, keywords and comments exactly as written', () => {
    const cases: [string, Dialect][] = [
      ["select 'It''s  two  spaces', \"Mixed Case\" from T where a = E'\\n' -- note\nand b = $$x  y$$", 'pg'],
      ['SELECT `a`, "s  s" FROM `t` # c\nWHERE x = 1--1', 'mysql'],
      ['SELECT [My Col] FROM [T] /* keep */ WHERE a = :name', 'sqlite'],
      ['UPDATE t SET a = 1 WHERE id = 2; DELETE FROM t WHERE id = 3', 'pg'],
    ]
    for (const [sql, dialect] of cases) {
      expect(significant(formatSql(sql, dialect), dialect)).toEqual(significant(sql, dialect))
    }
  })

  it('ends a line comment with a line break so the next token stays code', () => {
    expect(formatSql('SELECT 1 -- one\nFROM t', 'pg')).toBe('SELECT 1 -- one\nFROM t')
    expect(formatSql('SELECT a, -- first\nb FROM t', 'pg')).toBe('SELECT a,\n  -- first\n  b\nFROM t')
  })

  it('starts every statement on a new line', () => {
    expect(formatSql('UPDATE t SET a = 1; SELECT 2', 'pg')).toBe('UPDATE t\nSET a = 1;\nSELECT 2')
  })

  it('returns an empty string for empty input', () => {
    expect(formatSql('', 'pg')).toBe('')
    expect(formatSql('   \n', 'pg')).toBe('')
  })

  it('stays linear on deeply nested subqueries', () => {
    const sql = `${'(SELECT '.repeat(5000)}1${')'.repeat(5000)}`
    const out = formatSql(sql, 'pg')
    expect(out.length).toBeLessThan(sql.length * 20)
    expect(significant(out, 'pg')).toEqual(significant(sql, 'pg'))
  })
})
