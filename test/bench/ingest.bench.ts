// Server ingest throughput: queries/s through HTTP → parse/validate → analyse → SQLite commit, for realistic Django
// units of 50–500 queries, next to the raw rate of inserting the same rows with better-sqlite3 in the same run (the
// limit the server can approach), with the share of the time each stage takes and the server's memory after a long
// ingest (retention keeps it bounded). Nothing here asserts on time.
import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { Worker } from 'node:worker_threads'
import { analyseUnit } from '../../server/src/analysis/analyse-unit.js'
import { parseIngestPayload, type IngestPayload, type Unit, type WireQuery, type WireUnit } from '../../server/src/protocol.js'
import { startServer } from '../../server/src/server.js'
import { MIGRATIONS } from '../../server/src/store/migrations.js'

const UNITS_PER_BATCH = 20
const TEMPLATE_BATCHES = 8
const TIMED_BATCHES = 60
/** HTTP and raw inserts take turns in rounds of this many batches. */
const ROUND = 10
const MEMORY_BATCHES = 250

setFlagsFromString('--expose_gc')
const gc = runInNewContext('gc') as () => void

let seed = 7
const random = () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}
const int = (max: number) => 1 + Math.floor(random() * max)

const frame = (file: string, line: number, fn: string) => ({ file, line, function: fn })
const APP = { name: 'bookshop', framework: 'django', framework_version: '5.2.17', host: 'bench', pid: 1, origin: 'http://127.0.0.1:8000' }
const SCHEMA = {
  models: [
    { model: 'shop.Author', table: 'shop_author', pk: 'id', relations: [{ field: 'books', kind: 'reverse_fk' as const, target: 'shop.Book', target_column: 'author_id' }] },
    { model: 'shop.Book', table: 'shop_book', pk: 'id', relations: [
      { field: 'author', kind: 'fk' as const, column: 'author_id', target: 'shop.Author' },
      { field: 'reviews', kind: 'reverse_fk' as const, target: 'shop.Review', target_column: 'book_id' },
      { field: 'tags', kind: 'm2m' as const, target: 'shop.Tag', through_table: 'shop_book_tags', source_column: 'book_id', target_column: 'tag_id' }] },
    { model: 'shop.Review', table: 'shop_review', pk: 'id', relations: [{ field: 'book', kind: 'fk' as const, column: 'book_id', target: 'shop.Book' }] },
    { model: 'shop.Tag', table: 'shop_tag', pk: 'id', relations: [] },
  ],
}
const TABLES = ['shop_order', 'shop_customer', 'shop_invoice', 'shop_product', 'shop_coupon', 'auth_user', 'django_session', 'shop_cart']

/** A Django request of `size` queries: a list, two N+1 loops, duplicated counts, a write loop, savepoints, assorted lookups. */
function unitOf(id: string, size: number, startedAt: number): WireUnit {
  const queries: WireQuery[] = []
  const stack = (line: number, fn = 'book_list') => [frame('shop/views.py', line, fn), frame('shop/services.py', 88, 'catalogue'), frame('shop/middleware.py', 12, '__call__')]
  let at = 0
  const push = (sql: string, params: WireQuery['params'], line: number, extra: Partial<WireQuery> = {}) => {
    const duration = 0.02 + random() * 0.3
    const frames = stack(line)
    queries.push({ sql, params, db: 'default', vendor: 'sqlite', start_ms: at, duration_ms: duration, many: false, error: null, callsite: frames[0], stack: frames, ...extra })
    at += duration + 0.01
  }
  push('SAVEPOINT "s1_x1"', null, 30)
  push('SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id", "shop_book"."price" FROM "shop_book" ORDER BY "shop_book"."title" ASC LIMIT 100', [], 31)
  const loop = Math.floor(size * 0.35)
  for (let i = 0; i < loop; i++) {
    push('SELECT "shop_author"."id", "shop_author"."name", "shop_author"."email" FROM "shop_author" WHERE "shop_author"."id" = %s LIMIT 21', [int(5000)], 34, { template: { name: 'shop/book_list.html', line: 12 } })
    push('SELECT "shop_review"."id", "shop_review"."rating", "shop_review"."body" FROM "shop_review" WHERE "shop_review"."book_id" = %s', [int(5000)], 36)
  }
  for (let i = 0; i < 3; i++) push('SELECT COUNT(*) AS "__count" FROM "shop_book" WHERE "shop_book"."is_active"', [], 40 + i)
  for (let i = 0; i < Math.floor(size * 0.1); i++) push('UPDATE "shop_book" SET "views" = ("shop_book"."views" + %s) WHERE "shop_book"."id" = %s', [1, int(5000)], 50)
  while (queries.length < size - 1) {
    const table = TABLES[queries.length % TABLES.length]
    push(`SELECT "${table}"."id", "${table}"."created_at", "${table}"."status" FROM "${table}" WHERE ("${table}"."status" = %s AND "${table}"."created_at" >= %s) ORDER BY "${table}"."created_at" DESC LIMIT 10`, ['open', '2025-11-01T00:00:00'], 60 + (queries.length % 7))
  }
  push('RELEASE SAVEPOINT "s1_x1"', null, 70)
  return { id, kind: 'request', name: 'GET /books/', method: 'GET', path: '/books/?page=2', route: 'books/', view: 'shop.views.book_list', status: 200, started_at: startedAt, duration_ms: at + 5, meta: {}, queries, dropped_queries: 0 }
}

