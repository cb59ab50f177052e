/** Check results the reporters' tests print: one with every kind of line a report can hold, one clean. @module */
import { baselineOf } from '../../server/src/ci/baseline.js'
import { parseBudget } from '../../server/src/ci/budget.js'
import type { CheckResult } from '../../server/src/ci/check.js'
import { checkUnits } from '../../server/src/ci/check.js'
import { BOOKS, fp, nPlusOneUnit, REVIEWS_OF_BOOK, unit } from './units.js'

/** An N+1, a query budget broken, a baseline regression with its diff, a warning, an allowed finding, an improvement. */
export function eventfulResult(): CheckResult {
  const budget = parseBudget(
    {
      defaults: { max_queries: 50 },
      units: { 'GET books/': { max_queries: 3 } },
      allow: [{ fingerprint: fp(REVIEWS_OF_BOOK), reason: 'reviews are paged <10> & cached' }],
    },
    'querysight.budget.json',
  )
  const units = [
    nPlusOneUnit({ kind: 'request', method: 'GET', route: 'books/', name: 'GET /books/', n: 4 }),
    unit({
      name: 'tests/test_books.py::test_detail[<b>&"1"]',
      queries: [{ sql: BOOKS }, { sql: BOOKS }, { sql: REVIEWS_OF_BOOK }, { sql: REVIEWS_OF_BOOK }],
      findings: [
        { kind: 'duplicate', sql: BOOKS, fingerprint: fp(BOOKS), count: 2, suggestion: { text: 'Reuse the first result of the queryset', code: null } },
        { kind: 'n_plus_one', sql: REVIEWS_OF_BOOK, fingerprint: fp(REVIEWS_OF_BOOK), count: 2 },
      ],
    }),
    unit({ name: 'tests/test_books.py::test_cheap', queries: [{ sql: BOOKS }] }),
  ]
  const baseline = baselineOf([
    unit({ name: 'tests/test_books.py::test_detail[<b>&"1"]', queries: [{ sql: BOOKS }, { sql: REVIEWS_OF_BOOK }] }),
    unit({ name: 'tests/test_books.py::test_cheap', queries: [{ sql: BOOKS }, { sql: BOOKS }] }),
  ])
  return checkUnits(units, { budget, baseline, baselineFile: 'querysight.baseline.json' })
}

export function cleanResult(): CheckResult {
  return checkUnits([unit({ name: 'tests/test_books.py::test_cheap', queries: [{ sql: BOOKS }] })])
}
