import { describe, expect, it } from 'vitest'
import { AUTHOR_BY_ID, finding, fp, nPlusOneUnit, site, unit } from '../../../test/ci/units.js'
import { allowsFor, BudgetFileError, callsiteMatches, limitsFor, MarkerError, matchNames, parseBudget, parseBudgetText, unitKey } from './budget.js'
import { globMatch } from './glob.js'

/** The allow entry that decides for a finding: the first that covers it. */
const allowFor = (...args: Parameters<typeof allowsFor>) => allowsFor(...args)[0] ?? null

const request = (method: string, route: string | null, name = `${method} /${route ?? 'nowhere/'}`) => unit({ kind: 'request', method, route, name })

describe('the budget file', () => {
  it('reads defaults, unit entries and allow entries', () => {
    const budget = parseBudget({
      defaults: { max_queries: 50, n_plus_one: 'error', duplicate: 'warn' },
      units: { 'GET books/': { max_queries: 5 }, 'tests/test_api.py::test_list': { max_queries: 3, duplicate: 'error' } },
      allow: [{ fingerprint: 'abc', reason: 'cached upstream' }, { callsite: 'shop/legacy.py', kind: 'duplicate', reason: 'legacy export' }],
    })
    expect(budget.defaults).toEqual({ max_queries: 50, n_plus_one: 'error', duplicate: 'warn' })
    expect(budget.units).toEqual([
      { pattern: 'GET books/', limits: { max_queries: 5 } },
      { pattern: 'tests/test_api.py::test_list', limits: { max_queries: 3, duplicate: 'error' } },
    ])
    expect(budget.allow[1]).toMatchObject({ index: 1, callsite: 'shop/legacy.py', kind: 'duplicate', reason: 'legacy export', fingerprint: null })
  })

  it('names an unknown key in a unit entry, where it is, and the key that was meant', () => {
    expect(() => parseBudget({ units: { 'GET books/': { max_query: 5 } } })).toThrow(
      new BudgetFileError('unknown key "max_query" in units["GET books/"]; did you mean "max_queries"? (in querysight.budget.json)'),
    )
  })

  it('names unknown keys at the top level, in defaults and in allow entries', () => {
    expect(() => parseBudget({ default: {} }, 'ci/budget.json')).toThrow('unknown key "default" in the top level; did you mean "defaults"? (in ci/budget.json)')
    expect(() => parseBudget({ defaults: { nplusone: 'error' } })).toThrow('unknown key "nplusone" in defaults; did you mean "n_plus_one"?')
    expect(() => parseBudget({ allow: [{ callsite: 'a.py', reason: 'x' }, { fingerprint: 'f', reasons: 'x' }] })).toThrow(
      'unknown key "reasons" in allow[1]; did you mean "reason"?',
    )
    expect(() => parseBudget({ colour: 1 })).toThrow('unknown key "colour" in the top level; the known keys are "defaults", "units", "allow"')
  })

  it('requires a reason on every allow entry', () => {
    expect(() => parseBudget({ allow: [{ fingerprint: 'abc' }] })).toThrow(/allow\[0\] has no "reason"; every allow entry must say why/)
    expect(() => parseBudget({ allow: [{ fingerprint: 'abc', reason: '  ' }] })).toThrow(/allow\[0\]\.reason must be a non-empty string/)
  })

  it('requires an allow entry to say what it allows', () => {
    expect(() => parseBudget({ allow: [{ reason: 'because' }] })).toThrow(/allow\[0\] must say what it allows: a "fingerprint".* or a "callsite"/)
  })

  it('rejects bad values with the path of the value', () => {
    expect(() => parseBudget({ defaults: { max_queries: -1 } })).toThrow('defaults.max_queries must be a whole number of queries (or null for no limit), got -1')
    expect(() => parseBudget({ units: { x: { max_queries: '5' } } })).toThrow('units["x"].max_queries must be a whole number of queries (or null for no limit), got "5"')
    expect(() => parseBudget({ defaults: { duplicate: 'warning' } })).toThrow('defaults.duplicate must be "error", "warn" or "allow", got "warning"; did you mean "warn"?')
    expect(() => parseBudget({ allow: [{ callsite: 'a.py', kind: 'n+1', reason: 'r' }] })).toThrow(/allow\[0\]\.kind must be one of "n_plus_one"/)
    expect(() => parseBudget({ units: [] })).toThrow('units must be an object, got a list')
    expect(() => parseBudget({ allow: {} })).toThrow(/allow must be a list/)
  })

  it('says where the JSON syntax is broken', () => {
    expect(() => parseBudgetText('{"defaults": {,}}', 'q.json')).toThrow(/^q\.json is not valid JSON \(.+\); fix the syntax/)
    // Where, as an editor counts: line and column.
    expect(() => parseBudgetText('{\n  "defaults": {},\n}', 'q.json')).toThrow('q.json is not valid JSON (Expected double-quoted property name in JSON at line 3, column 1)')
  })
})

