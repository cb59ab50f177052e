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
  /** Where other templates brought this one in ({% include %}, an inclusion tag, a Jinja macro), innermost first;
   * absent when it was not brought in (template inheritance does not count). */
  included_from?: { name: string; line: number }[]
  /** In a recursion of templates (a template including itself, directly or through others; a Jinja macro or
   * recursive loop calling itself), how many times it went round: a tree's depth, which its positions leave out. */
  recursion_depth?: number
}

/** A request method as a filter takes it: in capitals (`GET`, `PROPFIND`). */
export const REQUEST_METHOD = /^[A-Z]{1,20}$/

/** `shop/_author.html:1`, and where it was included: `shop/_author.html:1, included at shop/book_list.html:5`. */
export function templateText(template: TemplatePosition): string {
  const here = `${template.name}:${template.line}`
  if (!template.included_from?.length) return here // (most queries of a template: the stack key of each on ingest)
  return `${here}, included at ${template.included_from.map((position) => `${position.name}:${position.line}`).join(', at ')}`
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
  /** Django's `Meta.ordering` as the columns its ORDER BY names (`["-created_at"]`), when the agent could tell it;
   * absent when unknown. */
  ordering?: string[]
  /** Django's GenericForeignKeys of the model (`target` over `content_type_id` and `object_id`), when it has any. */
  generic_fks?: GenericForeignKeyInfo[]
  /** Django's default manager, when it is not a plain `objects`: its name, and whether its queryset leaves rows out. */
  manager?: ManagerInfo
  /** Django's save signals with receivers for the model (`pre_save`, `post_save`): bulk writes send none. */
  save_signals?: SaveSignal[]
  /** A Django proxy model: the model whose table it reads (`shop.Book` for `shop.ClassicBook`). Its queries are that
   * model's SQL, so a fix names the concrete model and mentions the proxy. */
  proxy_for?: string
  relations: Relation[]
}

export interface ManagerInfo {
  name: string
  filtered: boolean
}

export const SAVE_SIGNALS = ['pre_save', 'post_save'] as const
export type SaveSignal = (typeof SAVE_SIGNALS)[number]

/** A GenericForeignKey: the attribute, the column of its ContentType FK and the column of the object's key. */
export interface GenericForeignKeyInfo {
  field: string
  ct_column: string
  fk_column: string
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
  /** The kinds of the unit's findings (a list badges each kind by; absent from units stored by an older server). */
  kinds?: FindingKind[]
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
  /** N+1 findings in the route's units, and their queries that repeat an earlier one exactly (summed). */
  n_plus_one: number
  duplicates: number
  /** Units of the route with repeated writes, and with a slow query. */
  repeated_writes: number
  slow_queries: number
  /** How many of the route's units had a finding of each kind. */
  units_with: Record<FindingKind, number>
  last_seen: number
  /** Recent units of the route, oldest first, for the per-route chart. */
  recent: { id: string; started_at: number; queries: number }[]
}

export interface FingerprintInfo {
  id: string
  sql: string
  /** Where it has been seen: per route/unit name and call site, with counts; the most recent places only. */
  seen: { unit_name: string; route: string | null; callsite: Frame | null; units: number; queries: number; last_seen: number }[]
  /** Every place it has been seen (more than `seen` when that is cut), and every query of it stored. */
  places: number
  queries: number
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
  includedFrom: 16,
  idLength: 200,
  textLength: 10_000,
} as const

type Obj = Record<string, unknown>

/**
 * Where a value sits in the body: the place of its container and its key there. Validation hands places down and
 * joins them into a path such as `units[0].queries[3].sql` only when it reports an error.
 */
interface Place {
  readonly in: Place | null
  readonly key: string | number
}

const ROOT: Place | null = null

const placeOf = (container: Place | null, key: string | number): Place => ({ in: container, key })

function pathOf(container: Place | null, key?: string | number): string {
  const base = container === null ? '' : pathOf(container.in, container.key)
  if (key === undefined) return base
  if (typeof key === 'number') return `${base}[${key}]`
  return base ? `${base}.${key}` : key
}