const payloadOf = (units: WireUnit[]): IngestPayload => ({ protocol: 1, agent: { name: 'querysight-python', version: '0.1.0' }, app: APP, schema: SCHEMA, units })

// Template batches: unit ids carry @@B@@, replaced per send, so every send is new data without building it in the timed loop.
let templates: IngestPayload[] | null = Array.from({ length: TEMPLATE_BATCHES }, (_, b) =>
  payloadOf(Array.from({ length: UNITS_PER_BATCH }, (_, u) => unitOf(`bench-@@B@@-${b}-${u}`, 50 + Math.floor(random() * 451), 1763800000000 + b * 1000 + u))),
)
const bodies = templates.map((payload) => JSON.stringify(payload))
const queriesPerTemplate = templates.map((payload) => payload.units.reduce((sum, unit) => sum + unit.queries.length, 0))
const avgQueriesPerUnit = queriesPerTemplate.reduce((a, b) => a + b, 0) / (TEMPLATE_BATCHES * UNITS_PER_BATCH)
const bodyFor = (batch: number) => bodies[batch % TEMPLATE_BATCHES].replaceAll('@@B@@', String(batch))
const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const mb = (bytes: number) => (bytes / (1 << 20)).toFixed(1)

templates = null

/**
 * The agent side runs in a worker thread (its own event loop, like a separate process), so building and sending the
 * requests does not share the server's thread: what is timed is the server.
 */
const AGENT = `
const { parentPort, workerData: { bodies } } = require('node:worker_threads')
parentPort.on('message', async ({ url, from, count }) => {
  try {
    for (let b = from; b < from + count; b++) {
      const body = bodies[b % bodies.length].replaceAll('@@B@@', String(b))
      const response = await fetch(url + '/api/v1/ingest', { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      if (response.status !== 202) throw new Error('ingest answered ' + response.status + ': ' + (await response.text()))
      await response.arrayBuffer()
    }
    parentPort.postMessage({ ok: true })
  } catch (err) {
    parentPort.postMessage({ ok: false, error: String(err) })
  }
})`
const agent = new Worker(AGENT, { eval: true, workerData: { bodies } })
const send = (url: string, from: number, count: number) =>
  new Promise<void>((resolve, reject) => {
    agent.once('message', (answer: { ok: boolean; error?: string }) => (answer.ok ? resolve() : reject(new Error(answer.error))))
    agent.postMessage({ url, from, count })
  })

console.log(`units of 50–500 queries (average ${avgQueriesPerUnit.toFixed(0)}), ${UNITS_PER_BATCH} units a batch, ~${mb(bodies[0].length)} MiB a batch`)

/**
 * The raw limit: the rows the store writes for the analysed units (the unit row with its JSON, its fingerprints, one
 * row per fingerprint and call site), inserted straight into a fresh database of the server's schema with the same
 * journal and sync settings, one transaction a batch, with the JSON already serialized and the rows already built.
 */