describe('glob matching', () => {
  it('matches * within one path segment, ** across segments and ? as one character', () => {
    expect(globMatch('tests/test_api.py::test_*', 'tests/test_api.py::test_list')).toBe(true)
    expect(globMatch('tests/*.py::*', 'tests/api/test_x.py::test_a')).toBe(false)
    expect(globMatch('tests/**', 'tests/api/test_x.py::test_a')).toBe(true)
    expect(globMatch('GET books/?/', 'GET books/7/')).toBe(true)
    expect(globMatch('GET books/?/', 'GET books/17/')).toBe(false)
  })

  it("matches / in a node id's test part: a parameter may hold one (a URL)", () => {
    expect(globMatch('tests/test_pages.py::*', 'tests/test_pages.py::test_page[/books/]')).toBe(true)
    expect(globMatch('tests/test_pages.py::test_page[?books/]', 'tests/test_pages.py::test_page[/books/]')).toBe(true)
    expect(globMatch('tests/*.py::*', 'tests/api/test_x.py::test_a[b/2]')).toBe(false) // the path part still stops at /
  })

  it('treats every other character literally, brackets of parametrized node ids included', () => {
    expect(globMatch('tests/t.py::test_x[1]', 'tests/t.py::test_x[1]')).toBe(true)
    expect(globMatch('tests/t.py::test_x[1]', 'tests/t.py::test_x1')).toBe(false)
    expect(globMatch('GET books/<int:pk>/', 'GET books/<int:pk>/')).toBe(true)
    expect(globMatch('a.b', 'axb')).toBe(false)
  })
})

