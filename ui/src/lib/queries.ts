/** Views of one unit's queries: grouping by fingerprint and linking queries to their findings. Pure. @module */
import type { AnalysedQuery, Finding, FindingKind } from '../../../server/src/protocol.js'

export interface FingerprintGroup {
  fingerprint: string
  /** The normalized SQL of the fingerprint (or the first query's SQL when the unit lacks it). */
  sql: string
  vendor: string
  count: number
  total_ms: number
  /** Indexes into the unit's queries, in execution order. */
  indexes: number[]
}

/** One group per fingerprint, the most expensive first (total time, then count, then first appearance). */
export function groupByFingerprint(queries: AnalysedQuery[], fingerprints: Record<string, string>): FingerprintGroup[] {
  const groups = new Map<string, FingerprintGroup>()
  queries.forEach((query, index) => {
    let group = groups.get(query.fingerprint)
    if (!group) {
      group = { fingerprint: query.fingerprint, sql: fingerprints[query.fingerprint] ?? query.sql, vendor: query.vendor, count: 0, total_ms: 0, indexes: [] }
      groups.set(query.fingerprint, group)
    }
    group.count += 1
    group.total_ms += query.duration_ms
    group.indexes.push(index)
  })
  return [...groups.values()].sort((a, b) => b.total_ms - a.total_ms || b.count - a.count || a.indexes[0] - b.indexes[0])
}

export interface QueryFindingLink {
  /** Index of the finding in the unit's `findings`. */
  finding: number
  kind: FindingKind
  severity: Finding['severity']
  /** `trigger`: the query that produced the keys of an N+1; `repeat`: one of the repeated queries. */
  role: 'repeat' | 'trigger'
}

/** For each query index, the findings it belongs to; queries without findings are absent. */
export function findingsByQuery(findings: Finding[]): Map<number, QueryFindingLink[]> {
  const links = new Map<number, QueryFindingLink[]>()
  const add = (index: number, link: QueryFindingLink) => {
    const list = links.get(index)
    if (list) list.push(link)
    else links.set(index, [link])
  }
  findings.forEach((f, finding) => {
    for (const index of f.query_indexes) add(index, { finding, kind: f.kind, severity: f.severity, role: 'repeat' })
    if (f.trigger_index !== null && !f.query_indexes.includes(f.trigger_index)) {
      add(f.trigger_index, { finding, kind: f.kind, severity: f.severity, role: 'trigger' })
    }
  })
  return links
}

/** A query row's badge: the links of one kind and role, shown once with their number (a book list that is the
 * trigger of two N+1s, one per foreign key, gets one "N+1 trigger ×2"), coloured by the worst of them; it opens that
 * one's finding (the first of them when all are alike). */
export interface QueryBadge extends QueryFindingLink {
  count: number
}

export function badgesOf(links: readonly QueryFindingLink[]): QueryBadge[] {
  const badges = new Map<string, QueryBadge>()
  for (const link of links) {
    const badge = badges.get(`${link.kind}\0${link.role}`)
    if (!badge) badges.set(`${link.kind}\0${link.role}`, { ...link, count: 1 })
    else {
      badge.count++
      if (link.severity === 'error' && badge.severity !== 'error') Object.assign(badge, { severity: 'error', finding: link.finding })
    }
  }
  return [...badges.values()]
}

const SEVERITY_RANK = { error: 0, warning: 1, info: 2 } as const
const KIND_RANK: Record<FindingKind, number> = { n_plus_one: 0, repeated_write: 1, duplicate: 2, slow_query: 3 }

/** Findings in reading order: errors first, then by kind (N+1 first), then by time wasted. Keeps original indexes. */
export function orderFindings(findings: Finding[]): { finding: Finding; index: number }[] {
  return findings
    .map((finding, index) => ({ finding, index }))
    .sort((a, b) =>
      SEVERITY_RANK[a.finding.severity] - SEVERITY_RANK[b.finding.severity] ||
      KIND_RANK[a.finding.kind] - KIND_RANK[b.finding.kind] ||
      b.finding.wasted_ms - a.finding.wasted_ms ||
      a.index - b.index)
}

const KIND_TITLES: Record<FindingKind, string> = {
  n_plus_one: 'N+1 queries',
  duplicate: 'Duplicate queries',
  repeated_write: 'Repeated writes',
  slow_query: 'Slow query',
}

const KIND_SHORT: Record<FindingKind, string> = { n_plus_one: 'N+1', duplicate: 'dup', repeated_write: 'writes', slow_query: 'slow' }

export function findingTitle(kind: FindingKind): string {
  return KIND_TITLES[kind]
}

export function findingShortLabel(kind: FindingKind): string {
  return KIND_SHORT[kind]
}

/** Time spent in the database by the unit's queries. */
export function totalDbTime(queries: AnalysedQuery[]): number {
  let total = 0
  for (const q of queries) total += q.duration_ms
  return total
}

/** The database vendor of a fingerprint within a unit (for the dialect of its SQL), defaulting to the first query's. */
export function vendorOf(queries: AnalysedQuery[], indexes: number[]): string {
  const index = indexes[0]
  return (index !== undefined && queries[index]?.vendor) || queries[0]?.vendor || 'ansi'
}
