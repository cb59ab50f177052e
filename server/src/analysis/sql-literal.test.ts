import { describe, expect, it } from 'vitest'
import { literalOf, withLiterals } from './sql-literal.js'

describe('withLiterals', () => {
  it('writes each placeholder style with its value', () => {
    expect(withLiterals('SELECT * FROM "t" WHERE "a" = %s AND "b" = %s', [1, 'x'], 'pg')).toBe(`SELECT * FROM "t" WHERE "a" = 1 AND "b" = 'x'`)
    expect(withLiterals('SELECT * FROM t WHERE a = ? AND b IN (?, ?)', [1, 2, 3], 'sqlite')).toBe('SELECT * FROM t WHERE a = 1 AND b IN (2, 3)')
    expect(withLiterals('SELECT * FROM t WHERE a = $2 AND b = $1', ['b', 'a'], 'pg')).toBe(`SELECT * FROM t WHERE a = 'a' AND b = 'b'`)
    expect(withLiterals('SELECT * FROM t WHERE a = %(a)s AND b = :b', { a: null, b: true }, 'pg')).toBe('SELECT * FROM t WHERE a = NULL AND b = TRUE')
    expect(withLiterals('SELECT * FROM t WHERE b = :b', { b: false }, 'sqlite')).toBe('SELECT * FROM t WHERE b = 0')
    expect(withLiterals('SELECT * FROM t WHERE a = ANY(%s)', [[1, 2]], 'pg')).toBe('SELECT * FROM t WHERE a = ANY(ARRAY[1, 2])')
  })

  it("unescapes the format style's %% once values are in, and leaves quotes and strings alone", () => {
    expect(withLiterals(`SELECT * FROM t WHERE a LIKE %s AND b LIKE 'x%%'`, ["it's"], 'pg')).toBe(`SELECT * FROM t WHERE a LIKE 'it''s' AND b LIKE 'x%'`)
    expect(withLiterals(`SELECT 'a?%%' FROM t WHERE a = ?`, ['50%%'], 'sqlite')).toBe(`SELECT 'a?%%' FROM t WHERE a = '50%%'`)
    expect(withLiterals('SELECT * FROM t WHERE a = ?', ['a\\b'], 'mysql')).toBe(`SELECT * FROM t WHERE a = 'a\\\\b'`)
  })

  it('gives nothing rather than a query that is not the one that ran', () => {
    expect(withLiterals('SELECT * FROM t WHERE a = %s', null, 'pg')).toBeNull() // capture off
    expect(withLiterals('SELECT * FROM t WHERE a = %s', ['cut by the agent…'], 'pg')).toBeNull()
    expect(withLiterals('SELECT * FROM t WHERE a = %s AND b = %s', [1], 'pg')).toBeNull()
    expect(withLiterals('SELECT * FROM t WHERE a = %s', [1, 2], 'pg')).toBeNull()
    expect(withLiterals('SELECT * FROM t WHERE a = :a', { b: 1 }, 'sqlite')).toBeNull()
    expect(withLiterals('SELECT * FROM t WHERE a = %s', [{ json: 1 }], 'pg')).toBeNull()
    expect(withLiterals('SELECT 1', [], 'sqlite')).toBe('SELECT 1')
  })

  it('spells values as each dialect reads them', () => {
    expect(literalOf(true, 'pg')).toBe('TRUE')
    expect(literalOf(true, 'mysql')).toBe('1')
    expect(literalOf(Number.NaN, 'pg')).toBeNull()
    expect(literalOf([1], 'sqlite')).toBeNull()
  })
})
