import { describe, expect, it } from 'vitest'
import { AUTHOR_BY_ID, BOOKS, fp, nPlusOneUnit, REVIEWS_OF_BOOK, site, unit } from '../../../test/ci/units.js'
import { baselineOf } from './baseline.js'
import { parseBudget } from './budget.js'
import { checkUnits } from './check.js'
import { verdict } from './report-common.js'
import { textReport } from './report-text.js'

const clean = (name: string, n = 2) => unit({ name, queries: Array.from({ length: n }, () => ({ sql: BOOKS })) })

describe('checking units against a budget', () => {
  it('passes clean units with the built-in budget', () => {
    const result = checkUnits([clean('tests/t.py::test_a'), clean('tests/t.py::test_b')])
    expect(result).toMatchObject({ passed: true, violations: [], totals: { units: 2, runs: 2, queries: 4, failed: 0, passed: 2 } })
  })

  it('fails every N+1 by default, with its SQL, call site and fix', () => {
    const result = checkUnits([nPlusOneUnit({ name: 'tests/t.py::test_list', n: 4 })])
    expect(result.passed).toBe(false)
    expect(result.violations).toHaveLength(1)
    const [violation] = result.violations
    expect(violation).toMatchObject({ unit: 'tests/t.py::test_list', kind: 'n_plus_one', finding: { count: 4, fingerprint: fp(AUTHOR_BY_ID), occurrences: 1 } })
    expect(violation.message).toBe(`N+1: 4 queries ${AUTHOR_BY_ID} at shop/views.py:14 in book_list`)
    expect(result.units[0]).toMatchObject({ outcome: 'fail', queries: 5, findings: { n_plus_one: 1 } })
  })

  it('fails each template loop of one place as a violation of its own: two loops including one partial are two', () => {
    const partial = (line: number) => ({ kind: 'n_plus_one' as const, callsite: null, template: { name: 'shop/_author.html', line: 1, included_from: [{ name: 'shop/books.html', line }] } })
    const result = checkUnits([unit({ kind: 'request', name: 'GET /books/', route: 'books/', queries: [{ sql: BOOKS }], findings: [partial(3), partial(6)] })])
    expect(result.violations.map((violation) => violation.finding?.template?.included_from?.[0].line)).toEqual([3, 6])
  })

  it('fails a unit over max_queries and says which budget entry set the limit', () => {
    const budget = parseBudget({ defaults: { max_queries: 10 }, units: { 'tests/t.py::test_b': { max_queries: 1 } } })
    const result = checkUnits([clean('tests/t.py::test_a', 3), clean('tests/t.py::test_b', 3)], { budget })
    expect(result.violations).toEqual([
      expect.objectContaining({
        unit: 'tests/t.py::test_b',
        kind: 'max_queries',
        limit: 1,
        actual: 3,
        source: 'units["tests/t.py::test_b"]',
        message: '3 queries, over the budget of 1 (units["tests/t.py::test_b"])',
        top_queries: [`3× ${BOOKS} at shop/views.py:10`],
      }),
    ])
    // Each with the line that ran most of them, and how many others did: where the queries over the budget come from.
    const spread = unit({ name: 'tests/t.py::test_b', queries: [1, 2, 2, 3].map((n) => ({ sql: BOOKS, at: site('shop/views.py', 20 + n, 'books') })) })
    expect(checkUnits([spread], { budget }).violations[0].top_queries).toEqual([`4× ${BOOKS} at shop/views.py:22 and 2 other lines`])
  })

  it('reports warn-level findings as warnings and ignores allow-level ones', () => {
    const dup = unit({ name: 'tests/t.py::test_a', queries: [{ sql: BOOKS }, { sql: BOOKS }], findings: [{ kind: 'duplicate', sql: BOOKS, fingerprint: fp(BOOKS), count: 2 }] })
    const warned = checkUnits([dup])
    expect(warned.passed).toBe(true)
    expect(warned.notes).toEqual([expect.objectContaining({ kind: 'warning', unit: 'tests/t.py::test_a', finding: expect.objectContaining({ kind: 'duplicate' }) })])
    expect(warned.units[0].outcome).toBe('warn')
    const errored = checkUnits([dup], { budget: parseBudget({ defaults: { duplicate: 'error' } }) })
    expect(errored.violations.map((v) => v.kind)).toEqual(['duplicate'])
    const allowed = checkUnits([nPlusOneUnit()], { budget: parseBudget({ defaults: { n_plus_one: 'allow' } }) })
    expect(allowed).toMatchObject({ passed: true, notes: [] })
  })

  it('fails repeated writes and slow queries when the budget makes them errors', () => {
    const u = unit({ findings: [{ kind: 'repeated_write', sql: 'insert into "t" values (?)' }, { kind: 'slow_query', sql: 'select ? from t', count: 1, wasted_ms: 250 }] })
    const budget = parseBudget({ defaults: { repeated_write: 'error', slow_query: 'error' } })
    const result = checkUnits([u], { budget })
    expect(result.violations.map((v) => v.kind).sort()).toEqual(['repeated_write', 'slow_query'])
    expect(result.violations.find((v) => v.kind === 'slow_query')?.message).toMatch(/^slow query: 250 ms select \? from t/)
  })

  it('silences a finding covered by an allow entry, and shows it as allowed with its reason', () => {
    const budget = parseBudget({ allow: [{ callsite: 'shop/views.py:14', reason: 'five authors at most' }] })
    const result = checkUnits([nPlusOneUnit()], { budget })
    expect(result.passed).toBe(true)
    expect(result.notes).toEqual([expect.objectContaining({ kind: 'allowed', reason: 'five authors at most', message: expect.stringMatching(/allowed by allow\[0\]$/) })])
  })

  it('notes allow entries that matched nothing', () => {
    const budget = parseBudget({ allow: [{ fingerprint: '0123456789abcdef', reason: 'old' }] })
    expect(checkUnits([clean('a')], { budget }).notes).toEqual([
      expect.objectContaining({ kind: 'unused_allow', message: 'allow[0] (fingerprint 0123456789abcdef) matched no finding; remove it if the code was fixed' }),
    ])
    // An entry that matches, behind an earlier broader one that silenced the finding first, is not unused.
    const shadowed = parseBudget({ allow: [{ callsite: 'shop/**', reason: 'legacy shop' }, { callsite: 'shop/views.py:14', reason: 'five authors' }] })
    expect(checkUnits([nPlusOneUnit()], { budget: shadowed }).notes.map((n) => n.kind)).toEqual(['allowed'])
  })

  it('notes the units keys that matched no unit of the run, once for all, unless the command failed', () => {
    const books = unit({ kind: 'request', method: 'GET', route: '/books/{book_id}', name: 'GET /books/3', queries: [{ sql: BOOKS }] })
    const budget = parseBudget({ units: { 'GET books/{book_id}': { max_queries: 5 }, 'GET boks/*': { max_queries: 1 }, 'tests/t.py::*': { max_queries: 9 } } })
    const notes = checkUnits([books], { budget }).notes
    expect(notes).toEqual([expect.objectContaining({ kind: 'unused_units_key', unit: null })])
    expect(notes[0].message).toMatch(/^units keys "GET boks\/\*", "tests\/t\.py::\*" matched no unit of this run: not run, or misspelt/)
    expect(checkUnits([books], { budget, commandExit: 2 }).notes.filter((n) => n.kind === 'unused_units_key')).toEqual([])
  })

  it('lets the pytest marker relax or tighten its own test', () => {
    const relaxed = nPlusOneUnit({ name: 'tests/t.py::test_admin', meta: { querysight: { n_plus_one: 'allow', max_queries: 10 } } })
    const tightened = clean('tests/t.py::test_tight', 3)
    tightened.meta = { querysight: { max_queries: 2 } }
    const result = checkUnits([relaxed, tightened], { budget: parseBudget({ defaults: { max_queries: 1 } }) })
    expect(result.violations).toEqual([expect.objectContaining({ unit: 'tests/t.py::test_tight', kind: 'max_queries', source: 'marker', limit: 2 })])
  })

  it("holds a test's requests to its marker too, and names the test in their violations", () => {
    // The agent gives a request made with the test client the test's node id and marker.
    const made = (marker: Record<string, unknown>) =>
      nPlusOneUnit({ kind: 'request', method: 'GET', route: 'books/', name: 'GET /books/', meta: { test: 'tests/t.py::test_list', querysight: marker } })
    expect(checkUnits([made({ n_plus_one: 'allow' })]).passed).toBe(true)
    const tight = checkUnits([made({ max_queries: 2 })])
    expect(tight.violations.map((v) => [v.unit, v.kind, v.test ?? v.finding?.test])).toEqual([
      ['GET books/', 'max_queries', 'tests/t.py::test_list'],
      ['GET books/', 'n_plus_one', 'tests/t.py::test_list'],
    ])
    expect(textReport(tight)).toContain('in a request made by tests/t.py::test_list')
  })

  it('reports a broken marker as a violation and checks the test against the file', () => {
    const marked = clean('tests/t.py::test_a', 3)
    marked.meta = { querysight: { n_plus_one: 'never' } }
    const result = checkUnits([marked], { budget: parseBudget({ defaults: { max_queries: 2 } }) })
    expect(result.violations.map((v) => v.kind).sort()).toEqual(['marker', 'max_queries'])
    expect(result.violations.find((v) => v.kind === 'marker')?.message).toMatch(/n_plus_one in the @pytest\.mark\.querysight marker must be "error", "warn" or "allow", got "never"/)
  })

  it('counts the units that had a finding, not its copies, and reports a loop split by database once per database', () => {
    // The same lookup from one line alternately on "default" and "replica": two N+1 findings in one request.
    const split = nPlusOneUnit({ kind: 'request', method: 'GET', route: 'multi/', name: 'GET /multi/', n: 4 })
    split.queries.forEach((query, i) => (query.db = i % 2 ? 'default' : 'replica'))
    split.findings = [
      { ...split.findings[0], count: 2, query_indexes: [1, 3] },
      { ...split.findings[0], count: 2, query_indexes: [2, 4] },
    ]
    const result = checkUnits([split])
    const violations = result.violations.filter((v) => v.kind === 'n_plus_one')
    expect(violations.map((v) => v.finding?.occurrences)).toEqual([1, 1])
    expect(violations.map((v) => v.message)).toEqual([
      `N+1: 2 queries on database "default" ${AUTHOR_BY_ID} at shop/views.py:14 in book_list`,
      `N+1: 2 queries on database "replica" ${AUTHOR_BY_ID} at shop/views.py:14 in book_list`,
    ])
  })

  it('reports one N+1 seen in every request of a route once, with how many requests had it', () => {
    const requests = [3, 5, 4].map((n) => nPlusOneUnit({ kind: 'request', method: 'GET', route: 'books/', name: 'GET /books/', n }))
    const budget = parseBudget({ units: { 'GET books/': { max_queries: 4 } } })
    const result = checkUnits(requests, { budget })
    const nPlusOnes = result.violations.filter((v) => v.kind === 'n_plus_one')
    expect(nPlusOnes).toHaveLength(1)
    expect(nPlusOnes[0].finding).toMatchObject({ count: 5, occurrences: 3, unit_id: requests[1].id })
    // A name is one unit; its requests are runs, as the verdict counts them.
    expect(nPlusOnes[0].message).toContain(' in 3 runs')
    expect(result.violations.find((v) => v.kind === 'max_queries')?.message).toContain('(the most of its 3 runs)')
    expect(result.violations.find((v) => v.kind === 'max_queries')).toMatchObject({ actual: 6, limit: 4, unit_id: requests[1].id })
    expect(result.units).toEqual([expect.objectContaining({ name: 'GET books/', runs: 3, queries: 6 })])
    // The queries are those of all three runs: the line says so.
    expect(verdict(checkUnits(requests))).toMatch(/^FAILED: 1 violation in 1 of 1 unit$/)
    const passing = [clean('GET books/'), clean('GET books/'), clean('GET authors/')]
    expect(verdict(checkUnits(passing))).toBe('passed: 2 units (3 runs), 6 queries')
  })

  it('fails a run in which nothing was recorded, saying how to install the agent', () => {
    const result = checkUnits([])
    expect(result.passed).toBe(false)
    expect(result.violations[0]).toMatchObject({
      kind: 'no_units',
      unit: null,
      message: expect.stringContaining('pip install -e path/to/querysight/python-agent'),
    })
  })

  it('says first that the command failed, and does not blame the agent for a run it cut short', () => {
    const cutShort = checkUnits([], { commandExit: 4 })
    expect(cutShort.violations.map((v) => v.kind)).toEqual(['command_failed', 'no_units'])
    expect(cutShort.violations[0]).toMatchObject({
      exit_code: 4,
      message: 'the command exited 4 (see its output); the checks ran on the units it recorded before it ended',
    })
    expect(cutShort.violations[1].message).not.toContain('pip install')

    const clean = unit({ name: 'tests/t.py::test_a', queries: [{ sql: BOOKS }] })
    const failed = checkUnits([clean], { commandExit: 1 })
    expect(failed.passed).toBe(false)
    expect(failed.violations.map((v) => v.kind)).toEqual(['command_failed'])
    expect(verdict(failed)).toBe('FAILED: the command exited 1; 1 unit, 1 query')
    const alsoOverBudget = checkUnits([clean], { commandExit: 1, budget: parseBudget({ defaults: { max_queries: 0 } }) })
    expect(verdict(alsoOverBudget)).toBe('FAILED: the command exited 1; 1 violation in 1 of 1 unit')
    const killed = checkUnits([clean], { commandExit: 143, commandSignal: 'SIGTERM' })
    expect(killed.violations[0]).toMatchObject({ exit_code: 143, signal: 'SIGTERM' })
    expect(verdict(killed)).toBe('FAILED: the command was killed by SIGTERM (exit 143); 1 unit, 1 query')
    expect(checkUnits([clean], { commandExit: 0 }).passed).toBe(true)
    expect(checkUnits([clean]).passed).toBe(true) // check runs no command
  })
})

