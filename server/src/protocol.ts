/**
 * The wire format between the agent and the server (DESIGN.md §4), and the shapes the server answers with (§5, §6).
 * The UI imports these types too, so the three parts cannot drift apart.
 * @module
 */

import { InvalidPayloadError } from './errors.js'

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

// ---------------------------------------------------------------------------------------------------------------
// Parsing ingest payloads (POST /api/v1/ingest, POST /api/v1/analyze) with precise errors
// ---------------------------------------------------------------------------------------------------------------

/** Limits of §4. The body limit is applied by the HTTP layer, the others by `parseIngestPayload`. */
export const LIMITS = {
  bodyBytes: 16 * 1024 * 1024,
  unitsPerBatch: 1000,
  sqlBytes: 100 * 1024,
  stackFrames: 16,
  idLength: 200,
  textLength: 10_000,
} as const

type Obj = Record<string, unknown>

const fail = (path: string, detail: string): never => {
  throw new InvalidPayloadError(path, detail)
}

const describe = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`

function object(value: unknown, path: string): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(path, `must be an object, got ${describe(value)}`)
  return value as Obj
}

function array(value: unknown, path: string): unknown[] {
  if (!Array.isArray(value)) fail(path, `must be an array, got ${describe(value)}`)
  return value as unknown[]
}

function string(value: unknown, path: string, { max = LIMITS.textLength as number, empty = false } = {}): string {
  if (typeof value !== 'string') return fail(path, `must be a string, got ${describe(value)}`)
  if (!empty && value.length === 0) fail(path, 'must not be empty')
  if (value.length > max) fail(path, `is longer than ${max} characters`)
  return value
}

function optionalString(value: unknown, path: string, options?: { max?: number; empty?: boolean }): string | null {
  return value === undefined || value === null ? null : string(value, path, options)
}

function number(value: unknown, path: string, { min = 0, integer = false, max = Number.MAX_SAFE_INTEGER as number } = {}): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return fail(path, `must be a finite number, got ${describe(value)}`)
  if (integer && !Number.isInteger(value)) fail(path, `must be an integer, got ${value}`)
  if (value < min || value > max) fail(path, `must be between ${min} and ${max}, got ${value}`)
  return value
}

function boolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') fail(path, `must be true or false, got ${describe(value)}`)
  return value as boolean
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], path: string): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) fail(path, `must be one of ${allowed.join(', ')}, got ${describe(value)}`)
  return value as T
}

function required(obj: Obj, key: string, path: string): unknown {
  const value = obj[key]
  if (value === undefined) fail(`${path}${path ? '.' : ''}${key}`, 'is required')
  return value
}

function utf8Length(text: string): number {
  if (text.length * 3 <= LIMITS.sqlBytes) return text.length
  let bytes = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    bytes += code < 0x80 ? 1 : code < 0x800 ? 2 : code >= 0xd800 && code < 0xdc00 ? 4 : code >= 0xdc00 && code < 0xe000 ? 0 : 3
  }
  return bytes
}

/** Normalizes `http://Example.com:80/x` to `http://example.com`; anything that is not an http(s) origin is an error. */
export function parseOrigin(value: string, path: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    return fail(path, `must be an http(s) origin such as "http://127.0.0.1:8000", got ${JSON.stringify(value.slice(0, 80))}`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(path, `must be an http(s) origin, got ${JSON.stringify(value.slice(0, 80))}`)
  return url.origin
}

function parseFrame(value: unknown, path: string): Frame {
  const frame = object(value, path)
  return {
    file: string(required(frame, 'file', path), `${path}.file`, { max: 2000 }),
    line: number(required(frame, 'line', path), `${path}.line`, { integer: true }),
    function: string(required(frame, 'function', path), `${path}.function`, { max: 2000, empty: true }),
  }
}

function parseTemplate(value: unknown, path: string): TemplatePosition | null {
  if (value === undefined || value === null) return null
  const template = object(value, path)
  return {
    name: string(required(template, 'name', path), `${path}.name`, { max: 2000 }),
    line: number(required(template, 'line', path), `${path}.line`, { integer: true }),
  }
}

/** JSON values (params, meta) may nest this deep; deeper ones would overflow the stack when stored or analysed. */
export const MAX_NESTING = 32

/** Fails unless `value` nests at most MAX_NESTING arrays/objects deep (stops looking past the limit). */
function shallow(value: unknown, path: string, depth = 0): void {
  if (typeof value !== 'object' || value === null) return
  if (depth >= MAX_NESTING) fail(path, `is nested more than ${MAX_NESTING} levels deep; send flatter values (the agent turns deeper ones into text)`)
  for (const item of Array.isArray(value) ? value : Object.values(value)) shallow(item, path, depth + 1)
}

function parseParams(value: unknown, many: boolean, path: string): Params {
  shallow(value, path)
  if (value === undefined) return fail(path, 'is required (null when parameter capture is off)')
  if (value === null) return null
  if (many) {
    const rows = array(value, path)
    rows.forEach((row, i) => {
      if (typeof row !== 'object' || row === null) fail(`${path}[${i}]`, `each row of an executemany must be an array or object, got ${describe(row)}`)
    })
    return rows as Params
  }
  if (typeof value !== 'object') fail(path, `must be an array, an object of named parameters, or null, got ${describe(value)}`)
  return value as Params
}

function parseQuery(value: unknown, path: string): WireQuery {
  const query = object(value, path)
  const sql = string(required(query, 'sql', path), `${path}.sql`, { max: Number.MAX_SAFE_INTEGER })
  if (utf8Length(sql) > LIMITS.sqlBytes) fail(`${path}.sql`, `is longer than ${LIMITS.sqlBytes / 1024} KB; the agent truncates longer SQL and sets "sql_truncated": true`)
  const many = query.many === undefined ? false : boolean(query.many, `${path}.many`)
  const stack = query.stack === undefined || query.stack === null ? [] : array(query.stack, `${path}.stack`)
  if (stack.length > LIMITS.stackFrames) fail(`${path}.stack`, `has ${stack.length} frames; at most ${LIMITS.stackFrames} application frames are allowed`)
  const frames = stack.map((frame, i) => parseFrame(frame, `${path}.stack[${i}]`))
  const callsite = query.callsite === undefined || query.callsite === null ? (frames[0] ?? null) : parseFrame(query.callsite, `${path}.callsite`)
  const parsed: WireQuery = {
    sql,
    params: parseParams(query.params, many, `${path}.params`),
    db: string(required(query, 'db', path), `${path}.db`, { max: 200 }),
    vendor: string(required(query, 'vendor', path), `${path}.vendor`, { max: 200 }),
    start_ms: number(required(query, 'start_ms', path), `${path}.start_ms`),
    duration_ms: number(required(query, 'duration_ms', path), `${path}.duration_ms`),
    many,
    error: optionalString(query.error, `${path}.error`, { empty: true }),
    callsite,
    stack: frames,
  }
  const template = parseTemplate(query.template, `${path}.template`)
  if (template) parsed.template = template
  if (query.sql_truncated !== undefined) parsed.sql_truncated = boolean(query.sql_truncated, `${path}.sql_truncated`)
  return parsed
}

function shallowObject(value: unknown, path: string): Obj {
  const obj = object(value, path)
  shallow(obj, path)
  return obj
}

function parseUnit(value: unknown, path: string): WireUnit {
  const unit = object(value, path)
  const id = string(required(unit, 'id', path), `${path}.id`, { max: LIMITS.idLength })
  if (!/^[\w.:~-]+$/.test(id)) fail(`${path}.id`, `may only hold letters, digits and . _ - : ~ (a UUID is best), got ${JSON.stringify(id.slice(0, 60))}`)
  const queries = array(required(unit, 'queries', path), `${path}.queries`)
  const status = unit.status === undefined || unit.status === null ? null : number(unit.status, `${path}.status`, { integer: true, min: 100, max: 599 })
  return {
    id,
    kind: oneOf(required(unit, 'kind', path), UNIT_KINDS, `${path}.kind`),
    name: string(required(unit, 'name', path), `${path}.name`),
    method: optionalString(unit.method, `${path}.method`, { max: 20 }),
    path: optionalString(unit.path, `${path}.path`, { empty: true }),
    route: optionalString(unit.route, `${path}.route`, { empty: true }),
    view: optionalString(unit.view, `${path}.view`, { empty: true }),
    status,
    started_at: number(required(unit, 'started_at', path), `${path}.started_at`),
    duration_ms: number(required(unit, 'duration_ms', path), `${path}.duration_ms`),
    meta: unit.meta === undefined || unit.meta === null ? {} : shallowObject(unit.meta, `${path}.meta`),
    queries: queries.map((query, i) => parseQuery(query, `${path}.queries[${i}]`)),
    dropped_queries: unit.dropped_queries === undefined ? 0 : number(unit.dropped_queries, `${path}.dropped_queries`, { integer: true }),
  }
}

function parseRelation(value: unknown, path: string): Relation {
  const relation = object(value, path)
  const parsed: Relation = {
    field: string(required(relation, 'field', path), `${path}.field`, { max: 500 }),
    kind: oneOf(required(relation, 'kind', path), RELATION_KINDS, `${path}.kind`),
    target: string(required(relation, 'target', path), `${path}.target`, { max: 500 }),
  }
  for (const key of ['column', 'target_column', 'through_table', 'source_column'] as const) {
    const text = optionalString(relation[key], `${path}.${key}`, { max: 500 })
    if (text !== null) parsed[key] = text
  }
  return parsed
}

function parseSchema(value: unknown, path: string): Schema | null {
  if (value === undefined || value === null) return null
  const schema = object(value, path)
  const models = array(required(schema, 'models', path), `${path}.models`)
  return {
    models: models.map((value, i) => {
      const at = `${path}.models[${i}]`
      const model = object(value, at)
      const relations = model.relations === undefined ? [] : array(model.relations, `${at}.relations`)
      return {
        model: string(required(model, 'model', at), `${at}.model`, { max: 500 }),
        table: string(required(model, 'table', at), `${at}.table`, { max: 500 }),
        pk: string(required(model, 'pk', at), `${at}.pk`, { max: 500 }),
        relations: relations.map((relation, j) => parseRelation(relation, `${at}.relations[${j}]`)),
      }
    }),
  }
}

function parseApp(value: unknown, path: string): AppInfo {
  const app = object(value, path)
  const origin = optionalString(app.origin, `${path}.origin`, { max: 2000 })
  return {
    name: string(required(app, 'name', path), `${path}.name`, { max: 200 }),
    framework: optionalString(app.framework, `${path}.framework`, { max: 200 }),
    framework_version: optionalString(app.framework_version, `${path}.framework_version`, { max: 200 }),
    host: optionalString(app.host, `${path}.host`, { max: 500 }),
    pid: app.pid === undefined || app.pid === null ? null : number(app.pid, `${path}.pid`, { integer: true }),
    origin: origin === null ? null : parseOrigin(origin, `${path}.origin`),
  }
}

/**
 * Validates a decoded ingest body against §4 and returns a clean copy (unknown fields dropped, optional fields
 * defaulted). Throws `InvalidPayloadError` (400) whose `path` names the first offending field, as
 * `units[0].queries[3].sql`. A unit id repeated within the batch is accepted and stored once, like a resent unit.
 */
export function parseIngestPayload(json: unknown): IngestPayload {
  const body = object(json, '')
  const protocol = required(body, 'protocol', '')
  if (protocol !== PROTOCOL_VERSION) fail('protocol', `this server speaks protocol ${PROTOCOL_VERSION}, got ${describe(protocol)}; use an agent and server of matching versions`)
  const agent = object(required(body, 'agent', ''), 'agent')
  const units = array(required(body, 'units', ''), 'units')
  if (units.length > LIMITS.unitsPerBatch) fail('units', `has ${units.length} units; send at most ${LIMITS.unitsPerBatch} a batch`)
  const parsed: IngestPayload = {
    protocol: PROTOCOL_VERSION,
    agent: { name: string(required(agent, 'name', 'agent'), 'agent.name', { max: 200 }), version: string(required(agent, 'version', 'agent'), 'agent.version', { max: 200 }) },
    app: parseApp(required(body, 'app', ''), 'app'),
    units: units.map((unit, i) => parseUnit(unit, `units[${i}]`)),
  }
  const schema = parseSchema(body.schema, 'schema')
  if (schema) parsed.schema = schema
  return parsed
}