const fail = (path: string, detail: string): never => {
  throw new InvalidPayloadError(path, detail)
}

const describe = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)?.slice(0, 40)}`

// Each check takes the value, then its container's place and key (to name it in an error).

function object(value: unknown, container: Place | null, key?: string | number): Obj {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(pathOf(container, key), `must be an object, got ${describe(value)}`)
  return value as Obj
}

function array(value: unknown, container: Place | null, key: string | number): unknown[] {
  if (!Array.isArray(value)) fail(pathOf(container, key), `must be an array, got ${describe(value)}`)
  return value as unknown[]
}

interface TextLimits {
  max?: number
  empty?: boolean
}

function string(value: unknown, container: Place | null, key: string | number, { max = LIMITS.textLength as number, empty = false }: TextLimits = {}): string {
  if (typeof value !== 'string') return fail(pathOf(container, key), `must be a string, got ${describe(value)}`)
  if (!empty && value.length === 0) fail(pathOf(container, key), 'must not be empty')
  if (value.length > max) fail(pathOf(container, key), `is longer than ${max} characters`)
  return value
}

function optionalString(value: unknown, container: Place | null, key: string, limits?: TextLimits): string | null {
  return value === undefined || value === null ? null : string(value, container, key, limits)
}

interface NumberLimits {
  min?: number
  integer?: boolean
  max?: number
}

function number(value: unknown, container: Place | null, key: string, { min = 0, integer = false, max = Number.MAX_SAFE_INTEGER as number }: NumberLimits = {}): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) return fail(pathOf(container, key), `must be a finite number, got ${describe(value)}`)
  if (integer && !Number.isInteger(value)) fail(pathOf(container, key), `must be an integer, got ${value}`)
  if (value < min || value > max) fail(pathOf(container, key), `must be between ${min} and ${max}, got ${value}`)
  return value
}

function boolean(value: unknown, container: Place | null, key: string): boolean {
  if (typeof value !== 'boolean') fail(pathOf(container, key), `must be true or false, got ${describe(value)}`)
  return value as boolean
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], container: Place | null, key: string | number): T {
  if (typeof value !== 'string' || !allowed.includes(value as T)) fail(pathOf(container, key), `must be one of ${allowed.join(', ')}, got ${describe(value)}`)
  return value as T
}

/** `value`, the field `key` of the object at `container`, which must be present. */
function required(value: unknown, container: Place | null, key: string): unknown {
  if (value === undefined) fail(pathOf(container, key), 'is required')
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

const FRAME_TEXT: TextLimits = { max: 2000 }
const FRAME_FUNCTION: TextLimits = { max: 2000, empty: true }
const INTEGER: NumberLimits = { integer: true }

function parseFrame(value: unknown, container: Place, key: string | number): Frame {
  const frame = object(value, container, key)
  const at = placeOf(container, key)
  return {
    file: string(required(frame.file, at, 'file'), at, 'file', FRAME_TEXT),
    line: number(required(frame.line, at, 'line'), at, 'line', INTEGER),
    function: string(required(frame.function, at, 'function'), at, 'function', FRAME_FUNCTION),
  }
}

function parseTemplate(value: unknown, container: Place): TemplatePosition | null {
  if (value === undefined || value === null) return null
  const template = object(value, container, 'template')
  const at = placeOf(container, 'template')
  const parsed: TemplatePosition = parsePosition(template, at)
  if (template.included_from !== undefined && template.included_from !== null) {
    const outer = array(template.included_from, at, 'included_from')
    if (outer.length > LIMITS.includedFrom) fail(pathOf(at, 'included_from'), `has ${outer.length} positions; at most ${LIMITS.includedFrom} are allowed`)
    const outerAt = placeOf(at, 'included_from')
    if (outer.length > 0) parsed.included_from = outer.map((position, i) => parsePosition(object(position, outerAt, i), placeOf(outerAt, i)))
  }
  if (template.recursion_depth !== undefined && template.recursion_depth !== null) {
    const depth = number(template.recursion_depth, at, 'recursion_depth', INTEGER)
    if (depth > 0) parsed.recursion_depth = depth
  }
  return parsed
}

function parsePosition(position: Obj, at: Place): { name: string; line: number } {
  return {
    name: string(required(position.name, at, 'name'), at, 'name', FRAME_TEXT),
    line: number(required(position.line, at, 'line'), at, 'line', INTEGER),
  }
}

/** JSON values (params, meta) may nest this deep; deeper ones would overflow the stack when stored or analysed. */
export const MAX_NESTING = 32

/** The depth of arrays/objects in `value`, looking no deeper than just past MAX_NESTING. */
function nesting(value: unknown, depth = 0): number {
  if (typeof value !== 'object' || value === null || depth > MAX_NESTING) return depth
  let deepest = depth + 1
  for (const item of Array.isArray(value) ? value : Object.values(value)) if (typeof item === 'object' && item !== null) deepest = Math.max(deepest, nesting(item, depth + 1))
  return deepest
}

function shallow<T>(value: T, container: Place, key: string): T {
  if (nesting(value) > MAX_NESTING) fail(pathOf(container, key), `is nested more than ${MAX_NESTING} levels deep; send flatter values (the agent turns deeper ones into text)`)
  return value
}

function parseParams(value: unknown, many: boolean, container: Place): Params {
  if (value === undefined) return fail(pathOf(container, 'params'), 'is required (null when parameter capture is off)')
  if (value === null) return null
  shallow(value, container, 'params')
  if (many) {
    const rows = array(value, container, 'params')
    rows.forEach((row, i) => {
      if (typeof row !== 'object' || row === null) fail(pathOf(placeOf(container, 'params'), i), `each row of an executemany must be an array or object, got ${describe(row)}`)
    })
    return rows as Params
  }
  if (typeof value !== 'object') fail(pathOf(container, 'params'), `must be an array, an object of named parameters, or null, got ${describe(value)}`)
  return value as Params
}

const UNLIMITED: TextLimits = { max: Number.MAX_SAFE_INTEGER }
const SHORT_TEXT: TextLimits = { max: 200 }
const ANY_TEXT: TextLimits = { empty: true }

function parseQuery(value: unknown, container: Place, index: number): WireQuery {
  const query = object(value, container, index)
  const at = placeOf(container, index)
  const sql = string(required(query.sql, at, 'sql'), at, 'sql', UNLIMITED)
  if (utf8Length(sql) > LIMITS.sqlBytes) fail(pathOf(at, 'sql'), `is longer than ${LIMITS.sqlBytes / 1024} KB; the agent truncates longer SQL and sets "sql_truncated": true`)
  const many = query.many === undefined ? false : boolean(query.many, at, 'many')
  const stack = query.stack === undefined || query.stack === null ? [] : array(query.stack, at, 'stack')
  if (stack.length > LIMITS.stackFrames) fail(pathOf(at, 'stack'), `has ${stack.length} frames; at most ${LIMITS.stackFrames} application frames are allowed`)
  const frames: Frame[] = []
  if (stack.length > 0) {
    const stackAt = placeOf(at, 'stack')
    for (let i = 0; i < stack.length; i++) frames.push(parseFrame(stack[i], stackAt, i))
  }
  const callsite = query.callsite === undefined || query.callsite === null ? (frames[0] ?? null) : parseFrame(query.callsite, at, 'callsite')
  const parsed: WireQuery = {
    sql,
    params: parseParams(query.params, many, at),
    db: string(required(query.db, at, 'db'), at, 'db', SHORT_TEXT),
    vendor: string(required(query.vendor, at, 'vendor'), at, 'vendor', SHORT_TEXT),
    start_ms: number(required(query.start_ms, at, 'start_ms'), at, 'start_ms'),
    duration_ms: number(required(query.duration_ms, at, 'duration_ms'), at, 'duration_ms'),
    many,
    error: optionalString(query.error, at, 'error', ANY_TEXT),
    callsite,
    stack: frames,
  }
  const template = parseTemplate(query.template, at)
  if (template) parsed.template = template
  if (query.sql_truncated !== undefined) parsed.sql_truncated = boolean(query.sql_truncated, at, 'sql_truncated')
  return parsed
}

const UNITS: Place = placeOf(ROOT, 'units')

function parseUnit(value: unknown, index: number): WireUnit {
  const unit = object(value, UNITS, index)
  const at = placeOf(UNITS, index)
  const id = string(required(unit.id, at, 'id'), at, 'id', { max: LIMITS.idLength })
  if (!/^[\w.:~-]+$/.test(id)) fail(pathOf(at, 'id'), `may only hold letters, digits and . _ - : ~ (a UUID is best), got ${JSON.stringify(id.slice(0, 60))}`)
  const queries = array(required(unit.queries, at, 'queries'), at, 'queries')
  const status = unit.status === undefined || unit.status === null ? null : number(unit.status, at, 'status', { integer: true, min: 100, max: 599 })
  const queriesAt = placeOf(at, 'queries')
  return {
    id,
    kind: oneOf(required(unit.kind, at, 'kind'), UNIT_KINDS, at, 'kind'),
    name: string(required(unit.name, at, 'name'), at, 'name'),
    method: optionalString(unit.method, at, 'method', { max: 20 }),
    path: optionalString(unit.path, at, 'path', ANY_TEXT),
    route: optionalString(unit.route, at, 'route', ANY_TEXT),
    view: optionalString(unit.view, at, 'view', ANY_TEXT),
    status,
    started_at: number(required(unit.started_at, at, 'started_at'), at, 'started_at'),
    duration_ms: number(required(unit.duration_ms, at, 'duration_ms'), at, 'duration_ms'),
    meta: unit.meta === undefined || unit.meta === null ? {} : shallow(object(unit.meta, at, 'meta'), at, 'meta'),
    queries: queries.map((query, i) => parseQuery(query, queriesAt, i)),
    dropped_queries: unit.dropped_queries === undefined ? 0 : number(unit.dropped_queries, at, 'dropped_queries', INTEGER),
  }
}

function parseRelation(value: unknown, container: Place, index: number): Relation {
  const relation = object(value, container, index)
  const at = placeOf(container, index)
  const parsed: Relation = {
    field: string(required(relation.field, at, 'field'), at, 'field', { max: 500 }),
    kind: oneOf(required(relation.kind, at, 'kind'), RELATION_KINDS, at, 'kind'),
    target: string(required(relation.target, at, 'target'), at, 'target', { max: 500 }),
  }
  for (const key of ['column', 'target_column', 'through_table', 'source_column'] as const) {
    const text = optionalString(relation[key], at, key, { max: 500 })
    if (text !== null) parsed[key] = text
  }
  return parsed
}

function parseGenericForeignKey(value: unknown, container: Place, index: number): GenericForeignKeyInfo {
  const gfk = object(value, container, index)
  const at = placeOf(container, index)
  return {
    field: string(required(gfk.field, at, 'field'), at, 'field', { max: 500 }),
    ct_column: string(required(gfk.ct_column, at, 'ct_column'), at, 'ct_column', { max: 500 }),
    fk_column: string(required(gfk.fk_column, at, 'fk_column'), at, 'fk_column', { max: 500 }),
  }
}

function parseManager(value: unknown, at: Place): ManagerInfo {
  const manager = object(value, at, 'manager')
  const managerAt = placeOf(at, 'manager')
  return {
    name: string(required(manager.name, managerAt, 'name'), managerAt, 'name', { max: 500 }),
    filtered: boolean(required(manager.filtered, managerAt, 'filtered'), managerAt, 'filtered'),
  }
}

function parseSchema(value: unknown): Schema | null {
  if (value === undefined || value === null) return null
  const schema = object(value, ROOT, 'schema')
  const schemaAt = placeOf(ROOT, 'schema')
  const models = array(required(schema.models, schemaAt, 'models'), schemaAt, 'models')
  const modelsAt = placeOf(schemaAt, 'models')
  return {
    models: models.map((value, i) => {
      const model = object(value, modelsAt, i)
      const at = placeOf(modelsAt, i)
      const relations = model.relations === undefined ? [] : array(model.relations, at, 'relations')
      const relationsAt = placeOf(at, 'relations')
      const ordering = model.ordering === undefined || model.ordering === null ? null : array(model.ordering, at, 'ordering')
      const orderingAt = placeOf(at, 'ordering')
      const generic = model.generic_fks === undefined || model.generic_fks === null ? null : array(model.generic_fks, at, 'generic_fks')
      const genericAt = placeOf(at, 'generic_fks')
      const signals = model.save_signals === undefined || model.save_signals === null ? null : array(model.save_signals, at, 'save_signals')
      const signalsAt = placeOf(at, 'save_signals')
      return {
        model: string(required(model.model, at, 'model'), at, 'model', { max: 500 }),
        table: string(required(model.table, at, 'table'), at, 'table', { max: 500 }),
        pk: string(required(model.pk, at, 'pk'), at, 'pk', { max: 500 }),
        ...(ordering ? { ordering: ordering.map((field, k) => string(field, orderingAt, k, { max: 500 })) } : {}),
        ...(generic ? { generic_fks: generic.map((gfk, k) => parseGenericForeignKey(gfk, genericAt, k)) } : {}),
        ...(model.manager === undefined || model.manager === null ? {} : { manager: parseManager(model.manager, at) }),
        ...(model.proxy_for === undefined || model.proxy_for === null ? {} : { proxy_for: string(model.proxy_for, at, 'proxy_for', { max: 500 }) }),
        // Names this server does not know (a later agent's) are dropped, as unknown fields are.
        ...(signals ? { save_signals: signals.map((signal, k) => string(signal, signalsAt, k, { max: 100 })).filter((name): name is SaveSignal => (SAVE_SIGNALS as readonly string[]).includes(name)) } : {}),
        relations: relations.map((relation, j) => parseRelation(relation, relationsAt, j)),
      }
    }),
  }
}

function parseApp(value: unknown): AppInfo {
  const app = object(value, ROOT, 'app')
  const at = placeOf(ROOT, 'app')
  const origin = optionalString(app.origin, at, 'origin', { max: 2000 })
  return {
    name: string(required(app.name, at, 'name'), at, 'name', SHORT_TEXT),
    framework: optionalString(app.framework, at, 'framework', SHORT_TEXT),
    framework_version: optionalString(app.framework_version, at, 'framework_version', SHORT_TEXT),
    host: optionalString(app.host, at, 'host', { max: 500 }),
    pid: app.pid === undefined || app.pid === null ? null : number(app.pid, at, 'pid', INTEGER),
    origin: origin === null ? null : parseOrigin(origin, pathOf(at, 'origin')),
  }
}

/**
 * Validates a decoded ingest body against §4 and returns a clean copy (unknown fields dropped, optional fields
 * defaulted). Throws `InvalidPayloadError` (400) whose `path` names the first offending field, as
 * `units[0].queries[3].sql`. A unit id repeated within the batch is accepted and stored once, like a resent unit.
 */
export function parseIngestPayload(json: unknown): IngestPayload {
  const body = object(json, ROOT)
  const protocol = required(body.protocol, ROOT, 'protocol')
  if (protocol !== PROTOCOL_VERSION) fail('protocol', `this server speaks protocol ${PROTOCOL_VERSION}, got ${describe(protocol)}; use an agent and server of matching versions`)
  const agent = object(required(body.agent, ROOT, 'agent'), ROOT, 'agent')
  const agentAt = placeOf(ROOT, 'agent')
  const units = array(required(body.units, ROOT, 'units'), ROOT, 'units')
  if (units.length > LIMITS.unitsPerBatch) fail('units', `has ${units.length} units; send at most ${LIMITS.unitsPerBatch} a batch`)
  const parsed: IngestPayload = {
    protocol: PROTOCOL_VERSION,
    agent: { name: string(required(agent.name, agentAt, 'name'), agentAt, 'name', SHORT_TEXT), version: string(required(agent.version, agentAt, 'version'), agentAt, 'version', SHORT_TEXT) },
    app: parseApp(required(body.app, ROOT, 'app')),
    units: units.map((unit, i) => parseUnit(unit, i)),
  }
  const schema = parseSchema(body.schema)
  if (schema) parsed.schema = schema
  return parsed
}
