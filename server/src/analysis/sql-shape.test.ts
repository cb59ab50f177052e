import { describe, expect, it } from 'vitest'
import { sqlShape } from './sql-shape.js'

const shape = (sql: string) => sqlShape(sql, 'pg')

describe('sqlShape', () => {
  it('reads the kind of each statement', () => {
    expect(
      [
        'SELECT 1 FROM t',
        'INSERT INTO t VALUES (1)',
        'UPDATE t SET a = 1',
        'DELETE FROM t',
        'SAVEPOINT "s1_x1"',
        'RELEASE SAVEPOINT "s1_x1"',
        'BEGIN',
        'COMMIT',
        'ROLLBACK TO SAVEPOINT "s1_x1"',
        'SET search_path TO public',
        'WITH x AS (SELECT 1) SELECT * FROM x',
        'CREATE TABLE t (id int)',
      ].map((sql) => shape(sql).kind),
    ).toEqual(['select', 'insert', 'update', 'delete', 'savepoint', 'release', 'begin', 'commit', 'rollback', 'set', 'select', 'other'])
  })

  it('marks transaction control and connection setup as control', () => {
    for (const sql of ['SAVEPOINT "s1"', 'COMMIT', 'SET NAMES utf8mb4', 'SHOW server_version', 'SELECT VERSION()', 'SELECT 1', 'PRAGMA foreign_keys = ON', "SELECT typarray FROM pg_type WHERE typname = 'citext'", 'SELECT c.relname FROM pg_catalog.pg_class c']) {
      expect(shape(sql).control, sql).toBe(true)
    }
    expect(shape('SELECT "t"."id" FROM "t"').control).toBe(false)
  })

  it('reads the tables of FROM, JOIN, INTO and UPDATE with their aliases', () => {
    const s = shape('SELECT U0."id" FROM "shop_review" U0 INNER JOIN "shop_book" AS b ON (U0."book_id" = b."id") LEFT OUTER JOIN public.shop_author ON true')
    expect(s.tables.map((t) => [t.name, t.alias, t.via])).toEqual([
      ['shop_review', 'u0', 'from'],
      ['shop_book', 'b', 'join'],
      ['shop_author', null, 'join'],
    ])
    expect(shape('INSERT INTO "shop_tag" ("name") VALUES (%s)').mainTables).toEqual(['shop_tag'])
    expect(shape('UPDATE "shop_book" SET "stock" = %s').mainTables).toEqual(['shop_book'])
    expect(shape('SELECT * FROM a, b WHERE a.id = b.a_id').mainTables).toEqual(['a', 'b'])
  })

  it('reads equality and IN lookups on columns, resolving aliases, with the parameters they read', () => {
    const s = shape('SELECT U0."id" FROM "shop_review" U0 WHERE (U0."book_id" IN (%s, %s, %s) AND U0."rating" = %s)')
    expect(s.slots).toEqual([
      { role: 'in', column: { table: 'shop_review', column: 'book_id' }, op: 'in', values: [{ param: 0 }, { param: 1 }, { param: 2 }] },
      { role: 'eq', column: { table: 'shop_review', column: 'rating' }, op: '=', values: [{ param: 3 }] },
    ])
  })

  it('reads a parameter on the left of the comparison, as SQLAlchemy lazy loads write it', () => {
    expect(sqlShape('SELECT books.id FROM books WHERE ? = books.author_id', 'sqlite').slots[0]).toMatchObject({ role: 'eq', column: { table: 'books', column: 'author_id' } })
  })

  it('reads a comparison with both sides folded to one case as a case-insensitive lookup on the column', () => {
    expect(shape('SELECT "a"."id" FROM "a" WHERE UPPER("a"."name"::text) = UPPER(%s)').slots).toEqual([
      { role: 'eq', column: { table: 'a', column: 'name' }, op: '=', values: [{ param: 0 }], folded: 'upper' },
    ])
    expect(shape('SELECT a.id FROM a WHERE lower(a.email) = lower(%s)').slots[0]).toMatchObject({ role: 'eq', folded: 'lower' })
    // One side only, or two functions: not a lookup the loop's key can be read from.
    expect(shape('SELECT a.id FROM a WHERE a.name = UPPER(%s)').slots[0].role).toBe('other')
    expect(shape('SELECT a.id FROM a WHERE lower(a.name) = upper(%s)').slots[0].role).toBe('other')
  })

  it('reads named and numbered placeholders', () => {
    expect(shape('SELECT * FROM t WHERE a = %(a)s AND b = $2').slots.map((s) => s.values[0])).toEqual([{ param: 'a' }, { param: 1 }])
  })

  it('reads = ANY(%s) as an IN lookup', () => {
    expect(shape('SELECT * FROM "t" WHERE "t"."id" = ANY(%s)').slots[0]).toMatchObject({ role: 'in', column: { table: 't', column: 'id' } })
  })

  it('reads ranges, LIMIT and OFFSET apart from lookups', () => {
    const s = shape('SELECT "id" FROM "t" WHERE "id" > %s AND "d" BETWEEN %s AND %s ORDER BY "id" LIMIT 100 OFFSET 200')
    expect(s.slots.map((x) => x.role)).toEqual(['range', 'range', 'limit', 'offset'])
    expect(s.hasLimit).toBe(true)
  })

  it('reads a plain column list, COUNT(*) and Django exists()', () => {
    expect(shape('SELECT "t"."id", "t"."price" FROM "t" WHERE "t"."id" = %s LIMIT 21').selectColumns).toEqual([
      { table: 't', column: 'id' },
      { table: 't', column: 'price' },
    ])
    expect(shape('SELECT t.*, t.id FROM t').selectColumns).toBeNull()
    expect(shape('SELECT COUNT(*) AS "__count" FROM "t"').aggregate).toBe('count')
    expect(shape('SELECT 1 AS "a" FROM "t" WHERE "t"."x" = %s LIMIT 1').aggregate).toBe('exists')
    expect(shape('SELECT %s AS "a" FROM "t" WHERE "t"."x" = %s LIMIT 1').aggregate).toBe('exists') // Django 5
  })

  it('reads the columns an UPDATE sets, expressions included', () => {
    const s = shape('UPDATE "shop_book" SET "title" = %s, "stock" = ("shop_book"."stock" + %s) WHERE "shop_book"."id" = %s')
    expect(s.setColumns).toEqual(['title', 'stock'])
    expect(s.slots.map((x) => [x.role, x.column?.column])).toEqual([
      ['set', 'title'],
      ['set', 'stock'],
      ['eq', 'id'],
    ])
  })

  it('tells a multi-row INSERT from a one-row INSERT', () => {
    expect(shape('INSERT INTO "t" ("a", "b") VALUES (%s, %s), (%s, %s)').multiRowValues).toBe(true)
    expect(shape('INSERT INTO "t" ("a", "b") VALUES (%s, %s)').multiRowValues).toBe(false)
  })

  it('does not read a function argument as a table', () => {
    expect(shape('SELECT EXTRACT(YEAR FROM "t"."d") FROM "t"').mainTables).toEqual(['t'])
  })

  it('never throws on broken input', () => {
    for (const sql of ['', '(((', ')))', 'SELECT FROM WHERE = IN (', 'UPDATE SET = ,', "SELECT 'x", 'IN ( %s', '= ANY(']) {
      expect(() => shape(sql)).not.toThrow()
    }
  })
})

describe('sqlShape on random input', () => {
  it('never throws on thousands of random token soups', () => {
    const parts = ['SELECT', 'FROM', 'WHERE', 'IN', '(', ')', ',', '.', '"t"', 'x', '=', '>', '%s', '?', "'s'", '1', 'AND', 'SET', 'VALUES', 'JOIN', 'ON', 'LIMIT', 'OFFSET', 'BETWEEN', 'ANY', '::', 'int', 'UPDATE', 'INSERT', 'INTO', 'AS', 'COUNT', '*', 'WITH', 'LIKE', 'NOT', '$1', ':name', '%(n)s', '--', '/*', '`b`', '[c]']
    let seed = 42
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
    for (let n = 0; n < 3000; n++) {
      const sql = Array.from({ length: Math.floor(random() * 30) }, () => parts[Math.floor(random() * parts.length)]).join(random() < 0.5 ? ' ' : '')
      for (const dialect of ['pg', 'mysql', 'sqlite', 'ansi'] as const) expect(() => sqlShape(sql, dialect)).not.toThrow()
    }
  })
})
