/**
 * Duplicates (DESIGN.md §6): the same SQL text with the same parameters on the same database at least twice in one
 * unit. `wasted_ms` is the time of every copy but the first.
 *
 * Copies that all belong to one N+1 or repeated-write finding are not reported again: that finding's fix removes
 * them too. Copies spread over places outside such a finding are reported, all of them. Without captured
 * parameters, only SQL without placeholders can be known to repeat.
 * @module
 */
import type { Finding } from '../protocol.js'
import { groupBy, wastedMs, type DetectContext } from './detect-context.js'
import type { QueryFacts } from './query-facts.js'
import { suggestDuplicate } from './suggest.js'

export function detectDuplicates(all: QueryFacts[], ctx: DetectContext, covered: readonly (readonly number[])[] = []): Finding[] {
  const owner = new Map<number, number>()
  covered.forEach((indexes, n) => indexes.forEach((index) => owner.set(index, n)))
  const comparable = all.filter((f) => !f.shape.control && (f.query.params !== null || !f.hasParams))
  const groups = groupBy(comparable, (f) => `${f.query.db}\0${f.query.many}\0${f.sqlId}\0${f.paramsKey}`)
  const findings: Finding[] = []
  for (const copies of groups.values()) {
    if (copies.length < 2) continue
    const inside = owner.get(copies[0].index)
    if (inside !== undefined && copies.every((c) => owner.get(c.index) === inside)) continue
    const repeat = copies[1]
    findings.push({
      kind: 'duplicate',
      severity: 'warning',
      fingerprint: repeat.fingerprint,
      sql: repeat.normalized,
      count: copies.length,
      wasted_ms: wastedMs(copies),
      query_indexes: copies.map((c) => c.index),
      callsite: repeat.query.callsite ?? null,
      template: repeat.query.template ?? null,
      trigger_index: null,
      suggestion: suggestDuplicate(copies, ctx.orm),
    })
  }
  return findings
}
