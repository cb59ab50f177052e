import { describe, expect, it } from 'vitest'
import { analyse, AUTHOR_BY_ID, BOOKS, q, site, times, unitOf } from './test-helpers.js'

const SETTINGS = 'SELECT "shop_shopsettings"."id" FROM "shop_shopsettings" ORDER BY "shop_shopsettings"."id" ASC LIMIT 1'

describe('analyseUnit', () => {
  it('returns the unit with every query fingerprinted and the fingerprints map', () => {
    const unit = unitOf(q(BOOKS), q(AUTHOR_BY_ID, [1]), q(AUTHOR_BY_ID.replace('LIMIT 21', 'LIMIT 21'), [2]))
    const result = analyse(unit)
    expect(result).toMatchObject({
      id: unit.id,
      kind: 'request',
      name: 'GET /books/',
      method: 'GET',
      route: 'books/',
      view: 'shop.views.book_list',
      status: 200,
      app: 'bookshop',
      framework: 'django',
      dropped_queries: 0,
      meta: {},
    })
    expect(result.queries).toHaveLength(3)
    expect(result.queries.every((query) => /^[0-9a-f]{16}$/.test(query.fingerprint))).toBe(true)
    expect(result.queries[0].sql).toBe(BOOKS)
    expect(Object.keys(result.fingerprints).sort()).toEqual([...new Set(result.queries.map((x) => x.fingerprint))].sort())
  })

  it('sums up queries, database time, duplicates, N+1s, findings and the worst severity', () => {
    const unit = unitOf(
      q(SETTINGS, [], { at: site('shop/context_processors.py', 4), ms: 1.5 }),
      q(SETTINGS, [], { at: site('shop/context_processors.py', 9), ms: 1.25 }),
      q(BOOKS, [], { at: site('shop/views.py', 40), ms: 2 }),
      times(12, (i) => q(AUTHOR_BY_ID, [i + 1], { at: site('shop/views.py', 42), ms: 0.25 })),
    )
    unit.dropped_queries = 5
    const { summary, findings } = analyse(unit)
    expect(summary).toEqual({
      queries: 20,
      db_ms: 7.75,
      duplicates: 1,
      n_plus_one: 1,
      findings: 2,
      severity: 'error',
      kinds: ['n_plus_one', 'duplicate'],
    })
    // "instead of 12 queries" beside a summary of 20: the text says which queries its count is of.
    for (const finding of findings) {
      expect(finding.suggestion.text).toMatch(/ \(counted in the queries the agent kept: 5 more ran past its MAX_QUERIES, which it did not keep\)$/)
    }
  })

  it('sums up a clean unit with no findings and no severity', () => {
    expect(analyse(unitOf(q(BOOKS, [], { ms: 0.1 }), q(SETTINGS, [], { ms: 0.2 }))).summary).toEqual({
      queries: 2,
      db_ms: 0.3,
      duplicates: 0,
      n_plus_one: 0,
      findings: 0,
      severity: null,
      kinds: [],
    })
  })

  it('lists errors first, then by kind and position', () => {
    const unit = unitOf(
      q(SETTINGS, [], { at: site('a.py', 1) }),
      q(SETTINGS, [], { at: site('b.py', 1) }),
      q(BOOKS, [], { at: site('shop/views.py', 40), ms: 150 }),
      times(10, (i) => q(AUTHOR_BY_ID, [i + 1], { at: site('shop/views.py', 42) })),
    )
    expect(analyse(unit).findings.map((f) => [f.kind, f.severity])).toEqual([
      ['n_plus_one', 'error'],
      ['duplicate', 'warning'],
      ['slow_query', 'warning'],
    ])
  })

  it('analyses an empty unit', () => {
    const result = analyse(unitOf())
    expect(result.findings).toEqual([])
    expect(result.fingerprints).toEqual({})
    expect(result.summary.queries).toBe(0)
  })

  it('never throws on broken SQL or odd parameters', () => {
    const unit = unitOf(
      q('SELECT * FROM "unterminated WHERE (( id = %s', [1]),
      q('', null),
      q(')))) = IN ( %(name)s', { name: [1, { a: 'b' }] }),
      q('SELECT x FROM t WHERE id = %s', [1], { vendor: 'oracle' }),
    )
    expect(() => analyse(unit)).not.toThrow()
  })

  it('gives the same result for the same input (pure)', () => {
    const unit = unitOf(q(BOOKS), times(3, (i) => q(AUTHOR_BY_ID, [i])))
    expect(analyse(unit)).toEqual(analyse(structuredClone(unit)))
  })
})
