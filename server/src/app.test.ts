import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { BOOKSHOP, bookListUnit, payloadOf, quietUnit } from '../../test/helpers/payloads.js'
import { getJson, ingest, rawRequest, until } from '../../test/helpers/server.js'
import type { Unit, UnitsPage } from './protocol.js'
import { startServer, type RunningServer, type ServerOptions } from './server.js'

let server: RunningServer
let url: string
const servers: RunningServer[] = []
async function start(options: ServerOptions = {}) {
  server = await startServer({ port: 0, db: ':memory:', ui: false, ...options })
  servers.push(server)
  url = server.url
  return server
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()))
})

const units = async (query = ''): Promise<UnitsPage> => (await getJson(`${url}/api/v1/units${query}`)).body
const count = async () => (await getJson(`${url}/api/v1/health`)).body.units as number

describe('ingest and read back', () => {
  it('stores a batch, lists it newest first and returns each unit with fingerprints and findings', async () => {
    await start()
    const older = bookListUnit({ startedAt: 1000, authors: 6 })
    const newer = quietUnit({ startedAt: 2000 })
    const answer = await ingest(url, payloadOf([older, newer]))
    expect(answer).toMatchObject({ status: 202, body: { accepted: 2, duplicates: 0 } })

    const page = await units()
    expect(page.units.map((u) => u.id)).toEqual([newer.id, older.id])
    expect(page.units[1]).toMatchObject({ name: 'GET /books/', route: 'books/', app: 'bookshop', summary: { queries: 9 } })
    expect(page.units[1].summary.n_plus_one).toBeGreaterThan(0)

    const { status, body } = await getJson(`${url}/api/v1/units/${older.id}`)
    expect(status).toBe(200)
    const unit = body.unit as Unit
    expect(unit.queries).toHaveLength(9)
    for (const query of unit.queries) {
      expect(query.fingerprint).toMatch(/^[0-9a-f]{16}$/)
      expect(unit.fingerprints[query.fingerprint]).toEqual(expect.any(String))
    }
    const nPlusOne = unit.findings.find((f) => f.kind === 'n_plus_one')
    expect(nPlusOne).toMatchObject({ count: 6, query_indexes: [1, 2, 3, 4, 5, 6] })
    expect(unit.findings.some((f) => f.kind === 'duplicate')).toBe(true)
  })

  it('answers 404 with a hint for a unit it does not have', async () => {
    await start()
    const { status, body } = await getJson(`${url}/api/v1/units/nope`)
    expect(status).toBe(404)
    expect(body.error.message).toMatch(/retention/)
  })

  it('reads a unit without its queries with ?queries=none: its summary and findings, for the overlay', async () => {
    await start()
    const unit = bookListUnit({ authors: 6 })
    await ingest(url, payloadOf([unit]))
    const full = (await getJson(`${url}/api/v1/units/${unit.id}`)).body.unit
    const { status, body } = await getJson(`${url}/api/v1/units/${unit.id}?queries=none`)
    expect(status).toBe(200)
    const { queries, fingerprints, ...rest } = full
    expect(queries.length).toBeGreaterThan(6)
    expect(Object.keys(fingerprints)).not.toHaveLength(0)
    expect(body.unit).toEqual(rest)
    expect(body.unit.findings.map((f: { kind: string }) => f.kind)).toContain('n_plus_one')
    const bad = await getJson(`${url}/api/v1/units/${unit.id}?queries=0`)
    expect(bad.status).toBe(400)
    expect(bad.body.error.message).toBe('query parameter queries: must be "none" (the unit without its queries), got "0"')
  })

  it('holds a read with ?wait= until a batch brings the unit, and answers 404 only after the wait', async () => {
    await start()
    const unit = quietUnit()
    const read = getJson(`${url}/api/v1/units/${unit.id}?wait=5000`)
    await until(() => server.waitingReads() === 1, { what: 'the read to wait' })
    await ingest(url, payloadOf([unit]))
    const answer = await read
    expect(answer.status).toBe(200)
    expect(answer.body.unit.id).toBe(unit.id)

    const late = await getJson(`${url}/api/v1/units/never?wait=300`)
    expect(late.status).toBe(404)
    for (const wait of ['soon', '1e3', ' 5', '5001']) {
      const bad = await getJson(`${url}/api/v1/units/${unit.id}?wait=${encodeURIComponent(wait)}`)
      expect(bad.status).toBe(400)
      expect(bad.body.error.message).toBe(`query parameter wait: must be an integer from 0 to 5000 (milliseconds), got ${JSON.stringify(wait)}`)
    }
  })

  it('stops holding a read whose client went away', async () => {
    await start()
    const client = new AbortController()
    const read = fetch(`${url}/api/v1/units/never?wait=5000`, { signal: client.signal }).catch(() => null)
    await until(() => server.waitingReads() === 1, { what: 'the read to wait' })
    client.abort()
    await read
    await until(() => server.waitingReads() === 0, { what: 'the server to let the read go', timeoutMs: 3000 }) // before its 5 s
  })

  it('lets a page whose origin its agent reports during the wait read the unit it waited for', async () => {
    await start()
    const unit = quietUnit()
    const read = getJson(`${url}/api/v1/units/${unit.id}?wait=5000`, { origin: 'http://127.0.0.1:8000' })
    const stranger = getJson(`${url}/api/v1/units/${unit.id}?wait=5000`, { origin: 'http://evil.example' })
    await until(() => server.waitingReads() === 2, { what: 'the reads to wait' })
    await ingest(url, payloadOf([unit], { app: { ...BOOKSHOP, origin: 'http://127.0.0.1:8000' } }))
    expect((await read).headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8000')
    const strangerAnswer = await stranger
    expect(strangerAnswer.status).toBe(200) // read, but not by a page of that origin: its browser withholds it
    expect(strangerAnswer.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('analyses without storing on /api/v1/analyze', async () => {
    await start()
    const unit = bookListUnit()
    const { status, body } = await ingest(url, payloadOf([unit]), { path: '/api/v1/analyze' })
    expect(status).toBe(200)
    expect(body.units[0]).toMatchObject({ id: unit.id, queries: expect.any(Array), findings: expect.arrayContaining([expect.objectContaining({ kind: 'n_plus_one' })]) })
    expect(await count()).toBe(0)
  })

  it('accepts gzip bodies', async () => {
    await start()
    const answer = await ingest(url, payloadOf([bookListUnit()]), { gzip: true })
    expect(answer).toMatchObject({ status: 202, body: { accepted: 1 } })
  })

  it('stores a resent unit once and says it was a duplicate', async () => {
    await start()
    const payload = payloadOf([bookListUnit(), quietUnit()])
    await ingest(url, payload)
    expect((await ingest(url, payload)).body).toEqual({ accepted: 0, duplicates: 2 })
    expect(await count()).toBe(2)
  })

  it('rejects a whole batch when one unit is invalid and stores nothing of it', async () => {
    await start()
    const good = bookListUnit()
    const bad = { ...quietUnit(), started_at: 'yesterday' }
    const { status, body } = await ingest(url, payloadOf([good, bad as never]))
    expect(status).toBe(400)
    expect(body.error).toMatchObject({ code: 'invalid_payload', path: 'units[1].started_at' })
    expect(await count()).toBe(0)
    expect((await getJson(`${url}/api/v1/units/${good.id}`)).status).toBe(404)
  })

  it('keeps only --max-units units, dropping the first received', async () => {
    await start({ maxUnits: 3 })
    const sent = Array.from({ length: 5 }, () => quietUnit())
    for (const unit of sent) await ingest(url, payloadOf([unit]))
    expect(await count()).toBe(3)
    expect((await units()).units.map((u) => u.id).sort()).toEqual(sent.slice(2).map((u) => u.id).sort())
  })

  it('clears everything on DELETE', async () => {
    await start()
    await ingest(url, payloadOf([bookListUnit()]))
    const response = await fetch(`${url}/api/v1/units`, { method: 'DELETE' })
    expect(response.status).toBe(200)
    expect(await units()).toEqual({ units: [], next: null })
    expect((await getJson(`${url}/api/v1/routes`)).body.routes).toEqual([])
  })
})

describe('request limits', () => {
  it('answers 415 to a body that is not JSON', async () => {
    await start()
    const response = await fetch(`${url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })
    expect(response.status).toBe(415)
    expect((await response.json()).error.message).toMatch(/application\/json/)
  })

  it('answers 415 to an encoding other than gzip', async () => {
    await start()
    const response = await fetch(`${url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'br' }, body: '{}' })
    expect(response.status).toBe(415)
  })

  it('answers 400 invalid_json to a body that does not parse', async () => {
    await start()
    const response = await fetch(`${url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"protocol": 1,' })
    expect(response.status).toBe(400)
    expect((await response.json()).error.code).toBe('invalid_json')
  })

  it('answers 413 to a body over 16 MiB', async () => {
    await start()
    const body = `{"pad": "${'x'.repeat(17 * 1024 * 1024)}"}`
    const response = await fetch(`${url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
    expect(response.status).toBe(413)
  })

  it('answers 413 to a gzip bomb without inflating it', async () => {
    await start()
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20))
    expect(bomb.length).toBeLessThan(1024 * 1024)
    const response = await fetch(`${url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: bomb })
    expect(response.status).toBe(413)
    expect((await response.json()).error.code).toBe('payload_too_large')
  })

  it('answers 400 to a body that claims gzip but is not', async () => {
    await start()
    const response = await fetch(`${url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: '{}' })
    expect(response.status).toBe(400)
    expect((await response.json()).error.code).toBe('invalid_gzip')
  })
})

describe('listing', () => {
  it('pages with the next cursor and filters by kind, route, text and finding', async () => {
    await start()
    const list = Array.from({ length: 5 }, (_, i) => bookListUnit({ startedAt: 1000 + i }))
    const test = bookListUnit({ kind: 'test', name: 'tests/test_views.py::test_books', route: null as never, startedAt: 3000, authors: 0 })
    const health = quietUnit({ startedAt: 4000 })
    await ingest(url, payloadOf([...list, test, health]))

    const first = await units('?limit=3')
    expect(first.units.map((u) => u.id)).toEqual([health.id, test.id, list[4].id])
    const second = await units(`?limit=3&before=${encodeURIComponent(first.next!)}`)
    expect(second.units.map((u) => u.id)).toEqual([list[3].id, list[2].id, list[1].id])
    const third = await units(`?limit=3&before=${encodeURIComponent(second.next!)}`)
    expect(third).toEqual({ units: [expect.objectContaining({ id: list[0].id })], next: null })

    expect((await units('?kind=test')).units.map((u) => u.id)).toEqual([test.id])
    expect((await units('?route=health/')).units.map((u) => u.id)).toEqual([health.id])
    expect((await units('?q=test_views')).units.map((u) => u.id)).toEqual([test.id])
    expect((await units('?finding=n_plus_one')).units).toHaveLength(5)
  })

  it('names the bad query parameter', async () => {
    await start()
    const long = `?q=${'a'.repeat(501)}`
    for (const [query, param] of [['?limit=0', 'limit'], ['?kind=job', 'kind'], ['?finding=slow', 'finding'], ['?before=zzz', 'before'], [long, 'q']]) {
      const { status, body } = await getJson(`${url}/api/v1/units${query}`)
      expect(status).toBe(400)
      expect(body.error).toMatchObject({ code: 'invalid_query', path: param })
    }
  })

  it('aggregates per route', async () => {
    await start()
    await ingest(url, payloadOf([bookListUnit({ authors: 2 }), bookListUnit({ authors: 10 }), quietUnit()]))
    const { body } = await getJson(`${url}/api/v1/routes`)
    const books = body.routes.find((r: { route: string }) => r.route === 'books/')
    expect(books).toMatchObject({ kind: 'request', method: 'GET', units: 2, queries_p50: 5, queries_max: 13, recent: [expect.any(Object), expect.any(Object)] })
    expect(books.n_plus_one).toBeGreaterThanOrEqual(2)
    expect(books.units_with).toEqual({ n_plus_one: 2, duplicate: 2, repeated_write: 0, slow_query: 0 })
  })

  it("lists a route's units of one method: its GET and HEAD units are two rows of the routes", async () => {
    await start()
    const head = { ...bookListUnit(), method: 'HEAD', name: 'HEAD /books/' }
    const get = bookListUnit()
    await ingest(url, payloadOf([get, head]))
    const { body } = await getJson(`${url}/api/v1/routes`)
    expect(body.routes.map((r: { method: string }) => r.method).sort()).toEqual(['GET', 'HEAD'])
    const listed = await units('?route=books%2F&method=HEAD')
    expect(listed.units.map((u) => u.id)).toEqual([head.id])
    const bad = await getJson(`${url}/api/v1/units?method=get`)
    expect(bad.status).toBe(400)
    expect(bad.body.error).toMatchObject({ path: 'method', message: 'query parameter method: must be a request method in capitals (GET, POST...), got "get"' })
  })

  it('tells where a fingerprint was seen', async () => {
    await start()
    const unit = bookListUnit()
    await ingest(url, payloadOf([unit, bookListUnit({ name: 'GET /books/', startedAt: 99 })]))
    const stored = (await getJson(`${url}/api/v1/units/${unit.id}`)).body.unit as Unit
    const id = stored.queries[1].fingerprint
    const { status, body } = await getJson(`${url}/api/v1/fingerprints/${id}`)
    expect(status).toBe(200)
    expect(body.fingerprint).toMatchObject({ id, sql: stored.fingerprints[id] })
    expect(body.fingerprint.seen[0]).toMatchObject({ unit_name: 'GET /books/', route: 'books/', callsite: { file: 'shop/views.py', line: 44 }, units: 2, queries: 10 })
    expect((await getJson(`${url}/api/v1/fingerprints/0000000000000000`)).status).toBe(404)
  })
})

describe('security', () => {
  it('refuses a Host that is not a loopback name (DNS rebinding), for pages and the API', async () => {
    await start()
    for (const path of ['/', '/api/v1/units', '/api/v1/health']) {
      const response = await rawRequest(`${url}${path}`, { headers: { host: 'evil.example:8321' } })
      expect(response.status).toBe(403)
      expect(JSON.parse(response.text).error.message).toMatch(/DNS rebinding/)
    }
  })

  it('answers to localhost, 127.0.0.1 and [::1] on any port', async () => {
    await start()
    for (const host of ['localhost:8321', '127.0.0.1', '[::1]:9999', 'LOCALHOST']) {
      expect((await rawRequest(`${url}/api/v1/health`, { headers: { host } })).status).toBe(200)
    }
  })

  it('requires the token on ingest, analyze and reads, but not on health', async () => {
    await start({ token: 's3cret' })
    const payload = payloadOf([quietUnit()])
    const missing = await ingest(url, payload)
    expect(missing.status).toBe(401)
    expect(missing.body.error.message).toMatch(/Authorization: Bearer/)
    expect((await ingest(url, payload, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
    expect((await ingest(url, payload, { path: '/api/v1/analyze' })).status).toBe(401)
    for (const path of ['/api/v1/units', '/api/v1/routes', `/api/v1/units/${payload.units[0].id}`]) expect((await getJson(`${url}${path}`)).status).toBe(401)
    expect((await fetch(`${url}/api/v1/units`, { method: 'DELETE' })).status).toBe(401)
    expect((await ingest(url, payload, { headers: { authorization: 'Bearer s3cret' } })).status).toBe(202)
    expect((await getJson(`${url}/api/v1/units`, { authorization: 'Bearer s3cret' })).body.units).toHaveLength(1)
    expect((await getJson(`${url}/api/v1/health`)).status).toBe(200)
  })

  it('answers health without the token, but tells the unit count only to requests that carry it', async () => {
    await start({ token: 's3cret' })
    await ingest(url, payloadOf([quietUnit()]), { headers: { authorization: 'Bearer s3cret' } })
    for (const headers of [{}, { authorization: 'Bearer wrong' }] as Record<string, string>[]) {
      const open = await getJson(`${url}/api/v1/health`, headers)
      expect(open.status).toBe(200)
      expect(open.body).toEqual({ ok: true, version: expect.any(String), protocol: 1 })
    }
    const full = await getJson(`${url}/api/v1/health`, { authorization: 'Bearer s3cret' })
    expect(full.body).toEqual({ ok: true, version: expect.any(String), protocol: 1, units: 1 })
  })

  it('allows cross-origin reads of one unit only for origins agents reported', async () => {
    await start()
    const unit = quietUnit()
    await ingest(url, payloadOf([unit], { app: { ...BOOKSHOP, origin: 'http://127.0.0.1:8000' } }))
    const known = await getJson(`${url}/api/v1/units/${unit.id}`, { origin: 'http://127.0.0.1:8000' })
    expect(known.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8000')
    const stranger = await getJson(`${url}/api/v1/units/${unit.id}`, { origin: 'http://evil.example' })
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull()
    const list = await getJson(`${url}/api/v1/units`, { origin: 'http://127.0.0.1:8000' })
    expect(list.headers.get('access-control-allow-origin')).toBeNull()

    const preflight = await fetch(`${url}/api/v1/units/${unit.id}`, {
      method: 'OPTIONS',
      headers: { origin: 'http://127.0.0.1:8000', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    })
    expect(preflight.status).toBe(204)
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/authorization/i)
    const strangerPreflight = await fetch(`${url}/api/v1/units/${unit.id}`, { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'GET' } })
    expect(strangerPreflight.status).toBe(403)
    expect(strangerPreflight.headers.get('access-control-allow-origin')).toBeNull()
  })

  it('refuses writes sent by pages of other origins', async () => {
    await start()
    const post = await ingest(url, payloadOf([quietUnit()]), { headers: { origin: 'http://evil.example' } })
    expect(post.status).toBe(403)
    const del = await fetch(`${url}/api/v1/units`, { method: 'DELETE', headers: { origin: 'http://127.0.0.1:8000' } })
    expect(del.status).toBe(403)
    const own = await fetch(`${url}/api/v1/units`, { method: 'DELETE', headers: { origin: url } })
    expect(own.status).toBe(200)
  })
})

describe('the UI files', () => {
  let uiDir: string
  beforeAll(() => {
    uiDir = mkdtempSync(join(tmpdir(), 'qs-ui-'))
    mkdirSync(join(uiDir, 'assets'))
    writeFileSync(join(uiDir, 'index.html'), '<!doctype html><title>querysight</title>')
    writeFileSync(join(uiDir, 'assets', 'app.js'), 'console.log("app")')
    writeFileSync(join(uiDir, 'assets', 'app.css'), 'body{}')
    writeFileSync(join(uiDir, 'overlay.js'), 'console.log("overlay")')
  })
  afterAll(() => rmSync(uiDir, { recursive: true, force: true }))

  it('serves the page, its assets and the overlay with their content types', async () => {
    await start({ ui: true, uiDir })
    const page = await fetch(`${url}/`)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(page.headers.get('cache-control')).toBe('no-cache')
    expect(await page.text()).toContain('<title>querysight</title>')
    expect((await fetch(`${url}/assets/app.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect((await fetch(`${url}/assets/app.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8')
    expect((await fetch(`${url}/assets/missing.js`)).status).toBe(404)
  })

  it('forbids other sites to frame the page, so its buttons cannot be clickjacked', async () => {
    await start({ ui: true, uiDir })
    const page = await fetch(`${url}/`)
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
    expect(page.headers.get('x-frame-options')).toBe('DENY')
  })

  it('lets any page load the overlay script, and nothing else cross-origin', async () => {
    await start({ ui: true, uiDir })
    const overlay = await fetch(`${url}/overlay.js`, { headers: { origin: 'http://127.0.0.1:8000' } })
    expect(overlay.status).toBe(200)
    expect(overlay.headers.get('access-control-allow-origin')).toBe('*')
    expect(overlay.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect((await fetch(`${url}/assets/app.js`)).headers.get('access-control-allow-origin')).toBeNull()
  })

  it('revalidates files with an ETag', async () => {
    await start({ ui: true, uiDir })
    const etag = (await fetch(`${url}/assets/app.js`)).headers.get('etag')!
    expect((await fetch(`${url}/assets/app.js`, { headers: { 'if-none-match': etag } })).status).toBe(304)
  })

  it('serves nothing outside the UI directory', async () => {
    await start({ ui: true, uiDir })
    const response = await rawRequest(`${url}/assets/..%2f..%2f..%2fetc%2fpasswd`)
    expect(response.status).toBe(404)
  })

  it('says how to build the UI when it is missing', async () => {
    await start({ ui: true, uiDir: join(uiDir, 'nowhere') })
    const response = await getJson(`${url}/`)
    expect(response.status).toBe(503)
    expect(response.body.error.message).toMatch(/npm run build/)
  })

  it('serves no UI when started without it', async () => {
    await start({ ui: false, uiDir })
    expect((await fetch(`${url}/`)).status).toBe(404)
  })
})

