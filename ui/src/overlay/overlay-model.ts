/**
 * The overlay's pure logic: badge text and colour, corners, saved preferences, the unit header, the script tag, retry
 * delays. No DOM, no clock, no globals: everything the overlay decides is tested here.
 * @module
 */
import type { Severity, Unit, UnitSummary, UnitSummaryCounts } from '../../../server/src/protocol.js'

/** A unit as the overlay reads it: without its queries (see {@link unitApiUrl}). */
export type OverlayUnit = Omit<Unit, 'queries' | 'fingerprints'>

export type Corner = 'bottom-right' | 'bottom-left' | 'top-left' | 'top-right'
export const CORNERS: readonly Corner[] = ['bottom-right', 'bottom-left', 'top-left', 'top-right']

export interface Prefs {
  corner: Corner
  collapsed: boolean
}
export const DEFAULT_PREFS: Prefs = { corner: 'bottom-right', collapsed: false }
export const PREFS_KEY = 'querysight.overlay'

/** The header the agent puts on every recorded response. */
export const UNIT_HEADER = 'X-QuerySight-Unit'

const plural = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`

/** "23 queries · 2 N+1 · 3 duplicates"; the N+1 and duplicate parts only when there are some. */
export function badgeText({ queries, n_plus_one, duplicates }: Pick<UnitSummaryCounts, 'queries' | 'n_plus_one' | 'duplicates'>): string {
  const parts = [plural(queries, 'query', 'queries')]
  if (n_plus_one > 0) parts.push(`${n_plus_one} N+1`)
  if (duplicates > 0) parts.push(plural(duplicates, 'duplicate', 'duplicates'))
  return parts.join(' · ')
}

/** The calls the panel no longer lists (it keeps the most recent ones), as counts: the badge still counts them, and
 * takes its colour from them too. */
export interface OlderCalls {
  count: number
  /** How many had findings (of those whose unit had come when they left the list). */
  flagged: number
  severity: Severity | null
  /** One of them raised or answered 5xx. */
  stopped: boolean
}

export const NO_OLDER_CALLS: OlderCalls = { count: 0, flagged: 0, severity: null, stopped: false }

/** `older` with one more call, whose unit is `unit` (null: it has not come yet, see {@link withOlderUnit}). */
export function withOlderCall(older: OlderCalls, unit: Pick<OverlayUnit, 'summary' | 'status' | 'meta'> | null): OlderCalls {
  return withOlderUnit({ ...older, count: older.count + 1 }, unit)
}

/** `older` with the findings of the unit of one of its calls (which came after the call left the list). */
export function withOlderUnit(older: OlderCalls, unit: Pick<OverlayUnit, 'summary' | 'status' | 'meta'> | null): OlderCalls {
  if (unit === null) return older
  return {
    count: older.count,
    flagged: older.flagged + (unit.summary.findings > 0 ? 1 : 0),
    severity: worstSeverity([older.severity, unit.summary.severity]),
    stopped: older.stopped || stoppedShort(unit),
  }
}

/** The badge's word on the page's later calls: "+2 calls", and how many of them have findings, since the badge's
 * colour (the worst severity of all) may come from one of them: "+2 calls, 1 with findings". Counts the calls the
 * panel no longer lists too. */
export function callsText(calls: readonly { unit: { summary: Pick<UnitSummaryCounts, 'findings'> } | null }[], older: OlderCalls = NO_OLDER_CALLS): string {
  const total = calls.length + older.count
  const count = plural(total, 'call', 'calls')
  const flagged = calls.filter((call) => (call.unit?.summary.findings ?? 0) > 0).length + older.flagged
  if (flagged === 0) return `+${count}`
  return total === 1 ? `+${count} with findings` : `+${count}, ${flagged} with findings`
}

const OTHER_KINDS: [string, string, string][] = [
  ['repeated_write', 'repeated write', 'repeated writes'],
  ['slow_query', 'slow query', 'slow queries'],
]

/**
 * The counts of a row in the panel: the badge text, then the findings the badge has no word for
 * ("14 queries · 1 repeated write").
 */
export function rowText(summary: Pick<UnitSummaryCounts, 'queries' | 'n_plus_one' | 'duplicates'>, findings: readonly { kind: string }[]): string {
  const parts = [badgeText(summary)]
  for (const [kind, one, many] of OTHER_KINDS) {
    const count = findings.filter((finding) => finding.kind === kind).length
    if (count > 0) parts.push(plural(count, one, many))
  }
  return parts.join(' · ')
}

const SEVERITY_RANK: Record<Severity, number> = { info: 1, warning: 2, error: 3 }

/** The worst of several severities; null when there is none (no findings). */
export function worstSeverity(severities: readonly (Severity | null | undefined)[]): Severity | null {
  let worst: Severity | null = null
  for (const severity of severities) {
    if (severity && (worst === null || SEVERITY_RANK[severity] > SEVERITY_RANK[worst])) worst = severity
  }
  return worst
}

export type Tone = Severity | 'clean' | 'pending' | 'neutral'

/** Background and text colour of the badge for a tone (a severity, no finding at all, not loaded yet, or no finding
 * in a unit that raised). */
export const TONE_COLOURS: Record<Tone, { background: string; text: string }> = {
  error: { background: '#b42318', text: '#ffffff' },
  warning: { background: '#b54708', text: '#ffffff' },
  info: { background: '#175cd3', text: '#ffffff' },
  clean: { background: '#067647', text: '#ffffff' },
  pending: { background: '#475467', text: '#ffffff' },
  neutral: { background: '#1d2939', text: '#ffffff' },
}

/** The tone of a unit's (or a page's) findings; no green all-clear for one that raised or answered 5xx: its queries
 * stopped short, as the report says. */
export function toneOf(severity: Severity | null | undefined, loaded: boolean, stoppedShort = false): Tone {
  if (!loaded) return 'pending'
  return severity ?? (stoppedShort ? 'neutral' : 'clean')
}

/** Whether a unit raised (`meta.error`) or answered 5xx. */
export const stoppedShort = (unit: { status: number | null; meta?: Record<string, unknown> } | null | undefined): boolean =>
  unit !== null && unit !== undefined && (typeof unit.meta?.error === 'string' || (unit.status ?? 0) >= 500)

/** Where the move button sends the overlay next: bottom-right → bottom-left → top-left → top-right → bottom-right. */
export function nextCorner(corner: Corner): Corner {
  const index = CORNERS.indexOf(corner)
  return CORNERS[(index + 1) % CORNERS.length]
}

/** Preferences read back from localStorage; anything unreadable falls back to the defaults, field by field. */
export function parsePrefs(raw: string | null | undefined): Prefs {
  if (!raw) return { ...DEFAULT_PREFS }
  try {
    const value = JSON.parse(raw) as Partial<Record<keyof Prefs, unknown>> | null
    if (!value || typeof value !== 'object') return { ...DEFAULT_PREFS }
    return {
      corner: CORNERS.includes(value.corner as Corner) ? (value.corner as Corner) : DEFAULT_PREFS.corner,
      collapsed: typeof value.collapsed === 'boolean' ? value.collapsed : DEFAULT_PREFS.collapsed,
    }
  } catch {
    return { ...DEFAULT_PREFS }
  }
}

export const serializePrefs = (prefs: Prefs): string => JSON.stringify({ corner: prefs.corner, collapsed: prefs.collapsed })

/**
 * The unit id in an `X-QuerySight-Unit` value, or null. Repeated headers arrive joined by ", ": the first one wins.
 * Ids are at most 200 visible characters without spaces or commas (protocol LIMITS.idLength).
 */
export function parseUnitHeader(value: string | null | undefined): string | null {
  if (!value) return null
  const id = value.split(',')[0].trim()
  return /^[\x21-\x2b\x2d-\x7e]{1,200}$/.test(id) ? id : null
}

export interface ScriptInfo {
  src: string
  unit: string | null
}

/** The overlay's own script tag among the page's scripts: `src` ending in `/overlay.js` (query or hash allowed) with `data-unit`. */
export function findOverlayScript<T extends ScriptInfo>(scripts: Iterable<T>): T | null {
  for (const script of scripts) {
    if (script.unit && /\/overlay\.js(?:[?#].*)?$/.test(script.src)) return script
  }
  return null
}

/**
 * One header out of `XMLHttpRequest.getAllResponseHeaders()` ("name: value" lines, names in any case), or null.
 * (getResponseHeader would log "Refused to get unsafe header" for cross-origin calls that do not expose it.)
 */
export function headerFromRaw(raw: string | null | undefined, name: string): string | null {
  if (!raw) return null
  const wanted = name.toLowerCase()
  const values: string[] = []
  for (const line of raw.split(/\r?\n/)) {
    const colon = line.indexOf(':')
    if (colon > 0 && line.slice(0, colon).trim().toLowerCase() === wanted) values.push(line.slice(colon + 1).trim())
  }
  return values.length ? values.join(', ') : null
}

/** `http://127.0.0.1:8321/overlay.js?v=1` → `http://127.0.0.1:8321` (a server under a path prefix keeps it). */
export function serverBaseOf(scriptSrc: string): string {
  const url = new URL(scriptSrc)
  return `${url.origin}${url.pathname.replace(/\/overlay\.js$/, '')}`
}

