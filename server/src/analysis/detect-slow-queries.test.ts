import { describe, expect, it } from 'vitest'
import { analyse, BOOKS, findingsOf, q, site, unitOf } from './test-helpers.js'

const REPORT =
  'SELECT "shop_review"."book_id", AVG("shop_review"."rating") AS "avg" FROM "shop_review" WHERE "shop_review"."created" >= %s GROUP BY "shop_review"."book_id"'

describe('slow queries', () => {
  it('reports a query above 100 ms with its time and where it ran', () => {
    const [finding] = findingsOf(unitOf(q(BOOKS), q(REPORT, ['2024-01-01'], { at: site('shop/reports.py', 12), ms: 250.5 })))
    expect(finding).toMatchObject({
      kind: 'slow_query',
      severity: 'warning',
      count: 1,
      wasted_ms: 250.5,
      query_indexes: [1],
      callsite: { file: 'shop/reports.py', line: 12 },
    })
    expect(finding.suggestion.text).toContain('took 251 ms (over 100 ms) at shop/reports.py:12')
    expect(finding.suggestion.text).toContain('"shop_review"."created"')
    expect(finding.suggestion.code).toMatch(/^EXPLAIN QUERY PLAN select/)
  })

  it('does not report a query of exactly 100 ms', () => {
    expect(findingsOf(unitOf(q(REPORT, ['2024-01-01'], { ms: 100 })))).toEqual([])
  })

  it('follows slowMs from the options', () => {
    expect(findingsOf(unitOf(q(REPORT, ['2024-01-01'], { ms: 30 })), { options: { slowMs: 25 } })).toMatchObject([{ kind: 'slow_query' }])
  })

  it('never reports a slow COMMIT or connection setup', () => {
    expect(findingsOf(unitOf(q('COMMIT', null, { ms: 900 }), q('SET TIME ZONE \'UTC\'', [], { ms: 300 })))).toEqual([])
  })

  it('uses the dialect of the query for the EXPLAIN it shows', () => {
    const [finding] = analyse(unitOf(q(REPORT, ['2024-01-01'], { ms: 150, vendor: 'postgresql' }))).findings
    expect(finding.suggestion.code).toMatch(/^EXPLAIN ANALYZE select/)
  })
})
