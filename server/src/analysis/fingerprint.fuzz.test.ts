import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { fingerprint, fingerprintId, fingerprintWork } from './fingerprint.js'
import { tokenize, type Dialect, type Token } from './lexer.js'
import { formatSql } from './sql-format.js'

// Every random choice comes from one seeded generator: a failure names its seed and input, and reproduces.
const SEED = 0x5eed_f1

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..')
const casesFile = path.resolve(repoRoot, '..', 'shared', 'fixtures', 'fingerprint-cases.json')
const { cases } = JSON.parse(readFileSync(casesFile, 'utf8')) as {
  cases: { id: string; dialect: Dialect | 'any'; input: string; expected: string }[]
}
const DIALECTS: Dialect[] = ['pg', 'mysql', 'sqlite', 'ansi']

/** Pieces that exercise every lexer branch: quotes, comments, dollar quotes, placeholders, brackets, odd characters. */
const FRAGMENTS = [
  'SELECT ', 'FROM ', 'WHERE ', ' IN (', ' VALUES (', 'ARRAY[', 'savepoint ', 'FETCH ', ' from ', 'release ',
  'null', 'TRUE', ' is ', ' not ', 'default', "'", "''", '"', '""', '`', '[', ']', '(', ')', ',', ';', '.', '::',
  ':', ':x', '%s', '%(', ')s', '%%', '%', '?', '?1', '?|', '$1', '$$', '$a$', '$', '@', '@@v', '#', '#>>', '--',
  '-- ', '/*', '*/', '/*!', '\n', '\r', '\t', ' ', '\\', "E'", "N'", "X'", "U&'", 'U&"', "_utf8'", '__[POSTCOMPILE_',
  '0x1F', '1e', '1.5E-3', '.5', '5.', '1_000', '123abc', '-', '+', '-1', '<=>', '->>', '!=', '||', '=', '<', '>',
  'é', '\uFEFF', '\u00a0', '\u2028', '\ud83d\ude00', '\ud800', '\u0000', 'x', 'col_1', '"t"."id"', 'LIMIT 21',
]

function randomSql(random: () => number, pieces: number): string {
  let sql = ''
  for (let i = 0; i < pieces; i++) {
    sql +=
      random() < 0.9
        ? FRAGMENTS[Math.floor(random() * FRAGMENTS.length)]
        : String.fromCharCode(Math.floor(random() * 0x3000))
  }
  return sql
}

function mutate(random: () => number, sql: string): string {
  const at = Math.floor(random() * (sql.length + 1))
  const to = Math.min(sql.length, at + Math.floor(random() * 20))
  switch (Math.floor(random() * 5)) {
    case 0:
      return sql.slice(0, at) // cut off, like a truncated capture
    case 1:
      return sql.slice(0, at) + randomSql(random, 1 + Math.floor(random() * 3)) + sql.slice(at)
    case 2:
      return sql.slice(0, at) + sql.slice(to)
    case 3:
      return sql.slice(0, to) + sql.slice(at, to) + sql.slice(to)
    default:
      return sql.slice(0, at) + sql.slice(at, to).toUpperCase() + sql.slice(to)
  }
}

/** The tokens tile the input: contiguous, non-empty, each `text` the slice it names. */
function expectTiling(sql: string, tokens: Token[]) {
  let at = 0
  for (const t of tokens) {
    if (t.start !== at || t.end <= t.start || t.text !== sql.slice(t.start, t.end)) {
      throw new Error(`token ${JSON.stringify(t)} does not tile ${JSON.stringify(sql)} at ${at}`)
    }
    at = t.end
  }
  expect(at).toBe(sql.length)
}

const significant = (sql: string, dialect: Dialect) =>
  tokenize(sql, dialect)
    .filter((t) => t.kind !== 'space')
    .map((t) => `${t.kind}:${t.text}`)
    .join('\u0001')

/** Every check that must hold for any input at all. */
function checkAnyInput(sql: string, dialect: Dialect) {
  const context = `dialect ${dialect}, input ${JSON.stringify(sql)}`
  expectTiling(sql, tokenize(sql, dialect))
  const form = fingerprint(sql, dialect)
  expect(typeof form, context).toBe('string')
  expect(fingerprintId(form), context).toMatch(/^[0-9a-f]{16}$/)
  expect(significant(formatSql(sql, dialect), dialect), context).toBe(significant(sql, dialect))
}

