/**
 * Repeated writes (DESIGN.md §6): at least `minRepeats` INSERT/UPDATE/DELETE statements with the same fingerprint,
 * the same application stack and the same database in one unit. Never an N+1. Writes that are batches already (an
 * `executemany`, a multi-row VALUES, an UPDATE/DELETE of an IN list of several keys, arrays of rows, as `bulk_create`
 * and `bulk_update` send them in batches) are not repeated writes.
 * @module
 */
import type { Finding } from '../protocol.js'
import { djangoBookkeeping, groupBy, harnessQuery, repeatedGroupFinding, type DetectContext } from './detect-context.js'
import type { QueryFacts } from './query-facts.js'
import { suggestWrites } from './suggest.js'

const isWrite = (f: QueryFacts): boolean =>
  (f.shape.kind === 'insert' || f.shape.kind === 'update' || f.shape.kind === 'delete') && !f.shape.control && !djangoBookkeeping(f)

/** A write of several rows at once: executemany, multi-row VALUES, an IN list of several keys, or rows sent as arrays
 * (PostgreSQL's `bulk_create`: `INSERT ... SELECT * FROM UNNEST(%s::integer[], ...)`; `WHERE id = ANY(%s)`) with
 * several values. (An array that is one row's value, an ArrayField, is no batch.) */
const isBatch = (f: QueryFacts): boolean =>
  f.query.many ||
  f.shape.multiRowValues ||
  f.shape.slots.some((s) => s.role === 'in' && s.values.length > 1) ||
  (ROWS_AS_ARRAYS.test(f.normalized) && Array.isArray(f.query.params) && f.query.params.some((value) => Array.isArray(value) && value.length > 1))

const ROWS_AS_ARRAYS = /\bunnest\s*\(|=\s*any\s*\(/i

export function detectRepeatedWrites(all: QueryFacts[], ctx: DetectContext): Finding[] {
  // A write that raised wrote nothing: a retry loop whose INSERTs failed on a unique key until one passed is no batch.
  const written = all.filter((f) => isWrite(f) && f.query.error === null && !harnessQuery(f, ctx))
  const groups = groupBy(written, (f) => `${f.query.db}\0${f.fingerprint}\0${f.stackKey}`)
  const findings: Finding[] = []
  for (const group of groups.values()) {
    if (group.length < ctx.options.minRepeats || group.some(isBatch)) continue
    findings.push(repeatedGroupFinding('repeated_write', group, ctx, { triggerIndex: null, suggestion: suggestWrites(group, ctx) }))
  }
  return findings
}
