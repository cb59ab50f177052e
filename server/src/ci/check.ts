/**
 * The check: analysed units + a budget + an optional baseline → violations (which fail the run) and notes (which
 * are reported). Pure: no I/O, no clock.
 *
 * Units are grouped by their name (`unitKey`: `METHOD route` for requests, the node id for tests). Each unit is held
 * to its own limits; within a name, one finding seen in several units (the same N+1 in every request of a route) is
 * reported once, with its largest count and how many units had it.
 * @module
 */
import type { Finding, FindingKind, Unit, UnitKind } from '../protocol.js'
import { FINDING_KINDS, templateText } from '../protocol.js'
import type { AllowEntry, Budget, Level, ResolvedLimits } from './budget.js'
import { allowsFor, emptyBudget, limitsFor, MarkerError, matchNames, ruleMatches, unitKey } from './budget.js'
import type { Baseline } from './baseline.js'
import { baselineOf, compareBaselines, compareStrings, countedQueries, diffLines, oneLine, queryCount } from './baseline.js'

export { queryCount }

export type ViolationKind = 'max_queries' | FindingKind | 'baseline' | 'marker' | 'no_units' | 'command_failed'
export type NoteKind = 'warning' | 'allowed' | 'improved' | 'changed' | 'new' | 'missing' | 'unused_allow' | 'unused_units_key'

/** A finding as the check reports it: the worst copy seen under one name, and how many units had it. */
export interface ReportedFinding extends Finding {
  unit_id: string
  occurrences: number
  /** The database its queries ran on, when its unit used several (one line reading from two is two findings). */
  db?: string
  /** The test that made the request it ran in (with Django's test client), when a test did. */
  test?: string
}

export interface Violation {
  /** The unit name, or null for a failure of the whole run (`no_units`, `command_failed`). */
  unit: string | null
  unit_kind: UnitKind | null
  unit_id: string | null
  kind: ViolationKind
  /** One line a person reads: `N+1: 12 queries select … at shop/views.py:14`. */
  message: string
  finding?: ReportedFinding
  /** For `max_queries` and `baseline`: the allowed and the actual query counts. */
  limit?: number
  actual?: number
  /** Where the limit came from: `defaults`, `units["GET books/"]`, `marker`, `built-in`, `baseline`. */
  source?: string
  /** For `command_failed`: the command's exit code (128 + the signal's number when a signal ended it). */
  exit_code?: number
  /** For `command_failed`: the signal that ended the command (`SIGTERM`), when one did. */
  signal?: string
  /** For `baseline`: snapshot-diff lines, `+ 2× select …`. */
  diff?: string[]
  /** For `max_queries`: what the unit ran most, `12× select …`, the most repeated first (at most 5). */
  top_queries?: string[]
  /** For `max_queries`: the test that made the request (with Django's test client), when a test did. */
  test?: string
}

export interface Note {
  unit: string | null
  kind: NoteKind
  message: string
  finding?: ReportedFinding
  diff?: string[]
  /** For `allowed` and `unused_allow`: the allow entry's reason. */
  reason?: string
}

export type Outcome = 'pass' | 'warn' | 'fail'

export interface UnitResult {
  name: string
  kind: UnitKind
  /** How many units had this name (a route requested several times). */
  runs: number
  /** The highest query count of its units. */
  queries: number
  max_queries: number | null
  findings: Record<FindingKind, number>
  outcome: Outcome
}

export interface CheckResult {
  passed: boolean
  budget: string | null
  baseline: string | null
  units: UnitResult[]
  violations: Violation[]
  notes: Note[]
  totals: { units: number; runs: number; queries: number; failed: number; warned: number; passed: number; violations: number; warnings: number }
}

export interface CheckOptions {
  budget?: Budget
  baseline?: Baseline | null
  /** Where the baseline came from, for the report. */
  baselineFile?: string | null
  /** The exit code of the command `querysight ci` ran (null for `querysight check`, which runs none). */
  commandExit?: number | null
  /** The signal that ended the command, when one did (its exit code is then 128 + the signal's number). */
  commandSignal?: string | null
  /** The command ran with QUERYSIGHT_ENABLED off (0, false, no, off): what to say when nothing was recorded. */
  agentOff?: boolean
  /** The NDJSON files `querysight check` read (none for `ci`): what to say when they held no unit. */
  files?: string[]
}