/** `GET /api/v1/units/:id`, with `?wait=` when the server may hold the answer that long for a unit still on its way. */
/** The read of a unit's summary and findings, without its queries (`?queries=none`: a page of 10,000 queries is megabytes,
 * in the developer's own page, for each call), held up to `waitMs` for a unit not delivered yet. */
export const unitApiUrl = (base: string, id: string, waitMs = 0) =>
  `${base}/api/v1/units/${encodeURIComponent(id)}?queries=none${waitMs > 0 ? `&wait=${waitMs}` : ''}`
export const reportUrl = (base: string, id: string) => `${base}/#/units/${encodeURIComponent(id)}`

/** `http://host:8321` → `ws://host:8321/api/v1/live` (https → wss). */
export const liveUrl = (base: string) => `${base.replace(/^http/, 'ws')}/api/v1/live`

/** Delay before retry `attempt` (0-based) of a unit that is not readable yet; null once the bounded retries are spent. */
export function retryDelay(attempt: number, { baseMs = 100, maxMs = 2000, attempts = 12 } = {}): number | null {
  if (attempt >= attempts) return null
  return Math.min(maxMs, baseMs * 2 ** attempt)
}

/** What a row of the panel names a call by: "POST /api/publishers/1/restock/" (its status is shown apart). */
export function callTarget(unit: Pick<UnitSummary, 'method' | 'path' | 'name'>): string {
  return unit.method && unit.path ? `${unit.method} ${unit.path}` : unit.name
}

/** The whole of it, for a tooltip: "POST /api/publishers/1/restock/ 200". */
export function callLabel(unit: Pick<UnitSummary, 'method' | 'path' | 'name' | 'status'>): string {
  const target = callTarget(unit)
  return unit.status === null || unit.status === undefined ? target : `${target} ${unit.status}`
}

/** How a call's HTTP status is coloured: the row's dot is its findings' severity, so a call that failed (4xx, 5xx)
 * would otherwise look as fine as any other call without findings. */
export function statusTone(status: number | null | undefined): 'error' | 'warning' | 'none' {
  if (status === null || status === undefined) return 'none'
  return status >= 500 ? 'error' : status >= 400 ? 'warning' : 'none'
}

/** "src/shop/views.py:42 in book_list". */
export function frameLabel(frame: { file: string; line: number; function: string } | null): string | null {
  if (!frame) return null
  return `${frame.file}:${frame.line}${frame.function ? ` in ${frame.function}` : ''}`
}

export const FINDING_TITLES: Record<string, string> = {
  n_plus_one: 'N+1',
  duplicate: 'Duplicate',
  repeated_write: 'Repeated write',
  slow_query: 'Slow query',
}