function rawInserter(analysed: Unit[][], file: string) {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  for (const migration of MIGRATIONS) db.exec(migration)
  const insertUnit = db.prepare(`INSERT INTO units (id, app, kind, name, method, path, route, status, started_at, duration_ms, queries, db_ms, duplicates, n_plus_one, findings, severity,
    has_n_plus_one, has_duplicate, has_repeated_write, has_slow_query, unit_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, 0, 0, ?)`)
  const insertFingerprint = db.prepare('INSERT OR IGNORE INTO fingerprints (id, sql) VALUES (?, ?)')
  const insertSite = db.prepare('INSERT INTO fingerprint_sites (fingerprint, unit_seq, unit_name, route, file, line, function, queries, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)')
  const rows = analysed.map((units) =>
    units.map((u) => {
      const sites = new Map<string, unknown[]>()
      for (const q of u.queries) {
        const key = `${q.fingerprint}\0${q.callsite?.file}\0${q.callsite?.line}`
        const site = sites.get(key)
        if (site) (site[7] as number)++
        else sites.set(key, [q.fingerprint, 0, u.name, u.route, q.callsite?.file ?? null, q.callsite?.line ?? null, q.callsite?.function ?? null, 1, u.started_at])
      }
      return {
        unit: [u.id, u.app, u.kind, u.name, u.method, u.path, u.route, u.status, u.started_at, u.duration_ms, u.summary.queries, u.summary.db_ms, u.summary.duplicates, u.summary.n_plus_one, u.summary.findings, u.summary.severity, JSON.stringify(u)],
        fingerprints: Object.entries(u.fingerprints),
        sites: [...sites.values()],
      }
    }),
  )
  const insertBatch = db.transaction((batch: typeof rows[number], suffix: string) => {
    for (const row of batch) {
      const seq = insertUnit.run(`${row.unit[0]}-${suffix}`, ...row.unit.slice(1)).lastInsertRowid
      for (const [id, sql] of row.fingerprints) insertFingerprint.run(id, sql)
      for (const site of row.sites) insertSite.run(site[0], seq, ...site.slice(2))
    }
  })
  return {
    /** Inserts batches `from` to `from + count - 1`; answers how long it took and how many queries they held. */
    insert(from: number, count: number) {
      const start = performance.now()
      let queries = 0
      for (let b = from; b < from + count; b++) {
        insertBatch(rows[b % TEMPLATE_BATCHES], String(b))
        queries += queriesPerTemplate[b % TEMPLATE_BATCHES]
      }
      return { ms: performance.now() - start, queries }
    },
    /** Closes the database and lets go of the rows (the memory figures below are the server's). */
    close() {
      db.close()
      rows.length = 0
    },
  }
}

