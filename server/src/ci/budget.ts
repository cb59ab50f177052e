/**
 * The budget file (`querysight.budget.json`): what each unit may do, and which findings are accepted and why.
 * Parsing is strict (an unknown key is an error that names it and where it is), and resolving a unit's limits is a
 * pure function of the unit and the budget. Reading the file from disk is the runner's job (run-ci.ts).
 *
 * ```json
 * {
 *   "defaults": {"max_queries": 50, "n_plus_one": "error", "duplicate": "warn"},
 *   "units": {"GET books/": {"max_queries": 5}, "tests/test_api.py::test_*": {"duplicate": "error"}},
 *   "allow": [{"fingerprint": "3f2a...", "reason": "..."}, {"callsite": "shop/legacy.py:40", "reason": "..."}]
 * }
 * ```
 * @module
 */
import type { Finding, FindingKind, Frame, Unit } from '../protocol.js'
import { FINDING_KINDS } from '../protocol.js'
import { globMatch, hasWildcard, specificity } from './glob.js'

export type Level = 'error' | 'warn' | 'allow'
export const LEVELS: readonly Level[] = ['error', 'warn', 'allow']

/** What a unit may do. Each finding kind has a level: `error` fails the check, `warn` is reported, `allow` is ignored. */
export interface Limits {
  /** The most queries one unit may run; `null` means no limit. */
  max_queries?: number | null
  n_plus_one?: Level
  duplicate?: Level
  repeated_write?: Level
  slow_query?: Level
}
export type LimitKey = keyof Limits
export const LIMIT_KEYS: readonly LimitKey[] = ['max_queries', ...FINDING_KINDS]

/** Limits with every key set, and for each key where its value came from (`built-in`, `defaults`, `units["…"]`, `marker`). */
export type ResolvedLimits = Required<Limits> & { from: Record<LimitKey, string> }

export interface UnitRule {
  pattern: string
  limits: Limits
}

export interface AllowEntry {
  /** Position in the file's `allow` list, for messages. */
  index: number
  fingerprint: string | null
  callsite: string | null
  kind: FindingKind | null
  unit: string | null
  reason: string
}

export interface Budget {
  /** The file it was read from, or null for the built-in budget. */
  file: string | null
  defaults: Limits
  units: UnitRule[]
  allow: AllowEntry[]
}

/** Used when there is no budget file: every N+1 fails, the other findings are reported, no query limit. */
export const BUILT_IN_LIMITS: Required<Limits> = {
  max_queries: null,
  n_plus_one: 'error',
  duplicate: 'warn',
  repeated_write: 'warn',
  slow_query: 'warn',
}

export const BUDGET_FILE_NAME = 'querysight.budget.json'

export const emptyBudget = (): Budget => ({ file: null, defaults: {}, units: [], allow: [] })

/** The budget file is not valid; the message names the key or value and where it is. */
export class BudgetFileError extends Error {
  override name = 'BudgetFileError'
}

/** A `@pytest.mark.querysight(...)` marker with an unknown argument or a bad value. */
export class MarkerError extends Error {
  override name = 'MarkerError'
}

const TOP_KEYS = ['defaults', 'units', 'allow'] as const
const ALLOW_KEYS = ['fingerprint', 'callsite', 'kind', 'unit', 'reason'] as const

// ---------------------------------------------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------------------------------------------

/** Parses the text of a budget file; `file` is only used in messages. */
export function parseBudgetText(text: string, file: string = BUDGET_FILE_NAME): Budget {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (err) {
    throw new BudgetFileError(`${file} is not valid JSON (${jsonErrorAt(text, (err as Error).message)}); fix the syntax (no comments or trailing commas)`)
  }
  return parseBudget(json, file)
}

/** JSON.parse's message with the line and column its `at position N` points at, which an editor can go to. */
export function jsonErrorAt(text: string, message: string): string {
  const at = /at position (\d+)/.exec(message)
  if (!at) return message
  const before = text.slice(0, Number(at[1]))
  const line = before.split('\n').length
  const column = Number(at[1]) - before.lastIndexOf('\n')
  return message.replace(/at position \d+.*$/, `at line ${line}, column ${column}`)
}