describe('a unit and its limits', () => {
  it('names requests by method and route, tests by node id', () => {
    expect(unitKey(request('GET', 'books/<int:pk>/', 'GET /books/3/'))).toBe('GET books/<int:pk>/')
    expect(unitKey(request('GET', null, 'GET /missing/'))).toBe('GET /missing/')
    // Every 404 that matched no route is one name: a random missing path would change the baseline each run.
    const missing = unit({ kind: 'request', method: 'GET', route: null, name: 'GET /nope/5b6f1c2e/', status: 404 })
    expect(unitKey(missing)).toBe('GET (no route)')
    expect(matchNames(missing)).toEqual(['GET (no route)', 'GET /nope/5b6f1c2e/'])
    expect(unitKey(unit({ kind: 'test', name: 'tests/t.py::test_a[2]' }))).toBe('tests/t.py::test_a[2]')
    expect(matchNames(request('POST', 'books/', 'POST /books/'))).toEqual(['POST books/', 'books/', 'POST /books/', '/books/'])
  })

  it('applies built-in limits when there is no budget file', () => {
    const limits = limitsFor(unit(), parseBudget({}))
    expect(limits).toMatchObject({ max_queries: null, n_plus_one: 'error', duplicate: 'warn', repeated_write: 'warn', slow_query: 'warn' })
  })

  it('matches a request by "METHOD route", by the route alone, and with a leading slash', () => {
    const budget = parseBudget({ units: { 'GET books/': { max_queries: 5 }, 'authors/': { max_queries: 7 }, 'DELETE /books/': { max_queries: 1 } } })
    expect(limitsFor(request('GET', 'books/'), budget).max_queries).toBe(5)
    expect(limitsFor(request('POST', 'books/'), budget).max_queries).toBe(null)
    expect(limitsFor(request('POST', 'authors/'), budget).max_queries).toBe(7)
    expect(limitsFor(request('DELETE', 'books/'), budget).max_queries).toBe(1)
    // Flask's and FastAPI's routes start with a slash: the same keys match them.
    expect(limitsFor(request('GET', '/books/'), budget).max_queries).toBe(5)
    expect(limitsFor(request('POST', '/authors/'), budget).max_queries).toBe(7)
    expect(limitsFor(request('DELETE', '/books/'), budget).max_queries).toBe(1)
    const fastapi = parseBudget({ units: { 'GET books/{book_id}': { max_queries: 2 }, 'books/fix*': { max_queries: 3 } } })
    expect(limitsFor(request('GET', '/books/{book_id}'), fastapi).max_queries).toBe(2)
    expect(limitsFor(request('GET', '/books/fixed'), fastapi).max_queries).toBe(3)
  })

  it('lets the most specific entry win: an exact name over globs, a longer glob over a shorter one', () => {
    const budget = parseBudget({
      defaults: { max_queries: 50 },
      units: { 'tests/test_api.py::test_list': { max_queries: 3 }, 'tests/**': { max_queries: 20, duplicate: 'error' }, 'tests/test_api.py::*': { max_queries: 10 } },
    })
    const exact = limitsFor(unit({ name: 'tests/test_api.py::test_list' }), budget)
    expect(exact).toMatchObject({ max_queries: 3, duplicate: 'error' })
    expect(exact.from).toMatchObject({ max_queries: 'units["tests/test_api.py::test_list"]', duplicate: 'units["tests/**"]', n_plus_one: 'built-in' })
    expect(limitsFor(unit({ name: 'tests/test_api.py::test_other' }), budget).max_queries).toBe(10)
    expect(limitsFor(unit({ name: 'tests/other/test_x.py::test_a' }), budget).max_queries).toBe(20)
    expect(limitsFor(unit({ name: 'elsewhere.py::test_a' }), budget).max_queries).toBe(50)
  })

  it('lets a unit entry lift the default limit with null', () => {
    const budget = parseBudget({ defaults: { max_queries: 10 }, units: { 'tests/test_import.py::*': { max_queries: null } } })
    expect(limitsFor(unit({ name: 'tests/test_import.py::test_big' }), budget).max_queries).toBe(null)
  })

  it('lets the pytest marker in meta.querysight override the file for its test', () => {
    const budget = parseBudget({ defaults: { max_queries: 10, duplicate: 'error' }, units: { 'tests/**': { n_plus_one: 'error' } } })
    const marked = unit({ name: 'tests/t.py::test_a', meta: { querysight: { max_queries: 2, n_plus_one: 'allow' } } })
    const limits = limitsFor(marked, budget)
    expect(limits).toMatchObject({ max_queries: 2, n_plus_one: 'allow', duplicate: 'error' })
    expect(limits.from.max_queries).toBe('marker')
  })

  it('rejects a marker argument it does not know, naming the one meant', () => {
    const marked = unit({ meta: { querysight: { max_querys: 2 } } })
    expect(() => limitsFor(marked, parseBudget({}))).toThrow(MarkerError)
    expect(() => limitsFor(marked, parseBudget({}))).toThrow('unknown key "max_querys" in the @pytest.mark.querysight marker; did you mean "max_queries"?')
  })
})

