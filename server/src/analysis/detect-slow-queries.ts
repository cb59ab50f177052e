/**
 * Slow queries (DESIGN.md §6): one finding per query that took longer than `slowMs` (default 100 ms).
 * `wasted_ms` is the query's whole time. Transaction control and connection setup are never findings.
 * @module
 */
import type { Finding } from '../protocol.js'
import { roundMs, type DetectContext } from './detect-context.js'
import type { QueryFacts } from './query-facts.js'
import { suggestSlow } from './suggest.js'

export function detectSlowQueries(all: QueryFacts[], ctx: DetectContext): Finding[] {
  return all
    .filter((f) => !f.shape.control && f.query.duration_ms > ctx.options.slowMs)
    .map((f) => ({
      kind: 'slow_query',
      severity: 'warning',
      fingerprint: f.fingerprint,
      sql: f.normalized,
      count: 1,
      wasted_ms: roundMs(f.query.duration_ms),
      query_indexes: [f.index],
      callsite: f.query.callsite ?? null,
      template: f.query.template ?? null,
      trigger_index: null,
      suggestion: suggestSlow(f, ctx.options.slowMs, ctx.orm),
    }))
}