/** `exited 3`, or `was killed by SIGTERM (exit 143)`: how the command ended, for the reports. */
export const commandEnd = (exit: number | undefined, signal: string | null | undefined): string =>
  signal ? `was killed by ${signal} (exit ${exit})` : `exited ${exit}`

const FINDING_TITLES: Record<FindingKind, string> = {
  n_plus_one: 'N+1',
  duplicate: 'duplicate queries',
  repeated_write: 'repeated writes',
  slow_query: 'slow query',
}
export const findingTitle = (kind: FindingKind): string => FINDING_TITLES[kind]

/** `1 query`, `3 queries`. */
export const queriesText = (n: number): string => `${n} ${n === 1 ? 'query' : 'queries'}`

export const callsiteText = (finding: Pick<Finding, 'callsite' | 'template'>): string | null => {
  const parts: string[] = []
  if (finding.callsite) parts.push(`${finding.callsite.file}:${finding.callsite.line}${finding.callsite.function ? ` in ${finding.callsite.function}` : ''}`)
  if (finding.template) parts.push(`template ${templateText(finding.template)}`)
  return parts.length ? parts.join(', ') : null
}

export function checkUnits(
  units: readonly Unit[],
  { budget = emptyBudget(), baseline = null, baselineFile = null, commandExit = null, commandSignal = null, agentOff = false, files = [] }: CheckOptions = {},
): CheckResult {
  const violations: Violation[] = []
  const notes: Note[] = []
  const usedAllows = new Set<AllowEntry>()
  /** Per unit name: N+1 fingerprints that may appear without failing the baseline (allowed, or level "allow"). */
  const acceptedNPlusOne = new Map<string, Set<string>>()
  const results: UnitResult[] = []

  for (const [name, group] of groupByName(units)) {
    const kind = group[0].kind
    const groupViolations: Violation[] = []
    const groupNotes: Note[] = []
    const accepted = new Set<string>()
    acceptedNPlusOne.set(name, accepted)
    // `units`: the ids of the units (runs) it was found in. One may hold it twice (one loop split by database).
    const reported = new Map<string, { finding: ReportedFinding; level: Level | 'allowed'; allow: AllowEntry | null; units: Set<string> }>()
    let worst: { unit: Unit; count: number; limits: ResolvedLimits } | null = null
    let shownLimit: number | null | undefined

    for (const unit of group) {
      const limits = resolveLimits(unit, budget, groupViolations, name)
      const severalDatabases = new Set(unit.queries.map((query) => query.db)).size > 1
      const count = queryCount(unit)
      if (shownLimit === undefined) shownLimit = limits.max_queries
      if (limits.max_queries !== null && count > limits.max_queries && (!worst || count - limits.max_queries > worst.count - (worst.limits.max_queries ?? 0))) {
        worst = { unit, count, limits }
      }
      for (const finding of unit.findings) {
        const allows = allowsFor(finding, unit, budget)
        const allow = allows[0] ?? null
        const level: Level | 'allowed' = allow ? 'allowed' : limits[finding.kind]
        for (const entry of allows) usedAllows.add(entry)
        if (finding.kind === 'n_plus_one' && (allow || level === 'allow')) accepted.add(finding.fingerprint)
        if (level === 'allow') continue
        // The database too: one line reading from two aliases is two loops to fix, each said apart.
        const db = unit.queries[finding.query_indexes[0]]?.db
        const mine = { ...finding, unit_id: unit.id, ...(severalDatabases && db !== undefined ? { db } : {}), ...madeBy(unit) }
        // Its template position too: two template loops of one view (or of a class-based view, which has no call site)
        // are two places to fix.
        const template = finding.template ? templateText(finding.template) : ''
        const key = `${level}\0${finding.kind}\0${finding.fingerprint}\0${finding.callsite?.file}:${finding.callsite?.line}\0${template}\0${db}`
        const seen = reported.get(key)
        if (!seen) reported.set(key, { finding: { ...mine, occurrences: 1 }, level, allow, units: new Set([unit.id]) })
        else {
          seen.units.add(unit.id)
          const occurrences = seen.units.size
          seen.finding = finding.count > seen.finding.count ? { ...mine, occurrences } : { ...seen.finding, occurrences }
        }
      }
    }

    if (worst) {
      const limit = worst.limits.max_queries as number
      const runs = group.length > 1 ? ` (the most of its ${group.length} runs)` : ''
      groupViolations.push({
        unit: name,
        unit_kind: kind,
        unit_id: worst.unit.id,
        kind: 'max_queries',
        message: `${queriesText(worst.count)}${runs}, over the budget of ${limit} (${worst.limits.from.max_queries})`,
        limit,
        actual: worst.count,
        source: worst.limits.from.max_queries,
        top_queries: topQueries(worst.unit),
        ...madeBy(worst.unit),
      })
    }
    for (const { finding, level, allow } of reported.values()) {
      const line = findingLine(finding)
      if (level === 'error') {
        groupViolations.push({ unit: name, unit_kind: kind, unit_id: finding.unit_id, kind: finding.kind, message: line, finding })
      } else if (level === 'warn') {
        groupNotes.push({ unit: name, kind: 'warning', message: line, finding })
      } else if (allow) {
        groupNotes.push({ unit: name, kind: 'allowed', message: `${line}; allowed by allow[${allow.index}]`, finding, reason: allow.reason })
      }
    }

    const queries = Math.max(...group.map(queryCount))
    const findings = Object.fromEntries(FINDING_KINDS.map((k) => [k, 0])) as Record<FindingKind, number>
    for (const unit of group) for (const k of FINDING_KINDS) findings[k] = Math.max(findings[k], unit.findings.filter((f) => f.kind === k).length)
    results.push({
      name,
      kind,
      runs: group.length,
      queries,
      max_queries: shownLimit ?? null,
      findings,
      outcome: groupViolations.length ? 'fail' : groupNotes.some((n) => n.kind === 'warning') ? 'warn' : 'pass',
    })
    violations.push(...groupViolations)
    notes.push(...groupNotes)
  }

  if (baseline) compareWithBaseline(units, baseline, acceptedNPlusOne, violations, notes, results)

  const commandFailed = commandExit !== null && commandExit !== 0
  // `units` keys that matched nothing: not run this time (pytest -k, a shard), or misspelt, their limits applied to
  // nothing. One note for all; none when the command failed (it may have stopped before their units).
  const names = units.map(matchNames)
  const unused = budget.units.filter((rule) => !names.some((unitNames) => ruleMatches(rule, unitNames)))
  if (unused.length > 0 && names.length > 0 && !commandFailed) {
    notes.push({
      unit: null,
      kind: 'unused_units_key',
      message: `${unused.length === 1 ? 'units key' : 'units keys'} ${unused.map((rule) => JSON.stringify(rule.pattern)).join(', ')} matched no unit of this run: not run, or misspelt (a request is "METHOD route", the URL pattern with or without its leading slash, or its own name "GET /books/3/"; a test its node id)`,
    })
  }

  budget.allow.forEach((entry) => {
    if (!usedAllows.has(entry)) {
      const what = entry.fingerprint ? `fingerprint ${entry.fingerprint}` : `callsite ${entry.callsite}`
      notes.push({ unit: null, kind: 'unused_allow', message: `allow[${entry.index}] (${what}) matched no finding; remove it if the code was fixed`, reason: entry.reason })
    }
  })

  if (commandFailed) {
    // The command's own failure comes first: a run cut short records fewer units, or none, through no fault of the agent.
    violations.push({
      unit: null,
      unit_kind: null,
      unit_id: null,
      kind: 'command_failed',
      exit_code: commandExit,
      ...(commandSignal ? { signal: commandSignal } : {}),
      message: `the command ${commandEnd(commandExit, commandSignal)} (see its output); the checks ran on the units it recorded before it ended`,
    })
  }
  if (units.length === 0) {
    violations.push({
      unit: null,
      unit_kind: null,
      unit_id: null,
      kind: 'no_units',
      message: files.length
        ? `no units in ${files.join(', ')}: record them with QUERYSIGHT_OUTPUT=<file> set where the tests run (the pytest plugin), where the app serves requests (QuerySightMiddleware) or around a script's querysight.capture() blocks`
        : agentOff
        ? 'no units were recorded: QUERYSIGHT_ENABLED is off in the environment ci ran the command in, which turns the agent off; unset it'
        : commandFailed
        ? 'no units were recorded before the command failed; if it ran tests or served requests, check that the querysight agent is installed where it runs'
        : 'no units were recorded: install the querysight agent where the command runs (pip install -e path/to/querysight/python-agent); ' +
          'the pytest plugin records each test, and QuerySightMiddleware each request',
    })
  }

  violations.sort((a, b) => compareStrings(a.unit ?? '', b.unit ?? ''))
  const failed = results.filter((r) => r.outcome === 'fail').length
  const warned = results.filter((r) => r.outcome === 'warn').length
  return {
    passed: violations.length === 0,
    budget: budget.file,
    baseline: baseline ? baselineFile : null,
    units: results,
    violations,
    notes,
    totals: {
      units: results.length,
      runs: units.length,
      queries: units.reduce((sum, unit) => sum + queryCount(unit), 0),
      failed,
      warned,
      passed: results.length - failed - warned,
      violations: violations.length,
      warnings: notes.filter((n) => n.kind === 'warning').length,
    },
  }
}

