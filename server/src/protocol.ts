/**
 * The wire format between the agent and the server (DESIGN.md §4), and the shapes the server answers with (§5, §6).
 * The UI imports these types too, so the three parts cannot drift apart.
 * @module
 */

export const PROTOCOL_VERSION = 1

// ---------------------------------------------------------------------------------------------------------------
// Agent → server (POST /api/v1/ingest, POST /api/v1/analyze)
// ---------------------------------------------------------------------------------------------------------------

export type UnitKind = 'request' | 'test' | 'task' | 'command' | 'block'
export const UNIT_KINDS: readonly UnitKind[] = ['request', 'test', 'task', 'command', 'block']

export type RelationKind = 'fk' | 'o2o' | 'reverse_fk' | 'reverse_o2o' | 'm2m' | 'reverse_m2m'
export const RELATION_KINDS: readonly RelationKind[] = ['fk', 'o2o', 'reverse_fk', 'reverse_o2o', 'm2m', 'reverse_m2m']

/** A JSON-safe parameter value as the agent sends it. */
export type ParamValue = string | number | boolean | null | ParamValue[] | { [key: string]: ParamValue }
/** Positional params, named params, or (for `many: true`) the list of parameter rows. `null` when capture is off. */
export type Params = ParamValue[] | { [key: string]: ParamValue } | null

export interface Frame {
  file: string
  line: number
  function: string
}

export interface TemplatePosition {
  name: string
  line: number
}

export interface WireQuery {
  sql: string
  params: Params
  db: string
  vendor: string
  start_ms: number
  duration_ms: number
  many: boolean
  error: string | null
  callsite: Frame | null
  stack: Frame[]
  template?: TemplatePosition | null
  sql_truncated?: boolean
}

export interface WireUnit {
  id: string
  kind: UnitKind
  name: string
  method?: string | null
  path?: string | null
  route?: string | null
  view?: string | null
  status?: number | null
  started_at: number
  duration_ms: number
  meta: Record<string, unknown>
  queries: WireQuery[]
  dropped_queries: number
}

export interface Relation {
  field: string
  kind: RelationKind
  target: string
  /** FK column on this model's table (fk, o2o). */
  column?: string
  /** FK column on the target's table (reverse_fk, reverse_o2o), or the through table's column pointing at the target (m2m). */
  target_column?: string
  /** M2M only. */
  through_table?: string
  /** M2M only: the through table's column pointing at this model. */
  source_column?: string
}

export interface ModelInfo {
  model: string
  table: string
  pk: string
  relations: Relation[]
}

export interface Schema {
  models: ModelInfo[]
}

export interface AgentInfo {
  name: string
  version: string
}

export interface AppInfo {
  name: string
  framework?: string | null
  framework_version?: string | null
  host?: string | null
  pid?: number | null
  /** Where the app's pages are served; the server allows CORS and WebSocket origins reported here (§10). */
  origin?: string | null
}

export interface IngestPayload {
  protocol: typeof PROTOCOL_VERSION
  agent: AgentInfo
  app: AppInfo
  schema?: Schema | null
  units: WireUnit[]
}

export interface IngestAnswer {
  accepted: number
  duplicates: number
}

export interface ErrorAnswer {
  error: { code: string; message: string; path?: string }
}

// ---------------------------------------------------------------------------------------------------------------
// Analysis results (stored once on ingest; returned by the API)
// ---------------------------------------------------------------------------------------------------------------

export type FindingKind = 'n_plus_one' | 'duplicate' | 'repeated_write' | 'slow_query'
export const FINDING_KINDS: readonly FindingKind[] = ['n_plus_one', 'duplicate', 'repeated_write', 'slow_query']

export type Severity = 'info' | 'warning' | 'error'

export interface Suggestion {
  text: string
  code: string | null
}

export interface Finding {
  kind: FindingKind
  severity: Severity
  /** Fingerprint id (16 hex digits) of the repeated query. */
  fingerprint: string
  /** The normalized SQL. */
  sql: string
  /** Repeated queries: the N of an N+1 (not counting its trigger), all copies of a duplicate, 1 for a slow query. */
  count: number
  wasted_ms: number
  /** Indexes into the unit's `queries`. */
  query_indexes: number[]
  callsite: Frame | null
  template: TemplatePosition | null
  /** The query that produced the keys of an N+1 (the "1"), when one can be found. */
  trigger_index: number | null
  suggestion: Suggestion
}

/** A query as the API returns it: the wire query plus its fingerprint id. */
export interface AnalysedQuery extends WireQuery {
  fingerprint: string
}

export interface UnitSummaryCounts {
  queries: number
  db_ms: number
  duplicates: number
  n_plus_one: number
  findings: number
  severity: Severity | null
}

/** What lists and the live socket carry. */
export interface UnitSummary {
  id: string
  kind: UnitKind
  name: string
  method: string | null
  path: string | null
  route: string | null
  status: number | null
  started_at: number
  duration_ms: number
  app: string
  summary: UnitSummaryCounts
}

/** A whole unit, as `GET /api/v1/units/:id` answers. */
export interface Unit extends UnitSummary {
  view: string | null
  meta: Record<string, unknown>
  dropped_queries: number
  framework: string | null
  queries: AnalysedQuery[]
  /** Fingerprint id → normalized SQL, for every query of the unit. */
  fingerprints: Record<string, string>
  findings: Finding[]
}

export interface UnitsPage {
  units: UnitSummary[]
  next: string | null
}

export interface RouteStats {
  route: string
  kind: UnitKind
  method: string | null
  units: number
  queries_p50: number
  queries_p95: number
  queries_max: number
  n_plus_one: number
  duplicates: number
  last_seen: number
  /** Recent units of the route, oldest first, for the per-route chart. */
  recent: { id: string; started_at: number; queries: number }[]
}

export interface FingerprintInfo {
  id: string
  sql: string
  /** Where it has been seen: per route/unit name and call site, with counts. */
  seen: { unit_name: string; route: string | null; callsite: Frame | null; units: number; queries: number; last_seen: number }[]
}

// Live socket messages (GET /api/v1/live)
export type LiveServerMessage =
  | { type: 'hello'; version: string; protocol: number; units: number }
  | { type: 'unit'; unit: UnitSummary }
  | { type: 'cleared' }

export type LiveClientMessage = { type: 'subscribe'; units: string[] }
