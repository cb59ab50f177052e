import { describe, expect, it } from 'vitest'
import { eventfulResult } from '../../../test/ci/results.js'
import { VERSION } from '../version.js'
import { jsonReport } from './report-json.js'

describe('the JSON report', () => {
  it('holds the whole result under stable field names', () => {
    const report = JSON.parse(jsonReport(eventfulResult()))
    expect(report).toMatchObject({
      querysight: VERSION,
      passed: false,
      budget: 'querysight.budget.json',
      baseline: 'querysight.baseline.json',
      totals: { units: 3, failed: 2, violations: 3, warnings: 1 },
    })
    expect(report.violations.map((v: { kind: string }) => v.kind)).toEqual(['max_queries', 'n_plus_one', 'baseline'])
    expect(report.violations[1].finding).toMatchObject({ callsite: { file: 'shop/views.py', line: 14 }, suggestion: { code: 'Book.objects.select_related("author")' } })
    expect(report.units[0]).toEqual({
      name: 'GET books/',
      kind: 'request',
      runs: 1,
      queries: 5,
      max_queries: 3,
      findings: { n_plus_one: 1, duplicate: 0, repeated_write: 0, slow_query: 0 },
      outcome: 'fail',
    })
  })
})
