// Live latency: a real Django app (a tiny WSGI project served by wsgiref, the querysight middleware in front, an N+1
// on SQLite) sends its response; the querysight server (`querysight serve`, spawned) announces the unit on an open
// WebSocket. For each of a few hundred paced requests: the time from the response reaching the client (it carries
// the unit id in X-QuerySight-Unit) to the unit's message on the socket, both stamped by this process's clock.
// Next to it, in the same run, the server's own part: a unit POSTed straight to /api/v1/ingest → its message.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { WebSocket } from 'ws'
import { startCli, startPython, stopAll } from '../load/processes.js'

const REQUESTS = 300
const PACE_MS = 40

const DJANGO_APP = String.raw`
import sqlite3, sys
import django
from django.conf import settings

url, db = sys.argv[1], sys.argv[2]
conn = sqlite3.connect(db)
conn.executescript("""
CREATE TABLE IF NOT EXISTS shop_author (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE IF NOT EXISTS shop_book (id INTEGER PRIMARY KEY, title TEXT, author_id INTEGER);
DELETE FROM shop_author; DELETE FROM shop_book;
""")
conn.executemany("INSERT INTO shop_author VALUES (?, ?)", [(i, f"Author {i}") for i in range(1, 6)])
conn.executemany("INSERT INTO shop_book VALUES (?, ?, ?)", [(i, f"Book {i}", 1 + i % 5) for i in range(1, 11)])
conn.commit()
conn.close()

settings.configure(
    DEBUG=True, SECRET_KEY="bench", ALLOWED_HOSTS=["*"], ROOT_URLCONF=__name__,
    INSTALLED_APPS=["querysight.django.QuerySightAppConfig"],
    MIDDLEWARE=["querysight.django.QuerySightMiddleware"],
    DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": db}},
    QUERYSIGHT={"URL": url, "CONSOLE": False, "OVERLAY": False, "APP_NAME": "live-bench"},
)
django.setup()

from django.db import connection
from django.http import JsonResponse
from django.urls import path
from django.core.wsgi import get_wsgi_application
from wsgiref.simple_server import WSGIRequestHandler, make_server


def book_list(request):
    with connection.cursor() as cursor:
        cursor.execute('SELECT "id", "title", "author_id" FROM "shop_book"')
        books = cursor.fetchall()
        for _id, _title, author_id in books:
            cursor.execute('SELECT "id", "name" FROM "shop_author" WHERE "id" = %s', [author_id])
            cursor.fetchone()
    return JsonResponse({"books": len(books)})


urlpatterns = [path("books/", book_list)]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


httpd = make_server("127.0.0.1", 0, get_wsgi_application(), handler_class=Quiet)
print(f"listening on http://127.0.0.1:{httpd.server_port}", flush=True)
httpd.serve_forever()
`

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]
const pace = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const dir = mkdtempSync(join(tmpdir(), 'qs-live-bench-'))
try {
  const server = await startCli(['--db', join(dir, 'live.db')])
  const arrived = new Map<string, number>()
  const socket = new WebSocket(`${server.url.replace('http', 'ws')}/api/v1/live`)
  socket.on('message', (data) => {
    const now = performance.now()
    const message = JSON.parse(String(data))
    if (message.type === 'unit') arrived.set(message.unit.id, now)
  })
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject))

  const app = startPython('-c', [DJANGO_APP, server.url, join(dir, 'app.sqlite3')])
  const appUrl = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const match = /listening on (\S+)\n/.exec(app.stdout())
      if (match) resolve(match[1])
    }
    app.child.stdout.on('data', check)
    void app.exited.then((exit) => reject(new Error(`the Django app exited (${JSON.stringify(exit)}): ${app.stderr()}`)))
  })

  /** Waits until every id has been announced (or 30 s passed: then the missing ones are reported). */
  const announced = async (ids: string[]) => {
    const deadline = performance.now() + 30_000
    while (ids.some((id) => !arrived.has(id)) && performance.now() < deadline) await pace(5)
    const missing = ids.filter((id) => !arrived.has(id))
    if (missing.length) throw new Error(`${missing.length} units never reached the socket`)
  }

  // Warm-up: Django's first request, the agent's first batch with its schema, the server's JIT.
  for (let i = 0; i < 20; i++) await fetch(`${appUrl}/books/`).then((r) => r.text())

  // 1. End to end: Django response → unit on the socket. Requests are paced, as a developer clicking would send them.
  const sent: { id: string; at: number }[] = []
  for (let i = 0; i < REQUESTS; i++) {
    const response = await fetch(`${appUrl}/books/`)
    const at = performance.now()
    await response.text()
    const id = response.headers.get('x-querysight-unit')
    if (!id) throw new Error('the Django response has no X-QuerySight-Unit header')
    sent.push({ id, at })
    await pace(PACE_MS)
  }
  await announced(sent.map((s) => s.id))
  const endToEnd = sent.map(({ id, at }) => arrived.get(id)! - at).sort((a, b) => a - b)

  // 2. The server alone: POST /api/v1/ingest with one unit → its message on the socket.
  const direct: number[] = []
  for (let i = 0; i < REQUESTS; i++) {
    const id = `live-bench-direct-${i}`
    const unit = {
      id, kind: 'request', name: 'GET /books/', method: 'GET', path: '/books/', route: 'books/', status: 200, started_at: Date.now(), duration_ms: 3, meta: {}, dropped_queries: 0,
      queries: Array.from({ length: 11 }, (_, q) => ({ sql: q ? 'SELECT "id", "name" FROM "shop_author" WHERE "id" = %s' : 'SELECT "id", "title", "author_id" FROM "shop_book"', params: q ? [q % 5] : [], db: 'default', vendor: 'sqlite', start_ms: q * 0.1, duration_ms: 0.05, many: false, error: null, callsite: { file: 'app.py', line: q ? 40 : 38, function: 'book_list' }, stack: [{ file: 'app.py', line: q ? 40 : 38, function: 'book_list' }] })),
    }
    const at = performance.now()
    const response = await fetch(`${server.url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ protocol: 1, agent: { name: 'bench', version: '0' }, app: { name: 'live-bench' }, units: [unit] }) })
    if (response.status !== 202) throw new Error(`ingest answered ${response.status}`)
    await announced([id])
    direct.push(arrived.get(id)! - at)
    await pace(5)
  }
  direct.sort((a, b) => a - b)

  const row = (label: string, sorted: number[]) => `${label}: p50 ${percentile(sorted, 0.5).toFixed(1)} ms, p95 ${percentile(sorted, 0.95).toFixed(1)} ms, p99 ${percentile(sorted, 0.99).toFixed(1)} ms, max ${sorted[sorted.length - 1].toFixed(1)} ms`
  console.log(row(`Django response → unit on the WebSocket (${REQUESTS} requests, one every ~${PACE_MS} ms)`, endToEnd))
  console.log(row(`POST /api/v1/ingest → unit on the WebSocket (${REQUESTS} units, the server alone)`, direct))
  const p50 = percentile(endToEnd, 0.5)
  const serverP50 = percentile(direct, 0.5)
  console.log(`the agent batches units for up to 100 ms (batch_interval) before sending; the server's own part is ${((serverP50 / p50) * 100).toFixed(0)}% of the median`)
  console.log(
    `BENCH_JSON ${JSON.stringify({
      rows: [
        { metric: 'live latency p50 (Django response → WebSocket)', value: p50, unit: 'ms', ratio: p50 / serverP50, note: `${REQUESTS} paced requests; ratio to the server alone (ingest POST → socket, p50 ${serverP50.toFixed(1)} ms); includes the agent's 100 ms batching` },
        { metric: 'live latency p95', value: percentile(endToEnd, 0.95), unit: 'ms', ratio: percentile(endToEnd, 0.95) / percentile(direct, 0.95), note: `server alone p95 ${percentile(direct, 0.95).toFixed(1)} ms` },
        { metric: 'live latency p99', value: percentile(endToEnd, 0.99), unit: 'ms', ratio: percentile(endToEnd, 0.99) / percentile(direct, 0.99), note: `server alone p99 ${percentile(direct, 0.99).toFixed(1)} ms; max end to end ${endToEnd[endToEnd.length - 1].toFixed(1)} ms` },
      ],
    })}`,
  )
  socket.close()
} finally {
  await stopAll()
  rmSync(dir, { recursive: true, force: true })
}
