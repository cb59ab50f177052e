/** What every reporter says the same way: the verdict line and the details of a violation or a note. @module */
import type { CheckResult, Note, Outcome, ReportedFinding, Violation } from './check.js'
import { callsiteText, commandEnd, findingTitle } from './check.js'

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`

/** `FAILED: 3 violations in 2 of 14 units, 1 warning`, `passed: 14 units, 212 queries, 1 warning`, or, when the command
 * itself failed, `FAILED: the command exited 3; 14 units, 212 queries` (then the violations of its units, if any). A
 * unit is a name (a test, a route); when some ran more than once the runs are said too, since the queries are all
 * theirs: `14 units (20 runs), 260 queries`. */
export function verdict(result: CheckResult): string {
  const { totals } = result
  const counted = `${plural(totals.units, 'unit')}${totals.runs > totals.units ? ` (${totals.runs} runs)` : ''}, ${plural(totals.queries, 'query', 'queries')}`
  const warnings = totals.warnings ? `, ${plural(totals.warnings, 'warning')}` : ''
  const command = result.violations.find((v) => v.kind === 'command_failed')
  if (command) {
    const others = totals.violations - 1 - (totals.units === 0 ? 1 : 0) // the command's, and "nothing recorded"
    const checked = others > 0 ? `${plural(others, 'violation')} in ${totals.failed} of ${plural(totals.units, 'unit')}` : counted
    return `FAILED: the command ${commandEnd(command.exit_code, command.signal)}; ${checked}${warnings}`
  }
  if (!result.passed) {
    const where = totals.units ? ` in ${totals.failed} of ${plural(totals.units, 'unit')}` : ''
    return `FAILED: ${plural(totals.violations, 'violation')}${where}${warnings}`
  }
  return `passed: ${counted}${warnings}`
}

export const OUTCOME_LABELS: Record<Outcome, string> = { fail: 'FAIL', warn: 'WARN', pass: 'ok' }

const VIOLATION_TITLES: Record<Violation['kind'], string> = {
  max_queries: 'too many queries',
  n_plus_one: 'N+1',
  duplicate: 'duplicate queries',
  repeated_write: 'repeated writes',
  slow_query: 'slow query',
  baseline: 'more queries than the baseline',
  marker: 'invalid pytest marker',
  no_units: 'nothing recorded',
  command_failed: 'the command failed',
}

export const violationTitle = (violation: Violation): string => VIOLATION_TITLES[violation.kind]

/** One line for a violation: a finding's own line already starts with its kind, the others get their title first. */
export const violationHeadline = (violation: Violation): string =>
  violation.finding ? violation.message : `${violationTitle(violation)}: ${violation.message}`

/** A finding's details, one item per line: what ran, where, the fix. */
export interface FindingDetails {
  summary: string
  sql: string
  where: string | null
  fix: string | null
  code: string | null
  fingerprint: string
}

export function findingDetails(finding: ReportedFinding): FindingDetails {
  const times = finding.occurrences > 1 ? `, in ${finding.occurrences} runs` : ''
  const wasted = finding.wasted_ms >= 0.05 ? `, ${formatMs(finding.wasted_ms)} ${finding.kind === 'slow_query' ? 'spent' : 'wasted'}` : ''
  const count = finding.kind === 'slow_query' ? '1 query' : `${finding.count} queries`
  return {
    summary: `${findingTitle(finding.kind)}: ${count}${wasted}${times}`,
    sql: finding.sql,
    where: callsiteText(finding),
    fix: finding.suggestion?.text || null,
    code: finding.suggestion?.code || null,
    fingerprint: finding.fingerprint,
  }
}

export function formatMs(ms: number): string {
  return ms >= 100 ? `${Math.round(ms)} ms` : `${Number(ms.toFixed(ms >= 10 ? 1 : 2))} ms`
}

/** The plain-text lines under a violation's title (also the body of a JUnit failure). */
export function violationLines(violation: Violation): string[] {
  if (violation.finding) return findingLines(violation.finding)
  const lines = [violation.message]
  if (violation.test) lines.push(`in a request made by ${violation.test}`)
  if (violation.top_queries?.length) lines.push('most run:', ...violation.top_queries.map((line) => `  ${line}`))
  if (violation.diff?.length) lines.push(...violation.diff)
  return lines
}

export function noteLines(note: Note): string[] {
  const lines = note.finding ? findingLines(note.finding) : [note.message]
  if (note.reason) lines.push(`reason: ${note.reason}`)
  if (note.diff?.length) lines.push(...note.diff)
  return lines
}

function findingLines(finding: ReportedFinding): string[] {
  const details = findingDetails(finding)
  const lines = [details.summary, `sql: ${details.sql}`]
  if (details.where) lines.push(`at ${details.where}`)
  if (finding.test) lines.push(`in a request made by ${finding.test}`)
  if (details.fix) lines.push(`fix: ${details.fix}`)
  if (details.code) lines.push(...details.code.split('\n').map((line) => `     ${line}`))
  lines.push(`fingerprint: ${details.fingerprint}`)
  return lines
}