export function parseBudget(json: unknown, file: string = BUDGET_FILE_NAME): Budget {
  const fail = (message: string): never => {
    throw new BudgetFileError(`${message} (in ${file})`)
  }
  const top = objectAt(json, 'the top level', fail)
  checkKeys(top, TOP_KEYS, 'the top level', fail)
  const budget: Budget = { file, defaults: {}, units: [], allow: [] }
  if (top.defaults !== undefined) budget.defaults = parseLimits(top.defaults, 'defaults', fail)
  if (top.units !== undefined) {
    const units = objectAt(top.units, 'units', fail)
    for (const [pattern, value] of Object.entries(units)) {
      if (pattern.trim() === '') fail('units has an empty key; write a route such as "GET books/" or a test node id')
      budget.units.push({ pattern, limits: parseLimits(value, `units[${JSON.stringify(pattern)}]`, fail) })
    }
  }
  if (top.allow !== undefined) {
    if (!Array.isArray(top.allow)) fail(`allow must be a list of {"fingerprint" or "callsite", "reason"} entries, got ${describe(top.allow)}`)
    budget.allow = (top.allow as unknown[]).map((entry, index) => parseAllow(entry, index, fail))
  }
  return budget
}

/**
 * The limits a pytest marker carries in the unit's `meta.querysight` (python-agent/src/querysight/pytest_plugin.py
 * copies the marker's keyword arguments there). Returns null when the unit has no marker.
 */
export function parseMarker(meta: Record<string, unknown> | null | undefined): Limits | null {
  const marker = meta?.querysight
  if (marker === undefined || marker === null) return null
  const fail = (message: string): never => {
    throw new MarkerError(`${message}; see @pytest.mark.querysight(max_queries=..., n_plus_one=..., duplicate=...)`)
  }
  return parseLimits(marker, 'the @pytest.mark.querysight marker', fail, { quote: false })
}

function parseLimits(value: unknown, where: string, fail: (message: string) => never, { quote = true } = {}): Limits {
  const obj = objectAt(value, where, fail)
  checkKeys(obj, LIMIT_KEYS, where, fail)
  const key = (name: string) => (quote ? `${where}.${name}` : `${name} in ${where}`)
  const limits: Limits = {}
  if (obj.max_queries !== undefined) {
    const max = obj.max_queries
    if (max !== null && !(typeof max === 'number' && Number.isInteger(max) && max >= 0)) {
      fail(`${key('max_queries')} must be a whole number of queries (or null for no limit), got ${describe(max)}`)
    }
    limits.max_queries = max as number | null
  }
  for (const kind of FINDING_KINDS) {
    const level = obj[kind]
    if (level === undefined) continue
    if (typeof level !== 'string' || !LEVELS.includes(level as Level)) {
      const hint = typeof level === 'string' ? didYouMean(level, LEVELS) : ''
      fail(`${key(kind)} must be "error", "warn" or "allow", got ${describe(level)}${hint}`)
    }
    limits[kind] = level as Level
  }
  return limits
}

function parseAllow(value: unknown, index: number, fail: (message: string) => never): AllowEntry {
  const where = `allow[${index}]`
  const obj = objectAt(value, where, fail)
  checkKeys(obj, ALLOW_KEYS, where, fail)
  const text = (name: string): string | null => {
    const field = obj[name]
    if (field === undefined || field === null) return null
    if (typeof field !== 'string' || field.trim() === '') fail(`${where}.${name} must be a non-empty string, got ${describe(field)}`)
    return (field as string).trim()
  }
  const entry: AllowEntry = {
    index,
    fingerprint: text('fingerprint'),
    callsite: text('callsite'),
    kind: null,
    unit: text('unit'),
    reason: text('reason') ?? '',
  }
  if (obj.kind !== undefined) {
    if (typeof obj.kind !== 'string' || !FINDING_KINDS.includes(obj.kind as FindingKind)) {
      const hint = typeof obj.kind === 'string' ? didYouMean(obj.kind, FINDING_KINDS) : ''
      fail(`${where}.kind must be one of ${FINDING_KINDS.map((k) => `"${k}"`).join(', ')}, got ${describe(obj.kind)}${hint}`)
    }
    entry.kind = obj.kind as FindingKind
  }
  if (!entry.fingerprint && !entry.callsite) {
    fail(`${where} must say what it allows: a "fingerprint" (16 hex digits, shown in the report) or a "callsite" ("shop/views.py" or "shop/views.py:42")`)
  }
  if (!entry.reason) {
    fail(`${where} has no "reason"; every allow entry must say why the finding is acceptable, e.g. "reason": "admin export, runs once a day"`)
  }
  return entry
}