/** The test a request unit was made by (the agent's `meta.test`), for the reports to name it. */
function madeBy(unit: Unit): { test?: string } {
  const test = unit.meta?.test
  return unit.kind === 'request' && typeof test === 'string' ? { test } : {}
}

function groupByName(units: readonly Unit[]): [string, Unit[]][] {
  const groups = new Map<string, Unit[]>()
  const ordered = [...units].sort((a, b) => a.started_at - b.started_at || compareStrings(a.id, b.id))
  for (const unit of ordered) {
    const name = unitKey(unit)
    const group = groups.get(name)
    if (group) group.push(unit)
    else groups.set(name, [unit])
  }
  return [...groups.entries()].sort(([a], [b]) => compareStrings(a, b))
}

/** The unit's limits; a broken pytest marker is a violation of its own, and the unit is then held to the rest. */
function resolveLimits(unit: Unit, budget: Budget, violations: Violation[], name: string): ResolvedLimits {
  try {
    return limitsFor(unit, budget)
  } catch (err) {
    if (!(err instanceof MarkerError)) throw err
    if (!violations.some((v) => v.kind === 'marker')) {
      violations.push({ unit: name, unit_kind: unit.kind, unit_id: unit.id, kind: 'marker', message: err.message })
    }
    return limitsFor({ ...unit, meta: {} }, budget)
  }
}