describe('fingerprint fuzzing', () => {
  it('never throws on thousands of random inputs, in every dialect', () => {
    const random = mulberry32(SEED)
    for (let i = 0; i < 3000; i++) {
      const sql = randomSql(random, 1 + Math.floor(random() * 40))
      checkAnyInput(sql, DIALECTS[i % DIALECTS.length])
    }
  })

  it('never throws on thousands of mutated fixture queries', () => {
    const random = mulberry32(SEED + 1)
    for (let i = 0; i < 4000; i++) {
      const base = cases[Math.floor(random() * cases.length)].input.slice(0, 2000)
      let sql = mutate(random, base)
      if (random() < 0.5) sql = mutate(random, sql)
      checkAnyInput(sql, DIALECTS[i % DIALECTS.length])
    }
  })

  it('gives the same fingerprint, free of the new values, when only the literals change', () => {
    const random = mulberry32(SEED + 2)
    let checked = 0
    for (let round = 0; round < 20; round++) {
      for (const c of cases) {
        for (const dialect of c.dialect === 'any' ? DIALECTS : [c.dialect]) {
          const tokens = tokenize(c.input, dialect)
          const markers: string[] = []
          const mutated = tokens
            .map((t) => {
              if (t.kind === 'number') {
                const marker = String(100000 + Math.floor(random() * 900000))
                markers.push(marker)
                return marker
              }
              if (t.kind === 'string' && t.text.startsWith("'")) {
                const marker = `zq${Math.floor(random() * 1e9).toString(36)}`
                markers.push(marker)
                return `'${marker} it''s'`
              }
              return t.text
            })
            .join('')
          if (markers.length === 0) continue
          const kindsBefore = tokens.map((t) => t.kind).join()
          const kindsAfter = tokenize(mutated, dialect)
            .map((t) => t.kind)
            .join()
          if (kindsAfter !== kindsBefore) continue // the new literal fused with a neighbour: not a literal-only change
          const form = fingerprint(mutated, dialect)
          expect(form, `${c.id} (${dialect}): ${mutated}`).toBe(c.expected)
          for (const marker of markers) expect(form).not.toContain(marker)
          checked++
        }
      }
    }
    expect(checked).toBeGreaterThan(500)
  })
})

describe('fingerprint on huge and hostile inputs', () => {
  it('handles 10,000 nested parentheses without recursion', () => {
    const sql = `SELECT ${'('.repeat(10_000)}1${')'.repeat(10_000)}`
    expect(fingerprint(sql, 'pg')).toBe(`select ${'('.repeat(10_000)}?${')'.repeat(10_000)}`)
    expect(fingerprint(`SELECT ${'('.repeat(10_000)}`, 'pg')).toBe(`select ${'('.repeat(10_000)}`)
    expect(fingerprint(`SELECT * FROM t WHERE a IN ${'('.repeat(10_000)}`, 'sqlite')).toBe(
      `select * from t where a in ${'('.repeat(10_000)}`,
    )
    checkAnyInput(`x IN ${'(('.repeat(5_000)}1${'),1)'.repeat(5_000)}`, 'pg')
    checkAnyInput(`VALUES ${'(VALUES '.repeat(10_000)}(1)${')'.repeat(10_000)}`, 'pg')
    checkAnyInput(`SELECT ${'ARRAY['.repeat(10_000)}1${']'.repeat(10_000)}`, 'pg')
  })

  it('fingerprints a 1 MB query', () => {
    const row = "(%s, 'O''Reilly', 42, NOW())"
    const sql = `INSERT INTO "t" ("a", "b", "c", "d") VALUES ${Array(Math.ceil(1_000_000 / row.length)).fill(row).join(', ')}`
    expect(sql.length).toBeGreaterThan(1_000_000)
    expect(fingerprint(sql, 'pg')).toBe('insert into "t" ("a", "b", "c", "d") values (?, ?, ?, now())')
    const list = `SELECT * FROM t WHERE id IN (${Array(150_000).fill('%s').join(', ')})`
    expect(fingerprint(list, 'pg')).toBe('select * from t where id in (...)')
  })

  it('runs an unterminated string or comment of 1 MB to the end of the input', () => {
    const tail = 'x'.repeat(1_000_000)
    expect(fingerprint(`SELECT '${tail}`, 'pg')).toBe('select ?')
    expect(fingerprint(`SELECT 1 /* ${tail}`, 'pg')).toBe('select ?')
    expect(fingerprint(`SELECT 1 ${'/*'.repeat(300_000)}`, 'pg')).toBe('select ?')
    expect(fingerprint(`SELECT $q$${tail}`, 'pg')).toBe('select ?')
  })
})

