import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { fingerprint, fingerprintId } from './fingerprint.js'
import type { Dialect } from './lexer.js'

interface FingerprintCase {
  id: string
  dialect: Dialect | 'any'
  input: string
  expected: string
  note?: string
  group: string | null
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const casesFile = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'fingerprint-cases.json')
const { cases } = JSON.parse(readFileSync(casesFile, 'utf8')) as { cases: FingerprintCase[] }

/** `any` cases must hold in every dialect Django reports, and in the ANSI fallback. */
const dialectsOf = (c: FingerprintCase): Dialect[] => (c.dialect === 'any' ? ['pg', 'mysql', 'sqlite', 'ansi'] : [c.dialect])

describe('the shared fingerprint cases', () => {
  it('are read from the shared fixtures file', () => {
    expect(cases.length).toBeGreaterThan(50)
  })

  for (const c of cases) {
    it(`${c.id}: ${c.note || c.input.slice(0, 80)}`, () => {
      for (const dialect of dialectsOf(c)) {
        expect({ dialect, fingerprint: fingerprint(c.input, dialect) }).toEqual({ dialect, fingerprint: c.expected })
      }
    })
  }

  const groups = new Map<string, FingerprintCase[]>()
  for (const c of cases) if (c.group) groups.set(c.group, [...(groups.get(c.group) ?? []), c])
  for (const [group, members] of groups) {
    it(`group ${group} (${members.map((m) => m.id).join(', ')}) shares one fingerprint and one id`, () => {
      const forms = members.flatMap((m) => dialectsOf(m).map((d) => fingerprint(m.input, d)))
      expect(new Set(forms).size).toBe(1)
      expect(new Set(forms.map(fingerprintId)).size).toBe(1)
    })
  }

  it('gives different ids to every distinct expected form', () => {
    const forms = [...new Set(cases.map((c) => c.expected))]
    expect(new Set(forms.map(fingerprintId)).size).toBe(forms.length)
  })
})

