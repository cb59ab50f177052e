import { describe, expect, it } from 'vitest'
import { AUTHOR_BY_ID, BOOKS, fp, nPlusOneUnit, REVIEWS_OF_BOOK, unit } from '../../../test/ci/units.js'
import { BaselineFileError, baselineOf, compareBaselines, diffLines, formatBaseline, parseBaselineText } from './baseline.js'

describe('the baseline', () => {
  it('records per unit name the query count, the multiset of fingerprints with their SQL, and the N+1s', () => {
    const baseline = baselineOf([nPlusOneUnit({ name: 'tests/t.py::test_list', n: 2 })])
    expect(baseline).toEqual({
      version: 1,
      units: {
        'tests/t.py::test_list': {
          kind: 'test',
          queries: 3,
          fingerprints: { [fp(BOOKS)]: { count: 1, sql: BOOKS }, [fp(AUTHOR_BY_ID)]: { count: 2, sql: AUTHOR_BY_ID } },
          n_plus_one: [fp(AUTHOR_BY_ID)],
        },
      },
    })
  })

  it('keeps the worst case of a route requested several times, whatever the order', () => {
    const a = unit({ kind: 'request', method: 'GET', route: 'books/', name: 'GET /books/', queries: [{ sql: BOOKS }, { sql: BOOKS }] })
    const b = unit({ kind: 'request', method: 'GET', route: 'books/', name: 'GET /books/', queries: [{ sql: BOOKS }, { sql: AUTHOR_BY_ID }, { sql: REVIEWS_OF_BOOK }] })
    const entry = baselineOf([a, b]).units['GET books/']
    expect(entry.queries).toBe(3)
    expect(entry.fingerprints).toEqual({
      [fp(BOOKS)]: { count: 2, sql: BOOKS },
      [fp(AUTHOR_BY_ID)]: { count: 1, sql: AUTHOR_BY_ID },
      [fp(REVIEWS_OF_BOOK)]: { count: 1, sql: REVIEWS_OF_BOOK },
    })
    expect(formatBaseline(baselineOf([b, a]))).toBe(formatBaseline(baselineOf([a, b])))
  })

  it('writes the same bytes for the same run: sorted keys at every level, two spaces, a trailing newline', () => {
    const units = [nPlusOneUnit({ name: 'tests/z.py::test_z' }), unit({ name: 'tests/a.py::test_a', queries: [{ sql: REVIEWS_OF_BOOK }, { sql: BOOKS }] })]
    const text = formatBaseline(baselineOf(units))
    expect(text).toBe(formatBaseline(baselineOf([...units].reverse())))
    expect(text.endsWith('}\n')).toBe(true)
    expect(text.indexOf('tests/a.py::test_a')).toBeLessThan(text.indexOf('tests/z.py::test_z'))
    const keysOfFirst = Object.keys(JSON.parse(text).units['tests/a.py::test_a'].fingerprints)
    expect(keysOfFirst).toEqual([...keysOfFirst].sort())
    expect(text.split('\n')[1]).toBe('  "units": {')
  })

  it('reads back what it writes', () => {
    const baseline = baselineOf([nPlusOneUnit({ name: 'tests/t.py::test_list' })])
    expect(parseBaselineText(formatBaseline(baseline), 'b.json')).toEqual(baseline)
  })

  it('rejects a damaged file and says how to rewrite it', () => {
    expect(() => parseBaselineText('{"version": 1, "units": {"x": {"kind": "test", "queries": "3", "fingerprints": {}}}}', 'b.json')).toThrow(
      new BaselineFileError('units["x"].queries must be a whole number (in b.json); rewrite the file with --update-baseline'),
    )
    expect(() => parseBaselineText('not json', 'b.json')).toThrow(/^b\.json is not valid JSON/)
    expect(() => parseBaselineText('{"version": 2, "units": {}}', 'b.json')).toThrow(/version must be 1/)
  })

  it('diffs like a snapshot: what was added and removed, with counts and SQL', () => {
    const before = baselineOf([unit({ name: 'u', queries: [{ sql: BOOKS }, { sql: AUTHOR_BY_ID }, { sql: REVIEWS_OF_BOOK }] })])
    const after = baselineOf([unit({ name: 'u', queries: [{ sql: BOOKS }, { sql: AUTHOR_BY_ID }, { sql: AUTHOR_BY_ID }, { sql: AUTHOR_BY_ID }] })])
    const [cmp] = compareBaselines(before, after)
    expect(cmp).toMatchObject({ name: 'u', before: { queries: 3 }, after: { queries: 4 } })
    expect(diffLines(cmp.changes)).toEqual([`+ 2× ${AUTHOR_BY_ID}`, `- 1× ${REVIEWS_OF_BOOK}`])
  })

  it('lists N+1s the baseline did not have, and units that appeared or disappeared', () => {
    const before = baselineOf([unit({ name: 'old', queries: [{ sql: BOOKS }] }), unit({ name: 'u', queries: [{ sql: BOOKS }] })])
    const after = baselineOf([nPlusOneUnit({ name: 'u', n: 2 }), unit({ name: 'new', queries: [] })])
    const byName = Object.fromEntries(compareBaselines(before, after).map((c) => [c.name, c]))
    expect(byName.u.newNPlusOne).toEqual([fp(AUTHOR_BY_ID)])
    expect(byName.old).toMatchObject({ after: null })
    expect(byName.new).toMatchObject({ before: null })
  })

  it('shortens very long SQL in diff lines', () => {
    const [line] = diffLines([{ fingerprint: 'f', sql: `select ${'x, '.repeat(200)}y from t`, delta: 1 }], { maxSql: 50 })
    expect(line).toHaveLength('+ 1× '.length + 50)
    expect(line.endsWith('…')).toBe(true)
  })
})