describe('fingerprint cost grows linearly with the input', () => {
  const shapes: Record<string, (size: number) => string> = {
    'a realistic query mix': (size) => repeatTo(size, 'SELECT "a"."id", "a"."x" FROM "a" WHERE "a"."id" IN (1, 2, 3) AND b = \'x\'; '),
    'nested parentheses': (size) => `SELECT ${'('.repeat(size / 2)}1${')'.repeat(size / 2)}`,
    'unclosed parentheses': (size) => `SELECT a IN ${'(1, '.repeat(size / 4)}`,
    'nested IN lists': (size) => `SELECT 1 WHERE a IN ${'(1, '.repeat(size / 4)}2${')'.repeat(size / 4)}`,
    'nested VALUES': (size) => `VALUES ${'(VALUES (1), '.repeat(size / 12)}(2)${')'.repeat(size / 12)}`,
    'VALUES rows that differ': (size) => `INSERT INTO t VALUES ${'(now(), (1)), (1, ?), '.repeat(size / 22)}(1)`,
    'nested ARRAY': (size) => `SELECT ${'ARRAY[1, '.repeat(size / 8)}${']'.repeat(size / 8)}`,
    'nested casts': (size) => `SELECT 1 WHERE a IN (${'?::a[]::b.c, '.repeat(size / 13)}x)`,
    'one long IN list': (size) => `SELECT 1 WHERE a IN (${'%s, '.repeat(size / 4)}%s)`,
    'a long FETCH': (size) => `FETCH ${'1 '.repeat(size / 2)}`,
    'many statements': (size) => repeatTo(size, 'savepoint s1;'),
    'random fragments': (size) => {
      const random = mulberry32(SEED + 3)
      let sql = ''
      while (sql.length < size) sql += randomSql(random, 200)
      return sql.slice(0, size)
    },
  }

  // Counted work, not time: deterministic, so it cannot flake. Linear growth is 10x for 10x the input; a quadratic
  // algorithm would be near 100x.
  for (const [name, make] of Object.entries(shapes)) {
    it(`in work done, on ${name}`, () => {
      // The bracket and list shapes lex alike in every dialect; random fragments do not.
      for (const dialect of name === 'random fragments' ? DIALECTS : (['pg'] as Dialect[])) {
        const ratio = workOf(make(1_000_000), dialect) / workOf(make(100_000), dialect)
        expect(ratio, `${name} (${dialect}): 1 MB took ${ratio.toFixed(1)}x the work of 100 KB`).toBeLessThan(12)
      }
    })
  }

  // Time catches what counting cannot (a quadratic built-in call): the best of several runs at 100 KB and at 1 MB,
  // never an absolute time, with a 40x bound far from both linear (10x) and quadratic (100x). The shapes are those
  // whose memory is freed as it goes, so that garbage collection of a 1 MB tree does not weigh on the ratio.
  for (const name of ['a realistic query mix', 'many statements', 'random fragments']) {
    it(`in time, on ${name}`, () => {
      const small = shapes[name](100_000)
      const large = shapes[name](1_000_000)
      const ratio = bestTime(() => fingerprint(large, 'pg'), 3) / bestTime(() => fingerprint(small, 'pg'), 5)
      expect(ratio, `${name}: 1 MB took ${ratio.toFixed(1)}x the time of 100 KB`).toBeLessThan(40)
    })
  }

  it('in time, for tokenize and formatSql too', () => {
    const small = shapes['random fragments'](100_000)
    const large = shapes['random fragments'](1_000_000)
    const tokenizeRatio = bestTime(() => tokenize(large, 'pg'), 3) / bestTime(() => tokenize(small, 'pg'), 5)
    const formatRatio = bestTime(() => formatSql(large, 'pg'), 3) / bestTime(() => formatSql(small, 'pg'), 5)
    expect(tokenizeRatio).toBeLessThan(40)
    expect(formatRatio).toBeLessThan(40)
  })
})

function workOf(sql: string, dialect: Dialect): number {
  const before = fingerprintWork()
  fingerprint(sql, dialect)
  return fingerprintWork() - before
}

function repeatTo(size: number, unit: string): string {
  return unit.repeat(Math.ceil(size / unit.length))
}

function bestTime(run: () => unknown, times: number): number {
  run() // warm up the JIT on this shape
  let best = Infinity
  for (let i = 0; i < times; i++) {
    const start = performance.now()
    run()
    best = Math.min(best, performance.now() - start)
  }
  return Math.max(best, 0.01)
}