function objectAt(value: unknown, where: string, fail: (message: string) => never): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${where} must be an object, got ${describe(value)}`)
  return value as Record<string, unknown>
}

function checkKeys(
  obj: Record<string, unknown>,
  known: readonly string[],
  where: string,
  fail: (message: string) => never,
) {
  for (const key of Object.keys(obj)) {
    if (!known.includes(key)) {
      const hint = didYouMean(key, known) || `; the known keys are ${known.map((k) => `"${k}"`).join(', ')}`
      fail(`unknown key "${key}" in ${where}${hint}`)
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'a list'
  if (typeof value === 'object') return 'an object'
  return JSON.stringify(value)
}

/** `; did you mean "max_queries"?` when a known word is close to the given one, else an empty string. */
export function didYouMean(word: string, known: readonly string[]): string {
  let best: string | null = null
  let bestDistance = Infinity
  const lower = word.toLowerCase()
  for (const candidate of known) {
    const other = candidate.toLowerCase()
    // A word that starts with a known one, or the reverse ("warning" for "warn"), counts as one edit away.
    const distance = lower.startsWith(other) || other.startsWith(lower) ? 1 : editDistance(lower, other)
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }
  return best !== null && bestDistance <= Math.max(2, Math.floor(best.length / 3)) ? `; did you mean "${best}"?` : ''
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    previous = current
  }
  return previous[b.length]
}

// ---------------------------------------------------------------------------------------------------------------
// Resolving
// ---------------------------------------------------------------------------------------------------------------

type UnitIdentity = Pick<Unit, 'kind' | 'name' | 'method' | 'route'> & Partial<Pick<Unit, 'status'>>

/**
 * The name a unit is known by in budgets, baselines and reports: `METHOD route` for requests (`GET books/<int:pk>/`,
 * so every request of one endpoint shares it; the request's own name when it matched no route, except a 404, all of
 * which are `METHOD (no route)`: a test asking for a random missing path would otherwise change the baseline each
 * run), the node id for tests, the name for everything else.
 */
export function unitKey(unit: UnitIdentity): string {
  if (unit.kind === 'request' && unit.route) return unit.method ? `${unit.method} ${unit.route}` : unit.route
  if (unit.kind === 'request' && unit.status === 404) return unit.method ? `${unit.method} (no route)` : '(no route)'
  return unit.name
}

/**
 * The names a budget key or an allow entry's `unit` may match for this unit. A request matches by `METHOD route`, by
 * the route alone, either one with or without a leading slash, and by its own name (`GET /books/`).
 */
export function matchNames(unit: UnitIdentity): string[] {
  const names = new Set<string>()
  if (unit.kind === 'request' && unit.route) {
    // Django's routes have no leading slash, Flask's and FastAPI's have one: a key matches either way.
    const bare = unit.route.replace(/^\/+/, '')
    const routes = bare === '' ? [unit.route] : [bare, `/${bare}`]
    for (const route of routes) {
      if (unit.method) names.add(`${unit.method} ${route}`)
      names.add(route)
    }
  }
  names.add(unitKey(unit)) // (METHOD (no route) for a 404)
  names.add(unit.name)
  return [...names]
}

/**
 * The limits of one unit: the built-in limits, then the file's `defaults`, then every matching `units` entry from the
 * least to the most specific (an exact name beats any glob; a glob with more literal characters beats one with fewer;
 * on a tie the later entry wins), then the unit's pytest marker. Throws MarkerError for an invalid marker.
 */
export function limitsFor(unit: UnitIdentity & Pick<Unit, 'meta'>, budget: Budget): ResolvedLimits {
  const resolved = { ...BUILT_IN_LIMITS, from: Object.fromEntries(LIMIT_KEYS.map((k) => [k, 'built-in'])) } as ResolvedLimits
  const apply = (limits: Limits, from: string) => {
    for (const key of LIMIT_KEYS) {
      if (limits[key] !== undefined) {
        ;(resolved as unknown as Record<string, unknown>)[key] = limits[key]
        resolved.from[key] = from
      }
    }
  }
  apply(budget.defaults, 'defaults')
  const names = matchNames(unit)
  budget.units
    .map((rule, order) => ({ rule, order }))
    .filter(({ rule }) => ruleMatches(rule, names))
    .sort((a, b) => specificity(a.rule.pattern) - specificity(b.rule.pattern) || a.order - b.order)
    .forEach(({ rule }) => apply(rule.limits, `units[${JSON.stringify(rule.pattern)}]`))
  const marker = parseMarker(unit.meta)
  if (marker) apply(marker, 'marker')
  return resolved
}

/** Whether a `units` entry applies to a unit known by these names (see matchNames). */
export const ruleMatches = (rule: UnitRule, names: readonly string[]): boolean => names.some((name) => globMatch(rule.pattern, name))

/** Every allow entry that covers this finding of this unit, in the file's order: the first decides (its reason is
 * shown); one shadowed by an earlier, broader one still covers it, and is not unused. */
export function allowsFor(finding: Finding, unit: UnitIdentity & Pick<Unit, 'queries'>, budget: Budget): AllowEntry[] {
  return budget.allow.filter(
    (entry) =>
      (!entry.kind || entry.kind === finding.kind) &&
      (!entry.fingerprint || globMatch(entry.fingerprint, finding.fingerprint)) &&
      (!entry.unit || matchNames(unit).some((name) => globMatch(entry.unit!, name))) &&
      (!entry.callsite || findingPlaces(finding, unit).some((place) => callsiteMatches(entry.callsite!, place))),
  )
}

interface Place {
  file: string
  line: number
}

/** Where a finding happens: its call site, every application frame of its first query's stack, its template and
 * where that template was included. */
function findingPlaces(finding: Finding, unit: Pick<Unit, 'queries'>): Place[] {
  const frames: (Frame | null)[] = [finding.callsite, ...(unit.queries[finding.query_indexes[0]]?.stack ?? [])]
  const places: Place[] = frames.filter((frame): frame is Frame => frame !== null)
  if (finding.template) {
    for (const position of [finding.template, ...(finding.template.included_from ?? [])]) places.push({ file: position.name, line: position.line })
  }
  return places
}

/**
 * `shop/views.py` matches any line of that file, `shop/views.py:42` one line. The file part may be a glob, and it
 * matches the whole path or any trailing part of it that starts after a `/` (so `views.py` matches `shop/views.py`).
 */
export function callsiteMatches(pattern: string, place: Place): boolean {
  const match = /^(.*):(\d+)$/.exec(pattern)
  const filePattern = match ? match[1] : pattern
  if (match && Number(match[2]) !== place.line) return false
  const file = place.file.replace(/\\/g, '/')
  if (globMatch(filePattern, file)) return true
  for (let i = file.indexOf('/'); i !== -1; i = file.indexOf('/', i + 1)) {
    if (globMatch(filePattern, file.slice(i + 1))) return true
  }
  // The agent names a module from the sys.path entry it was imported from: a test module pytest imported from its
  // own folder is `test_basic.py`, where node ids and people write `tests/test_basic.py`. A whole trailing part of
  // the pattern (after a `/`) that is the file matches too.
  return !hasWildcard(filePattern) && filePattern.endsWith(`/${file}`)
}