describe('checking units against a baseline', () => {
  const recorded = baselineOf([
    unit({ name: 'tests/t.py::test_a', queries: [{ sql: BOOKS }, { sql: AUTHOR_BY_ID }] }),
    unit({ name: 'tests/t.py::test_b', queries: [{ sql: BOOKS }, { sql: REVIEWS_OF_BOOK }, { sql: REVIEWS_OF_BOOK }] }),
    unit({ name: 'tests/t.py::test_gone', queries: [] }),
  ])

  it('fails a unit that gained a query, with a diff of what was added', () => {
    const grown = unit({ name: 'tests/t.py::test_a', queries: [{ sql: BOOKS }, { sql: AUTHOR_BY_ID }, { sql: REVIEWS_OF_BOOK }] })
    const result = checkUnits([grown, clean('tests/t.py::test_b', 0)], { baseline: recorded, baselineFile: 'qs.baseline.json' })
    expect(result.baseline).toBe('qs.baseline.json')
    expect(result.violations).toEqual([
      expect.objectContaining({
        unit: 'tests/t.py::test_a',
        kind: 'baseline',
        limit: 2,
        actual: 3,
        message: "3 queries, 1 more than the baseline's 2",
        diff: [`+ 1× ${REVIEWS_OF_BOOK}`],
      }),
    ])
    expect(result.units.find((u) => u.name === 'tests/t.py::test_a')?.outcome).toBe('fail')
  })

  it('lists units that improved, appeared or did not run, without failing', () => {
    const improved = unit({ name: 'tests/t.py::test_b', queries: [{ sql: BOOKS }] })
    const result = checkUnits([unit({ name: 'tests/t.py::test_a', queries: [{ sql: BOOKS }, { sql: AUTHOR_BY_ID }] }), improved, clean('tests/t.py::test_new')], {
      baseline: recorded,
    })
    expect(result.passed).toBe(true)
    expect(result.notes).toEqual([
      expect.objectContaining({ kind: 'improved', unit: 'tests/t.py::test_b', message: "1 query, 2 fewer than the baseline's 3", diff: [`- 2× ${REVIEWS_OF_BOOK}`] }),
      expect.objectContaining({ kind: 'new', message: '1 unit is not in the baseline (record with --update-baseline): tests/t.py::test_new' }),
      expect.objectContaining({ kind: 'missing', message: '1 unit of the baseline did not run: tests/t.py::test_gone' }),
    ])
  })

  it('does not call a unit that stopped short (it raised, or answered 500) improved for its fewer queries', () => {
    // A request that crashed on its first query was "1 query, 2 fewer than the baseline's 3": improved (a probe).
    const crashed = unit({ name: 'tests/t.py::test_b', queries: [{ sql: BOOKS }], meta: { error: 'MissingGreenlet: greenlet_spawn has not been called' } })
    const answered = unit({ kind: 'request', name: 'GET /books/', route: 'books/', status: 500, queries: [{ sql: BOOKS }] })
    const before = baselineOf([clean('tests/t.py::test_b', 3), unit({ kind: 'request', name: 'GET /books/', route: 'books/', queries: [{ sql: BOOKS }, { sql: BOOKS }] })])
    const result = checkUnits([crashed, answered], { baseline: before })
    expect(result.passed).toBe(true)
    expect(result.notes.filter((n) => n.unit !== null)).toEqual([
      expect.objectContaining({ kind: 'changed', unit: 'books/', message: "1 query, 1 fewer than the baseline's 2, but it answered 500: it stopped short" }),
      expect.objectContaining({
        kind: 'changed',
        unit: 'tests/t.py::test_b',
        message: "1 query, 2 fewer than the baseline's 3, but it raised MissingGreenlet: greenlet_spawn has not been called: it stopped short",
      }),
    ])
    // Another run of the route answered 200 with as many queries: its count is the route's, an improvement.
    const answeredToo = unit({ kind: 'request', name: 'GET /books/', route: 'books/', queries: [{ sql: BOOKS }] })
    const notes = checkUnits([answered, answeredToo], { baseline: before }).notes.filter((n) => n.unit === 'books/')
    expect(notes).toEqual([expect.objectContaining({ kind: 'improved', message: "1 query, 1 fewer than the baseline's 2" })])
  })

  it('fails a unit that gained an N+1 even with no more queries, unless the N+1 is allowed', () => {
    const swapped = unit({
      name: 'tests/t.py::test_b',
      queries: [{ sql: BOOKS }, { sql: AUTHOR_BY_ID }, { sql: AUTHOR_BY_ID }],
      findings: [{ kind: 'n_plus_one', count: 2 }],
    })
    const budget = parseBudget({ defaults: { n_plus_one: 'warn' } })
    const result = checkUnits([swapped], { baseline: recorded, budget })
    expect(result.violations).toEqual([expect.objectContaining({ kind: 'baseline', message: `a new N+1: ${AUTHOR_BY_ID}` })])
    const allowing = parseBudget({ defaults: { n_plus_one: 'warn' }, allow: [{ fingerprint: fp(AUTHOR_BY_ID), reason: 'r' }] })
    expect(checkUnits([swapped], { baseline: recorded, budget: allowing }).passed).toBe(true)
  })

  it('fails a unit the baseline has not got for its N+1s: each is new (a new test, a renamed one, a new route)', () => {
    const fresh = unit({
      name: 'tests/t.py::test_brand_new',
      queries: [{ sql: BOOKS }, { sql: AUTHOR_BY_ID }, { sql: AUTHOR_BY_ID }],
      findings: [{ kind: 'n_plus_one', count: 2 }],
    })
    const adopting = parseBudget({ defaults: { n_plus_one: 'warn' } })
    const result = checkUnits([fresh], { baseline: recorded, budget: adopting })
    expect(result.passed).toBe(false)
    expect(result.violations).toEqual([
      expect.objectContaining({ unit: 'tests/t.py::test_brand_new', kind: 'baseline', message: `not in the baseline; a new N+1: ${AUTHOR_BY_ID}` }),
    ])
    expect(result.notes.map((n) => n.kind)).not.toContain('new')
    // Failed by the budget already (N+1s fail by default): not a second time.
    expect(checkUnits([fresh], { baseline: recorded }).violations.map((v) => v.kind)).toEqual(['n_plus_one'])
    const allowing = parseBudget({ defaults: { n_plus_one: 'warn' }, allow: [{ fingerprint: fp(AUTHOR_BY_ID), reason: 'r' }] })
    expect(checkUnits([fresh], { baseline: recorded, budget: allowing }).passed).toBe(true)
  })

  it("counts no ContentType lookup by app label and model: Django answers each once per process, whichever test asks first", () => {
    const contentType =
      'SELECT "django_content_type"."id", "django_content_type"."app_label", "django_content_type"."model" FROM "django_content_type" WHERE ("django_content_type"."app_label" = %s AND "django_content_type"."model" = %s) LIMIT 21'
    const alone = unit({ name: 'tests/t.py::test_a', queries: [{ sql: BOOKS }, { sql: contentType }, { sql: AUTHOR_BY_ID }] })
    const result = checkUnits([alone], { baseline: recorded, budget: parseBudget({ defaults: { max_queries: 2 } }) })
    expect(result.violations).toEqual([])
    expect(result.notes).toEqual([expect.objectContaining({ kind: 'missing' })])
    expect(baselineOf([alone]).units['tests/t.py::test_a']).toEqual(recorded.units['tests/t.py::test_a'])
  })

  it("counts no query of a test that no frame of the app made (the test framework's: a TransactionTestCase's flush)", () => {
    const flush = [
      'DELETE FROM "shop_review"',
      'DELETE FROM "shop_book"',
      'SELECT "django_content_type"."id" FROM "django_content_type" WHERE "django_content_type"."app_label" = %s',
    ].map((sql) => ({ sql, at: null }))
    const transactional = unit({ name: 'tests/t.py::test_a', queries: [{ sql: BOOKS }, { sql: AUTHOR_BY_ID }, ...flush] })
    const budget = parseBudget({ defaults: { max_queries: 2 } })
    expect(checkUnits([transactional], { baseline: recorded, budget })).toMatchObject({ passed: true, violations: [], totals: { queries: 2 } })
    expect(baselineOf([transactional]).units['tests/t.py::test_a']).toEqual(recorded.units['tests/t.py::test_a'])
    // The app's own queries still count: one more than the budget fails, and the top queries are the app's.
    const grown = unit({ name: 'tests/t.py::test_a', queries: [{ sql: BOOKS }, { sql: AUTHOR_BY_ID }, { sql: AUTHOR_BY_ID }, ...flush] })
    expect(checkUnits([grown], { budget }).violations).toEqual([
      expect.objectContaining({ kind: 'max_queries', actual: 3, top_queries: [`2× ${AUTHOR_BY_ID} at shop/views.py:10`, `1× ${BOOKS} at shop/views.py:10`] }),
    ])
    // A request's queries with no frame of the app (a library's view, middleware) are the request's: counted.
    const request = unit({ kind: 'request', name: 'GET /books/', route: 'books/', queries: [{ sql: BOOKS }, ...flush] })
    expect(checkUnits([request], { budget }).violations.map((v) => [v.kind, v.actual])).toEqual([['max_queries', 4]])
  })

  it('notes a unit that ran as many queries as before but different ones', () => {
    const changed = unit({ name: 'tests/t.py::test_a', queries: [{ sql: BOOKS }, { sql: REVIEWS_OF_BOOK }] })
    const result = checkUnits([changed], { baseline: recorded })
    expect(result.notes[0]).toMatchObject({ kind: 'changed', diff: [`+ 1× ${REVIEWS_OF_BOOK}`, `- 1× ${AUTHOR_BY_ID}`] })
  })
})