const dir = mkdtempSync(join(tmpdir(), 'qs-bench-ingest-'))
try {
  // The raw baseline's rows: the analysed units of the template batches (built untimed).
  const raw = rawInserter(
    Array.from({ length: TEMPLATE_BATCHES }, (_, b) => {
      const payload = parseIngestPayload(JSON.parse(bodyFor(2_000_000 + b)))
      return payload.units.map((unit) => analyseUnit(unit, { app: payload.app, schema: payload.schema ?? null }))
    }),
    join(dir, 'raw.db'),
  )

  // 1. Through the real server over HTTP into a WAL database file, alternating with the raw inserts in rounds of
  //    ROUND batches, so both see the same machine (the load of a shared machine changes within seconds).
  const server = await startServer({ port: 0, db: join(dir, 'server.db'), ui: false, maxUnits: 10_000 })
  await send(server.url, 1_000_000, 3) // warm-up
  raw.insert(1_000_000, 3)
  let httpMs = 0
  let httpQueries = 0
  let rawMs = 0
  let rawQueries = 0
  for (let from = 0; from < TIMED_BATCHES; from += ROUND) {
    const count = Math.min(ROUND, TIMED_BATCHES - from)
    const start = performance.now()
    await send(server.url, from, count)
    httpMs += performance.now() - start
    for (let b = from; b < from + count; b++) httpQueries += queriesPerTemplate[b % TEMPLATE_BATCHES]
    const inserted = raw.insert(from, count)
    rawMs += inserted.ms
    rawQueries += inserted.queries
  }
  raw.close()
  const httpRate = httpQueries / (httpMs / 1000)

  // 2. The stages alone, in this process, on the same bodies.
  let parseMs = 0
  let analyseMs = 0
  let analysed: Unit[][] | null = []
  for (let b = 0; b < 2; b++) {
    const payload = parseIngestPayload(JSON.parse(bodyFor(1_500_000 + b))) // warm-up
    for (const unit of payload.units) JSON.stringify(analyseUnit(unit, { app: payload.app, schema: payload.schema ?? null }))
  }
  for (let b = 0; b < TEMPLATE_BATCHES; b++) {
    const body = bodyFor(2_000_000 + b)
    let t = performance.now()
    const payload = parseIngestPayload(JSON.parse(body))
    parseMs += performance.now() - t
    t = performance.now()
    analysed.push(payload.units.map((unit) => analyseUnit(unit, { app: payload.app, schema: payload.schema ?? null })))
    analyseMs += performance.now() - t
  }
  let stringifyMs = 0
  for (const units of analysed) {
    const t = performance.now()
    for (const unit of units) JSON.stringify(unit)
    stringifyMs += performance.now() - t
  }
  analysed = null
  console.log(`HTTP → parse → analyse → commit   ${fmt(httpRate)} queries/s  (${fmt((TIMED_BATCHES * UNITS_PER_BATCH) / (httpMs / 1000))} units/s, ${fmt(httpQueries)} queries)`)
  const stageQueries = queriesPerTemplate.reduce((a, b) => a + b, 0)
  console.log(`  JSON.parse + validate alone      ${fmt(stageQueries / (parseMs / 1000))} queries/s`)
  console.log(`  analyse alone                    ${fmt(stageQueries / (analyseMs / 1000))} queries/s`)
  console.log(`  JSON.stringify of analysed units ${fmt(stageQueries / (stringifyMs / 1000))} queries/s`)
  const rawRate = rawQueries / (rawMs / 1000)
  const ratio = httpRate / rawRate
  console.log(`raw better-sqlite3 inserts         ${fmt(rawRate)} queries/s  (same rows, JSON pre-serialized, in turns with the HTTP rounds)`)
  console.log(`server / raw                       ${ratio.toFixed(3)}`)
  const share = (ms: number) => `${(((ms / TEMPLATE_BATCHES) * TIMED_BATCHES * 100) / httpMs).toFixed(0)}%`
  console.log(`share of the HTTP path: parse ${share(parseMs)}, analyse ${share(analyseMs)}, stringify ${share(stringifyMs)}, raw insert ${((rawMs / httpMs) * 100).toFixed(0)}%; the rest is HTTP, body reading and GC`)

  // 3. Memory under sustained load: keep ingesting; retention (here 2,000 units) keeps the store and the heap bounded.
  await server.close()
  const bounded = await startServer({ port: 0, db: join(dir, 'sustained.db'), ui: false, maxUnits: 2000 })
  const memory: { queries: number; rss: number; heap: number }[] = []
  let sustained = 0
  for (let step = 1; step <= 2; step++) {
    await send(bounded.url, 3_000_000 + (step - 1) * (MEMORY_BATCHES / 2), MEMORY_BATCHES / 2)
    for (let b = 0; b < MEMORY_BATCHES / 2; b++) sustained += queriesPerTemplate[b % TEMPLATE_BATCHES]
    gc()
    const { rss, heapUsed } = process.memoryUsage()
    memory.push({ queries: sustained, rss, heap: heapUsed })
    console.log(`after ${fmt(sustained)} queries (${fmt(step * (MEMORY_BATCHES / 2) * UNITS_PER_BATCH)} units, 2,000 kept): RSS ${mb(rss)} MiB (with the agent thread), server heap ${mb(heapUsed)} MiB`)
  }
  await bounded.close()
  const [half, full] = memory

  console.log(
    `BENCH_JSON ${JSON.stringify({
      rows: [
        { metric: 'ingest over HTTP (parse, analyse, commit)', value: httpRate, unit: 'queries/s', ratio, note: `vs raw better-sqlite3 inserts of the same rows; ${avgQueriesPerUnit.toFixed(0)} queries/unit` },
        { metric: 'raw better-sqlite3 inserts, same rows', value: rawRate, unit: 'queries/s' },
        { metric: 'parse + validate alone', value: stageQueries / (parseMs / 1000), unit: 'queries/s' },
        { metric: 'analyse alone', value: stageQueries / (analyseMs / 1000), unit: 'queries/s' },
        { metric: 'JSON.stringify of analysed units alone', value: stageQueries / (stringifyMs / 1000), unit: 'queries/s' },
        { metric: `server RSS after ${fmt(full.queries)} queries`, value: full.rss / (1 << 20), unit: 'MiB', ratio: full.rss / half.rss, note: `ratio to RSS after ${fmt(half.queries)} queries (retention 2,000 units)` },
        { metric: `server heap after ${fmt(full.queries)} queries`, value: full.heap / (1 << 20), unit: 'MiB', ratio: full.heap / half.heap, note: `ratio to heap after ${fmt(half.queries)} queries` },
      ],
    })}`,
  )
} finally {
  await agent.terminate()
  rmSync(dir, { recursive: true, force: true })
}
