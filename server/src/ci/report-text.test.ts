import { describe, expect, it } from 'vitest'
import { cleanResult, eventfulResult } from '../../../test/ci/results.js'
import { AUTHOR_BY_ID, BOOKS, unit } from '../../../test/ci/units.js'
import { checkUnits } from './check.js'
import { textReport } from './report-text.js'

describe('the text report', () => {
  it('starts and ends with the verdict', () => {
    const lines = textReport(eventfulResult()).trimEnd().split('\n')
    expect(lines[0]).toBe('querysight FAILED: 3 violations in 2 of 3 units, 1 warning')
    expect(lines.at(-1)).toBe(lines[0])
    expect(textReport(cleanResult()).split('\n')[0]).toBe('querysight passed: 1 unit, 1 query')
  })

  it('tabulates every unit with its queries, limit, N+1s and duplicates, failures first', () => {
    const text = textReport(eventfulResult())
    expect(text).toContain(
      [
        '  result  queries  limit  N+1  dup  unit',
        '  FAIL          5      3    1    0  GET books/',
        '  FAIL          4     50    1    1  tests/test_books.py::test_detail[<b>&"1"]',
        '  ok            1     50    0    0  tests/test_books.py::test_cheap',
      ].join('\n'),
    )
  })

  it('prints each violation with its SQL, call site and fix', () => {
    const text = textReport(eventfulResult())
    expect(text).toContain(
      [
        '✗ GET books/: N+1',
        '    N+1: 4 queries, 2 ms wasted',
        `    sql: ${AUTHOR_BY_ID}`,
        '    at shop/views.py:14 in book_list',
        '    fix: Add .select_related("author") to the queryset iterated at shop/views.py:12',
        '         Book.objects.select_related("author")',
        '    fingerprint: ',
      ].join('\n'),
    )
    expect(text).toContain(
      ['✗ GET books/: too many queries', '    5 queries, over the budget of 3 (units["GET books/"])', '    most run:', `      4× ${AUTHOR_BY_ID} at shop/views.py:14`, `      1× ${BOOKS} at shop/views.py:10`].join('\n'),
    )
  })

  it('says where the template of a violation was included', () => {
    const template = { name: 'shop/_row.html', line: 2, included_from: [{ name: 'shop/book_list.html', line: 12 }] }
    const text = textReport(checkUnits([unit({ queries: [{ sql: BOOKS }], findings: [{ kind: 'n_plus_one', template }] })]))
    expect(text).toContain('    at shop/views.py:14 in book_list, template shop/_row.html:2, included at shop/book_list.html:12\n')
  })

  it('prints a baseline regression as a snapshot diff and says how to accept it', () => {
    const text = textReport(eventfulResult())
    expect(text).toContain(
      [
        '✗ tests/test_books.py::test_detail[<b>&"1"]: more queries than the baseline',
        "    4 queries, 2 more than the baseline's 2",
        `    + 1× ${BOOKS}`,
      ].join('\n'),
    )
    expect(text).toContain('run again with --update-baseline and commit the baseline file')
  })

  it('lists warnings, allowed findings with their reason, and improvements', () => {
    const text = textReport(eventfulResult())
    expect(text).toMatch(/Warnings\n\n! tests\/test_books\.py::test_detail\[<b>&"1"\]\n {4}duplicate queries: 2 queries/)
    expect(text).toContain('    reason: reviews are paged <10> & cached')
    expect(text).toContain(`- improved: tests/test_books.py::test_cheap: 1 query, 1 fewer than the baseline's 2\n    - 1× ${BOOKS}`)
  })

  it('keeps the table short on a large run: failing units, then a count of the passing ones', () => {
    const units = Array.from({ length: 60 }, (_, i) => unit({ name: `tests/t.py::test_${String(i).padStart(2, '0')}`, queries: [{ sql: BOOKS }] }))
    const text = textReport(checkUnits(units), { maxPassingRows: 40 })
    expect(text).toContain('  … and 60 passing units')
    expect(text).not.toContain('tests/t.py::test_00')
  })
})