/** The unit's most frequent queries, each with the line that ran most of them (`3× select ... at shop/views.py:14`,
 * `and 2 other lines` when more ran it): a unit over its budget says where its queries come from. */
function topQueries(unit: Unit, limit = 5): string[] {
  const counts = new Map<string, number>()
  const lines = new Map<string, Map<string, number>>()
  for (const query of countedQueries(unit)) {
    counts.set(query.fingerprint, (counts.get(query.fingerprint) ?? 0) + 1)
    const line = query.callsite ? `${query.callsite.file}:${query.callsite.line}` : query.template ? `${query.template.name}:${query.template.line}` : null
    if (line === null) continue
    const byLine = lines.get(query.fingerprint) ?? new Map<string, number>()
    lines.set(query.fingerprint, byLine.set(line, (byLine.get(line) ?? 0) + 1))
  }
  const from = (id: string): string => {
    const byLine = [...(lines.get(id) ?? [])].sort(([a, x], [b, y]) => y - x || compareStrings(a, b))
    if (byLine.length === 0) return ''
    const others = byLine.length - 1
    return ` at ${byLine[0][0]}${others ? ` and ${others} other line${others === 1 ? '' : 's'}` : ''}`
  }
  return [...counts]
    .sort(([a, x], [b, y]) => y - x || compareStrings(unit.fingerprints[a] ?? a, unit.fingerprints[b] ?? b))
    .slice(0, limit)
    .map(([id, count]) => `${count}× ${oneLine(unit.fingerprints[id] ?? id, 160)}${from(id)}`)
}

function findingLine(finding: ReportedFinding): string {
  const where = callsiteText(finding)
  const many = finding.occurrences > 1 ? ` in ${finding.occurrences} runs` : ''
  const count = finding.kind === 'slow_query' ? `${Math.round(finding.wasted_ms)} ms` : queriesText(finding.count)
  const db = finding.db ? ` on database "${finding.db}"` : ''
  return `${findingTitle(finding.kind)}: ${count}${many}${db} ${oneLine(finding.sql, 120)}${where ? ` at ${where}` : ''}`
}