describe('fingerprint', () => {
  const fp = (sql: string, dialect: Dialect = 'pg') => fingerprint(sql, dialect)

  it('collapses row-value IN lists of simple tuples', () => {
    expect(fp('SELECT * FROM t WHERE (a, b) IN ((1, 2), (%s, %s))')).toBe('select * from t where (a, b) in (...)')
  })

  it('keeps an IN list holding a column or an expression', () => {
    expect(fp('SELECT * FROM t WHERE a IN (1, b)')).toBe('select * from t where a in (?, b)')
    expect(fp('SELECT * FROM t WHERE a IN (1 + 2)')).toBe('select * from t where a in (? + ?)')
  })

  it('collapses IN lists of casts to arrays of a type', () => {
    expect(fp('SELECT * FROM t WHERE a IN ($1::int[], $2::public.tags)')).toBe('select * from t where a in (...)')
  })

  it('writes a list cut off by the end of the input as in (... without a closing parenthesis', () => {
    expect(fp('SELECT * FROM t WHERE id IN (1, 2, 3')).toBe('select * from t where id in (...')
    expect(fp('SELECT * FROM t WHERE id IN (1, 2, ')).toBe('select * from t where id in (...')
  })

  it('keeps every VALUES row when the rows differ and are not simple', () => {
    expect(fp('INSERT INTO t VALUES (1, now()), (2, lower(%s))')).toBe('insert into t values (?, now()), (?, lower(?))')
  })

  it('de-duplicates VALUES rows whose nested expressions normalize alike', () => {
    expect(fp('INSERT INTO t VALUES (coalesce(1, (2)), now()), (coalesce(7, (8)), now())')).toBe(
      'insert into t values (coalesce(?, (?)), now())',
    )
  })

  it('keeps an empty ARRAY[] and collapses ARRAY of literals', () => {
    expect(fp("SELECT ARRAY[]::int[], ARRAY['a', 'b']")).toBe('select array[]::int[], array[...]')
  })

  it('folds a sign after a keyword but not after an operand', () => {
    expect(fp('SELECT -1, a-1 FROM t LIMIT -1 OFFSET +2')).toBe('select ?, a - ? from t limit ? offset ?')
    expect(fp('SELECT x -- y\n- 1')).toBe('select x - ?')
  })

  it('erases cursor names after MOVE and DEALLOCATE PREPARE but keeps CLOSE ALL', () => {
    expect(fp('MOVE 10 IN cur_1; DEALLOCATE PREPARE s1; CLOSE ALL; DEALLOCATE ALL')).toBe(
      'move ? in ?; deallocate prepare ?; close all; deallocate all',
    )
    expect(fp('ROLLBACK WORK TO SAVEPOINT "s1"; PREPARE TRANSACTION \'x\'')).toBe(
      'rollback work to savepoint ?; prepare transaction ?',
    )
  })

  it('only erases names at the start of a statement', () => {
    expect(fp('SELECT savepoint FROM t')).toBe('select savepoint from t')
  })

  it('drops empty statements and trailing semicolons', () => {
    expect(fp(';; SELECT 1 ;; SELECT 2 ; ;')).toBe('select ?; select ?')
  })

  it('lowercases ASCII letters only', () => {
    expect(fp('SELECT Ünïcode_COL FROM Tàble')).toBe('select Ünïcode_col from tàble')
  })

  it('never lets a literal reach the output, even when unterminated', () => {
    expect(fp("SELECT 'secret")).toBe('select ?')
    expect(fp('SELECT $a$ secret', 'pg')).toBe('select ?')
    expect(fp('SELECT "secret', 'mysql')).toBe('select ?')
  })

  it('treats ? as a jsonb operator in pg and a placeholder elsewhere', () => {
    expect(fp("SELECT * FROM t WHERE d ? 'k' AND d ?| array['a'] AND d ?& %s", 'pg')).toBe(
      'select * from t where d ? ? and d ?| array[...] and d ?& ?',
    )
    expect(fp('SELECT * FROM t WHERE a = ?', 'mysql')).toBe('select * from t where a = ?')
  })

  it('keeps MySQL variables as words', () => {
    expect(fp('SELECT @@SESSION.sql_mode, @x := 5', 'mysql')).toBe('select @@session.sql_mode, @x := ?')
  })
})

/** FNV-1a 64 with BigInt, over a string whose char codes are the bytes: the reference for `fingerprintId`. */
function fingerprintIdOfBytes(bytes: string): string {
  let h = 0xcbf29ce484222325n
  for (let i = 0; i < bytes.length; i++) h = ((h ^ BigInt(bytes.charCodeAt(i))) * 0x100000001b3n) & 0xffffffffffffffffn
  return h.toString(16).padStart(16, '0')
}

describe('fingerprintId', () => {
  it('is FNV-1a 64 of the UTF-8 text, as 16 lower-case hex digits', () => {
    expect(fingerprintId('')).toBe('cbf29ce484222325')
    expect(fingerprintId('a')).toBe('af63dc4c8601ec8c')
    expect(fingerprintId('foobar')).toBe('85944171f73967e8')
  })

  it('hashes non-ASCII text by its UTF-8 bytes, as TextEncoder encodes them', () => {
    const latin1Bytes = String.fromCharCode(...new TextEncoder().encode('é \u20ac \ud83d\ude00 \ud800'))
    expect(fingerprintId('é \u20ac \ud83d\ude00 \ud800')).toBe(fingerprintIdOfBytes(latin1Bytes))
  })

  it('matches a BigInt FNV-1a 64 on every fixture form', () => {
    for (const c of cases) {
      const bytes = String.fromCharCode(...new TextEncoder().encode(c.expected))
      expect(fingerprintId(c.expected)).toBe(fingerprintIdOfBytes(bytes))
    }
  })

  it('is stable for the same normalized query', () => {
    const sql = 'select * from "t" where "t"."id" = ?'
    expect(fingerprintId(sql)).toBe(fingerprintId(`${sql}`))
    expect(fingerprintId(sql)).not.toBe(fingerprintId(`${sql} `))
  })
})