describe('allow entries', () => {
  const n1 = nPlusOneUnit({ name: 'tests/t.py::test_a' })
  const theFinding = n1.findings[0]

  it('allow a finding by its fingerprint', () => {
    const budget = parseBudget({ allow: [{ fingerprint: fp(AUTHOR_BY_ID), reason: 'tiny table' }] })
    expect(allowFor(theFinding, n1, budget)?.reason).toBe('tiny table')
    expect(allowFor(finding('n_plus_one', { sql: 'select 1' }), n1, budget)).toBeNull()
  })

  it('allow a finding by its call site file, or by file and line', () => {
    expect(allowFor(theFinding, n1, parseBudget({ allow: [{ callsite: 'shop/views.py', reason: 'r' }] }))).not.toBeNull()
    expect(allowFor(theFinding, n1, parseBudget({ allow: [{ callsite: 'shop/views.py:14', reason: 'r' }] }))).not.toBeNull()
    expect(allowFor(theFinding, n1, parseBudget({ allow: [{ callsite: 'shop/views.py:15', reason: 'r' }] }))).toBeNull()
    expect(allowFor(theFinding, n1, parseBudget({ allow: [{ callsite: 'shop/models.py', reason: 'r' }] }))).toBeNull()
  })

  it('match a call site by a trailing part of the path, by glob, or by an outer frame of the stack', () => {
    const place = { file: 'src/shop/legacy/export.py', line: 3 }
    expect(callsiteMatches('shop/legacy/export.py', place)).toBe(true)
    expect(callsiteMatches('export.py:3', place)).toBe(true)
    expect(callsiteMatches('shop/legacy/**', place)).toBe(true)
    expect(callsiteMatches('hop/legacy/export.py', place)).toBe(false)
    // A test module pytest imported from its own folder is named from there (`test_basic.py`); the repository path
    // a person writes (`tests/test_basic.py`, as in node ids) matches it.
    expect(callsiteMatches('tests/test_basic.py:7', { file: 'test_basic.py', line: 7 })).toBe(true)
    expect(callsiteMatches('tests/test_basic.py', { file: 'other/test_basic.py', line: 7 })).toBe(false)
    expect(allowFor(theFinding, n1, parseBudget({ allow: [{ callsite: 'shop/urls_helpers.py', reason: 'r' }] }))).not.toBeNull()
  })

  it('can be narrowed to a finding kind and to some units', () => {
    const byKind = parseBudget({ allow: [{ callsite: 'shop/views.py', kind: 'duplicate', reason: 'r' }] })
    expect(allowFor(theFinding, n1, byKind)).toBeNull()
    const byUnit = parseBudget({ allow: [{ callsite: 'shop/views.py', unit: 'tests/other.py::*', reason: 'r' }] })
    expect(allowFor(theFinding, n1, byUnit)).toBeNull()
    const byThisUnit = parseBudget({ allow: [{ callsite: 'shop/views.py', unit: 'tests/t.py::*', reason: 'r' }] })
    expect(allowFor(theFinding, n1, byThisUnit)).not.toBeNull()
  })

  it('match a finding raised in a template by the template name', () => {
    const inTemplate = finding('n_plus_one', { callsite: site('shop/views.py', 20), template: { name: 'shop/book_list.html', line: 12 } })
    expect(allowFor(inTemplate, n1, parseBudget({ allow: [{ callsite: 'shop/book_list.html:12', reason: 'r' }] }))).not.toBeNull()
  })

  it('match a finding raised in an included partial by where it was included, and only there', () => {
    const template = { name: 'shop/_row.html', line: 2, included_from: [{ name: 'shop/book_list.html', line: 12 }] }
    const inPartial = finding('n_plus_one', { callsite: site('shop/views.py', 20), template })
    expect(allowFor(inPartial, n1, parseBudget({ allow: [{ callsite: 'shop/book_list.html:12', reason: 'r' }] }))).not.toBeNull()
    expect(allowFor(inPartial, n1, parseBudget({ allow: [{ callsite: 'shop/book_list.html:14', reason: 'r' }] }))).toBeNull()
  })
})