/** What ended a unit early: `raised ValueError: boom` (the app's exception, a request's or a block's), `answered 500`. */
function stoppedBy(unit: Unit): string | null {
  const error = unit.meta.error
  if (typeof error === 'string') return `raised ${oneLine(error, 100)}`
  return unit.status !== null && unit.status >= 500 ? `answered ${unit.status}` : null
}

function compareWithBaseline(
  units: readonly Unit[],
  baseline: Baseline,
  acceptedNPlusOne: Map<string, Set<string>>,
  violations: Violation[],
  notes: Note[],
  results: UnitResult[],
) {
  const fresh: string[] = []
  const gone: string[] = []
  // What stopped the run a name's count comes from (its most queries; of several, one that was not stopped).
  const stoppedShort = new Map<string, string | null>()
  const most = new Map<string, number>()
  for (const unit of units) {
    const name = unitKey(unit)
    const count = queryCount(unit)
    const stopped = stoppedBy(unit)
    const best = most.get(name)
    if (best === undefined || count > best || (count === best && stopped === null)) {
      most.set(name, count)
      stoppedShort.set(name, stopped)
    }
  }
  for (const cmp of compareBaselines(baseline, baselineOf(units))) {
    if (!cmp.after) {
      gone.push(cmp.name)
      continue
    }
    // Every N+1 of a unit the baseline has not got is new (a new test, a renamed one, a new route): failed here unless
    // the budget fails it already (the default) or allows it.
    const before = cmp.before?.queries ?? null
    const failed = new Set(violations.filter((v) => v.unit === cmp.name && v.finding).map((v) => v.finding!.fingerprint))
    const newNPlusOne = (before !== null ? cmp.newNPlusOne : cmp.after.n_plus_one.filter((id) => !failed.has(id))).filter(
      (id) => !acceptedNPlusOne.get(cmp.name)?.has(id),
    )
    if (before === null && newNPlusOne.length === 0) {
      fresh.push(cmp.name)
      continue
    }
    const after = cmp.after.queries
    const grew = before !== null && after > before
    const diff = before === null ? [] : diffLines(cmp.changes)
    if (before === null || grew || newNPlusOne.length) {
      const reasons: string[] = []
      if (before === null) reasons.push('not in the baseline')
      if (grew) reasons.push(`${queriesText(after)}, ${after - before} more than the baseline's ${before}`)
      for (const id of newNPlusOne) reasons.push(`a new N+1: ${oneLine(cmp.after.fingerprints[id]?.sql ?? id, 120)}`)
      violations.push({
        unit: cmp.name,
        unit_kind: cmp.after.kind,
        unit_id: null,
        kind: 'baseline',
        message: reasons.join('; '),
        ...(before === null ? {} : { limit: before }),
        actual: after,
        source: 'baseline',
        diff,
      })
      const result = results.find((r) => r.name === cmp.name)
      if (result) result.outcome = 'fail'
    } else if (after < before) {
      const fewer = `${queriesText(after)}, ${before - after} fewer than the baseline's ${before}`
      const stopped = stoppedShort.get(cmp.name)
      // Fewer queries because it stopped short (a 500) is no improvement: said as a change, with why.
      if (stopped) notes.push({ unit: cmp.name, kind: 'changed', message: `${fewer}, but it ${stopped}: it stopped short`, diff })
      else notes.push({ unit: cmp.name, kind: 'improved', message: fewer, diff })
    } else if (diff.length) {
      notes.push({ unit: cmp.name, kind: 'changed', message: `${queriesText(after)} as in the baseline, but different ones`, diff })
    }
  }
  const list = (names: string[]) => names.slice(0, 10).join(', ') + (names.length > 10 ? `, and ${names.length - 10} more` : '')
  if (fresh.length) {
    notes.push({ unit: null, kind: 'new', message: `${fresh.length} unit${fresh.length === 1 ? ' is' : 's are'} not in the baseline (record with --update-baseline): ${list(fresh)}` })
  }
  if (gone.length) {
    notes.push({ unit: null, kind: 'missing', message: `${gone.length} unit${gone.length === 1 ? ' of the baseline' : 's of the baseline'} did not run: ${list(gone)}` })
  }
}
