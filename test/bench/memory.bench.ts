// Server memory under sustained ingest: a querysight server in a process of its own (started here with the default
// retention, --max-units 10,000) takes 1,000,000 queries over HTTP (20,000 units of 50 queries, the first 10,000
// removed by retention on the way). Its RSS and V8 heap (after a full GC) are printed at start, halfway and at the
// end, side by side; nothing asserts on them. Run alone: node test/bench/run.mjs memory
import { fork, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import type { WireQuery, WireUnit } from '../../server/src/protocol.js'
import { startServer } from '../../server/src/server.js'

const TOTAL_QUERIES = 1_000_000
const QUERIES_PER_UNIT = 50
const UNITS_PER_BATCH = 20
const MAX_UNITS = 10_000
const PARALLEL = 2

interface Memory {
  rss: number
  heapUsed: number
  units: number
}

function ask<T>(child: ChildProcess, message: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (answer) => resolve(answer as T))
    child.send(message)
  })
}

const SITES = Array.from({ length: 8 }, (_, i) => ({ file: `shop/views_${i}.py`, line: 20 + i, function: `view_${i}` }))
const SQL = [
  'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id" FROM "shop_book" WHERE "shop_book"."id" = %s LIMIT 21',
  'SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author" WHERE "shop_author"."id" = %s LIMIT 21',
  'SELECT "shop_review"."id", "shop_review"."rating", "shop_review"."text" FROM "shop_review" WHERE "shop_review"."book_id" = %s ORDER BY "shop_review"."created" DESC',
  'UPDATE "shop_stock" SET "count" = %s WHERE "shop_stock"."book_id" = %s',
  'SELECT COUNT(*) AS "__count" FROM "shop_book" WHERE "shop_book"."published" <= %s',
]

function unitOf(n: number): WireUnit {
  const queries: WireQuery[] = Array.from({ length: QUERIES_PER_UNIT }, (_, i) => {
    const site = SITES[(n + i) % SITES.length]
    return { sql: SQL[i % SQL.length], params: [n * 100 + i, 'x'.repeat(i % 20)], db: 'default', vendor: 'postgresql', start_ms: i * 0.3, duration_ms: 0.2, many: false, error: null, callsite: site, stack: [site] }
  })
  return { id: `memory-${n}`, kind: 'request', name: `GET /books/${n % 50}/`, method: 'GET', path: `/books/${n % 50}/`, route: 'books/<int:pk>/', view: 'shop.views.book_detail', status: 200, started_at: Date.now(), duration_ms: 20, meta: {}, queries, dropped_queries: 0 }
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'qs-memory-bench-'))
  const db = join(dir, 'memory.db')
  const child = fork(process.argv[1], [], { env: { ...process.env, QS_MEMORY_SERVER: db }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  try {
    const { url } = await new Promise<{ url: string }>((resolve) => child.once('message', (m) => resolve(m as { url: string })))
    const mib = (bytes: number) => bytes / 2 ** 20
    const start = await ask<Memory>(child, 'memory')
    console.log(`server at start: RSS ${mib(start.rss).toFixed(1)} MiB, heap ${mib(start.heapUsed).toFixed(1)} MiB`)

    const totalUnits = TOTAL_QUERIES / QUERIES_PER_UNIT
    const batches = totalUnits / UNITS_PER_BATCH
    const samples: { queries: number; memory: Memory }[] = []
    let next = 0
    /** Sends batch after batch until `until` batches were taken (by this and the other senders). */
    const sendUntil = async (until: number) => {
      while (next < until) {
        const batch = next++
        const units = Array.from({ length: UNITS_PER_BATCH }, (_, i) => unitOf(batch * UNITS_PER_BATCH + i))
        const body = JSON.stringify({ protocol: 1, agent: { name: 'bench', version: '0' }, app: { name: 'bookshop', framework: 'django' }, units })
        const response = await fetch(`${url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
        if (response.status !== 202) throw new Error(`ingest answered ${response.status}: ${await response.text()}`)
      }
    }
    const began = performance.now()
    for (const until of [batches / 2, batches]) {
      await Promise.all(Array.from({ length: PARALLEL }, () => sendUntil(until)))
      const memory = await ask<Memory>(child, 'memory')
      const queries = until * UNITS_PER_BATCH * QUERIES_PER_UNIT
      samples.push({ queries, memory })
      console.log(`after ${queries.toLocaleString('en-US')} queries: RSS ${mib(memory.rss).toFixed(1)} MiB, heap ${mib(memory.heapUsed).toFixed(1)} MiB, ${memory.units.toLocaleString('en-US')} units kept`)
    }
    const seconds = (performance.now() - began) / 1000
    const [half, full] = samples
    const dbBytes = statSync(db).size + (statSync(`${db}-wal`, { throwIfNoEntry: false })?.size ?? 0)
    console.log(`${TOTAL_QUERIES.toLocaleString('en-US')} queries in ${seconds.toFixed(1)} s over HTTP (${Math.round(TOTAL_QUERIES / seconds).toLocaleString('en-US')} queries/s); database ${mib(dbBytes).toFixed(0)} MiB on disk`)
    console.log(
      `BENCH_JSON ${JSON.stringify({
        rows: [
          { metric: 'server RSS at start', value: mib(start.rss), unit: 'MiB', note: `heap ${mib(start.heapUsed).toFixed(1)} MiB` },
          { metric: 'server RSS after 500,000 queries', value: mib(half.memory.rss), unit: 'MiB', ratio: half.memory.rss / start.rss, note: `ratio to RSS at start; ${half.memory.units.toLocaleString('en-US')} units kept` },
          { metric: 'server RSS after 1,000,000 queries', value: mib(full.memory.rss), unit: 'MiB', ratio: full.memory.rss / start.rss, note: `ratio to RSS at start; ${(full.memory.rss / half.memory.rss).toFixed(2)}× the RSS at 500,000 (retention --max-units ${MAX_UNITS.toLocaleString('en-US')} keeps ${full.memory.units.toLocaleString('en-US')} units)` },
          { metric: 'server heap after 1,000,000 queries', value: mib(full.memory.heapUsed), unit: 'MiB', ratio: full.memory.heapUsed / start.heapUsed, note: `after a full GC; ratio to heap at start (${mib(start.heapUsed).toFixed(1)} MiB)` },
          { metric: 'database on disk after 1,000,000 queries', value: mib(dbBytes), unit: 'MiB', note: `${full.memory.units.toLocaleString('en-US')} units of ${QUERIES_PER_UNIT} queries kept` },
        ],
      })}`,
    )
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve))
    if (child.connected) child.send('stop')
    else child.kill()
    await exited
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.env.QS_MEMORY_SERVER) {
  // The server side: nothing but the server in this process; answers 'memory' with its figures after a full GC.
  setFlagsFromString('--expose_gc')
  const gc = runInNewContext('gc') as () => void
  const server = await startServer({ port: 0, db: process.env.QS_MEMORY_SERVER, maxUnits: MAX_UNITS, ui: false })
  process.on('message', async (message) => {
    if (message === 'memory') {
      gc()
      const { rss, heapUsed } = process.memoryUsage()
      const health = (await (await fetch(`${server.url}/api/v1/health`)).json()) as { units: number }
      process.send!({ rss, heapUsed, units: health.units } satisfies Memory)
    } else if (message === 'stop') {
      await server.close()
      process.exit(0)
    }
  })
  process.send!({ url: server.url })
} else {
  await main()
}
