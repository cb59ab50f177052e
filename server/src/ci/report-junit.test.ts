import { describe, expect, it } from 'vitest'
import { eventfulResult } from '../../../test/ci/results.js'
import { unit } from '../../../test/ci/units.js'
import { findAll, parseXml } from '../../../test/ci/xml.js'
import { checkUnits } from './check.js'
import { junitReport } from './report-junit.js'

describe('the JUnit report', () => {
  it('is well-formed XML with one testcase per unit and one failure per violation', () => {
    const root = parseXml(junitReport(eventfulResult()))
    expect(root.name).toBe('testsuites')
    expect(root.attrs).toMatchObject({ tests: '3', failures: '2', errors: '0' })
    const cases = findAll(root, 'testcase')
    expect(cases.map((c) => c.attrs.name)).toEqual(['GET books/', 'tests/test_books.py::test_cheap', 'tests/test_books.py::test_detail[<b>&"1"]'])
    expect(cases.map((c) => c.attrs.classname)).toEqual(['querysight.request', 'querysight.test', 'querysight.test'])
    const failures = findAll(cases[0], 'failure')
    expect(failures.map((f) => f.attrs.type)).toEqual(['max_queries', 'n_plus_one'])
    expect(failures[1].attrs.message).toMatch(/^N\+1: 4 queries select "shop_author"/)
    expect(failures[1].text).toContain('fix: Add .select_related("author") to the queryset iterated at shop/views.py:12')
    expect(findAll(cases[1], 'failure')).toEqual([])
  })

  it('carries warnings, allowed findings and run notes in system-out, escaped', () => {
    const root = parseXml(junitReport(eventfulResult()))
    const detail = findAll(root, 'testcase')[2]
    expect(findAll(detail, 'system-out')[0].text).toContain('reason: reviews are paged <10> & cached')
    expect(root.children[0].children.at(-1)).toMatchObject({ name: 'system-out', text: expect.stringContaining('not in the baseline') })
  })

  it('replaces characters XML cannot hold and escapes quotes and newlines in attributes', () => {
    const nasty = 'tests/t.py::test_x[\u0001\'a\'\n"b"]\uD800'
    const xml = junitReport(checkUnits([unit({ name: nasty, meta: { querysight: { max_queries: 0 } }, queries: [{ sql: 'select 1' }] })]))
    const [testcase] = findAll(parseXml(xml), 'testcase')
    expect(testcase.attrs.name).toBe('tests/t.py::test_x[\uFFFD\'a\'\n"b"]\uFFFD')
    expect(findAll(testcase, 'failure')[0].attrs.message).toBe('too many queries: 1 query, over the budget of 0 (marker)')
  })

  it('reports a run that recorded nothing as a failing testcase of its own', () => {
    const root = parseXml(junitReport(checkUnits([])))
    expect(root.attrs).toMatchObject({ tests: '1', failures: '1' })
    expect(findAll(root, 'failure')[0].attrs).toMatchObject({ type: 'no_units' })
  })

  it("puts the failed command's testcase before the units' when the command failed", () => {
    const clean = unit({ name: 'tests/t.py::test_a', queries: [{ sql: 'select 1' }] })
    const root = parseXml(junitReport(checkUnits([clean], { commandExit: 143, commandSignal: 'SIGTERM' })))
    const cases = findAll(root, 'testcase')
    expect(cases.map((c) => c.attrs.name)).toEqual(['querysight run', 'tests/t.py::test_a'])
    expect(findAll(cases[0], 'failure')[0].attrs).toMatchObject({ type: 'command_failed', message: expect.stringContaining('killed by SIGTERM (exit 143)') })
  })

  it('is refused by the parser when it is not well-formed', () => {
    expect(() => parseXml('<a><b></a></b>')).toThrow(/closes/)
    expect(() => parseXml('<a>x & y</a>')).toThrow(/entity/)
    expect(() => parseXml('<a t="<"/>')).toThrow(/raw </)
    expect(() => parseXml('<a x="1" x="2"/>')).toThrow(/repeated attribute/)
    expect(() => parseXml('<a>\u0001</a>')).toThrow(/not allowed/)
    expect(() => parseXml('<a></a><b/>')).toThrow(/after the root/)
  })
})
