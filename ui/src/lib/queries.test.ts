import { describe, expect, it } from 'vitest'
import type { AnalysedQuery, Finding } from '../../../server/src/protocol.js'
import { badgesOf, findingsByQuery, groupByFingerprint, orderFindings, totalDbTime } from './queries.js'

function q(fingerprint: string, duration_ms: number, sql = `SELECT ${fingerprint}`): AnalysedQuery {
  return { sql, params: [], db: 'default', vendor: 'sqlite', start_ms: 0, duration_ms, many: false, error: null, callsite: null, stack: [], fingerprint }
}

function finding(over: Partial<Finding>): Finding {
  return {
    kind: 'n_plus_one', severity: 'warning', fingerprint: 'f', sql: 'select ?', count: 2, wasted_ms: 1, query_indexes: [],
    callsite: null, template: null, trigger_index: null, suggestion: { text: 'fix', code: null }, ...over,
  }
}

describe('groupByFingerprint', () => {
  it('counts queries and sums time per fingerprint, the most expensive first', () => {
    const queries = [q('a', 1), q('b', 5), q('a', 2), q('c', 0.5), q('a', 3)]
    const groups = groupByFingerprint(queries, { a: 'select a', b: 'select b' })
    expect(groups.map((g) => [g.fingerprint, g.count, g.total_ms, g.indexes])).toEqual([
      ['a', 3, 6, [0, 2, 4]],
      ['b', 1, 5, [1]],
      ['c', 1, 0.5, [3]],
    ])
    expect(groups[0].sql).toBe('select a')
    expect(groups[2].sql).toBe('SELECT c')
  })
  it('returns no groups for a unit without queries', () => {
    expect(groupByFingerprint([], {})).toEqual([])
  })
})

describe('findingsByQuery', () => {
  it('links each repeated query and the trigger of an N+1 to its finding', () => {
    const links = findingsByQuery([
      finding({ query_indexes: [1, 2, 3], trigger_index: 0, severity: 'error' }),
      finding({ kind: 'duplicate', query_indexes: [3, 5] }),
    ])
    expect(links.get(0)).toEqual([{ finding: 0, kind: 'n_plus_one', severity: 'error', role: 'trigger' }])
    expect(links.get(3)?.map((l) => l.kind)).toEqual(['n_plus_one', 'duplicate'])
    expect(links.has(4)).toBe(false)
  })
})

describe('badgesOf', () => {
  it('shows the links of one kind and role once, with their number, opening the worst of their findings', () => {
    const links = findingsByQuery([
      finding({ query_indexes: [1, 2], trigger_index: 0 }),
      finding({ query_indexes: [3, 4], trigger_index: 0, severity: 'error' }),
      finding({ kind: 'duplicate', query_indexes: [0, 5] }),
    ])
    expect(badgesOf(links.get(0)!)).toEqual([
      { finding: 1, kind: 'n_plus_one', severity: 'error', role: 'trigger', count: 2 },
      { finding: 2, kind: 'duplicate', severity: 'warning', role: 'repeat', count: 1 },
    ])
  })
})

describe('orderFindings', () => {
  it('puts errors first, then N+1 before duplicates, then the most time wasted', () => {
    const ordered = orderFindings([
      finding({ kind: 'duplicate', wasted_ms: 50 }),
      finding({ kind: 'n_plus_one', wasted_ms: 1 }),
      finding({ kind: 'n_plus_one', wasted_ms: 9 }),
      finding({ kind: 'slow_query', severity: 'error' }),
    ])
    expect(ordered.map((o) => o.index)).toEqual([3, 2, 1, 0])
  })
})

it('sums the database time of a unit', () => {
  expect(totalDbTime([q('a', 1.5), q('b', 2.25)])).toBe(3.75)
})
