/**
 * What the overlay may read from the querysight server, from the pages of the developer's app (DESIGN.md §10): one
 * unit by id and the live socket, only for page origins that agents reported (`app.origin`); any other origin is
 * refused both. The overlay script itself may be loaded by any page.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { LiveServerMessage } from '../server/src/protocol.js'
import { startServer, type RunningServer } from '../server/src/server.js'
import { BOOKSHOP, bookListUnit, payloadOf, quietUnit } from './helpers/payloads.js'
import { getJson, ingest, until } from './helpers/server.js'

const APP_ORIGIN = BOOKSHOP.origin! // http://127.0.0.1:8000, as the bookshop's agent reports it
const STRANGERS = ['http://evil.example', 'http://127.0.0.1:8001', 'https://127.0.0.1:8000', 'http://127.0.0.1:8000.evil.example', 'null']

interface Opened {
  socket: WebSocket
  messages: LiveServerMessage[]
}

/** Connects to the live socket as a page of `origin` would; resolves once open, or rejects with the refusal's status. */
function connect(url: string, origin: string): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/api/v1/live`, { origin })
    const messages: LiveServerMessage[] = []
    socket.on('message', (data) => messages.push(JSON.parse(data.toString()) as LiveServerMessage))
    socket.once('open', () => resolve({ socket, messages }))
    socket.once('unexpected-response', (_request, response) => {
      reject(Object.assign(new Error(`upgrade refused with ${response.statusCode}`), { status: response.statusCode }))
      socket.terminate()
    })
    socket.once('error', reject)
  })
}

const refusal = (promise: Promise<Opened>) => promise.then(
  ({ socket }) => {
    socket.terminate()
    return 'opened'
  },
  (error: { status?: number }) => error.status ?? 'failed',
)

describe('what pages of other origins may read for the overlay', () => {
  let uiDir: string
  let server: RunningServer
  const sockets: WebSocket[] = []

  beforeAll(async () => {
    uiDir = await mkdtemp(join(tmpdir(), 'querysight-overlay-security-'))
    await writeFile(join(uiDir, 'index.html'), '<!doctype html><title>querysight</title>')
    await writeFile(join(uiDir, 'overlay.js'), '(()=>{})()')
  })

  afterAll(async () => {
    if (uiDir) await rm(uiDir, { recursive: true, force: true })
  })

  beforeEach(async () => {
    server = await startServer({ port: 0, db: ':memory:', uiDir })
  })

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.terminate()
    await server.close()
  })

  it('refuses every origin before an agent has reported one', async () => {
    const unit = bookListUnit()
    await ingest(server.url, payloadOf([unit], { app: { ...BOOKSHOP, origin: null } }))
    const read = await getJson(`${server.url}/api/v1/units/${unit.id}`, { origin: APP_ORIGIN })
    expect(read.headers.get('access-control-allow-origin')).toBeNull()
    expect(await refusal(connect(server.url, APP_ORIGIN))).toBe(403)
  })

  it('lets the reported origin read one unit, and refuses the unit data to every other origin', async () => {
    const unit = bookListUnit()
    await ingest(server.url, payloadOf([unit]))

    const allowed = await getJson(`${server.url}/api/v1/units/${unit.id}`, { origin: APP_ORIGIN })
    expect(allowed.status).toBe(200)
    expect(allowed.headers.get('access-control-allow-origin')).toBe(APP_ORIGIN)
    expect(allowed.headers.get('vary')).toMatch(/origin/i)
    expect(allowed.body.unit.summary.queries).toBe(unit.queries.length)

    for (const origin of STRANGERS) {
      const read = await getJson(`${server.url}/api/v1/units/${unit.id}`, { origin })
      expect(read.headers.get('access-control-allow-origin'), origin).toBeNull()
      expect(read.headers.get('access-control-allow-credentials'), origin).toBeNull()
      const preflight = await fetch(`${server.url}/api/v1/units/${unit.id}`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET' } })
      expect(preflight.status, origin).toBe(403)
      expect(preflight.headers.get('access-control-allow-origin'), origin).toBeNull()
    }
  })

  it('gives the reported origin nothing cross-origin but the one unit: not the list, routes or fingerprints', async () => {
    const unit = bookListUnit()
    await ingest(server.url, payloadOf([unit]))
    const { body } = await getJson(`${server.url}/api/v1/units/${unit.id}`)
    for (const path of ['/api/v1/units', '/api/v1/routes', `/api/v1/fingerprints/${body.unit.queries[0].fingerprint}`, '/api/v1/health']) {
      const read = await getJson(`${server.url}${path}`, { origin: APP_ORIGIN })
      expect(read.headers.get('access-control-allow-origin'), path).toBeNull()
    }
  })

  it('opens the live socket for the reported origin and refuses the upgrade to every other origin', async () => {
    await ingest(server.url, payloadOf([quietUnit()]))
    const opened = await connect(server.url, APP_ORIGIN)
    sockets.push(opened.socket)
    await until(() => opened.messages.some((message) => message.type === 'hello'), { what: 'the hello message' })

    for (const origin of STRANGERS) expect(await refusal(connect(server.url, origin)), origin).toBe(403)
  })

  it('sends a page of the reported origin only the units it subscribed to, none before it subscribes', async () => {
    await ingest(server.url, payloadOf([quietUnit()]))
    const page = await connect(server.url, APP_ORIGIN)
    sockets.push(page.socket)
    await until(() => page.messages.length > 0, { what: 'the hello message' })

    const other = bookListUnit()
    await ingest(server.url, payloadOf([other]))
    const wanted = bookListUnit()
    const markers = Array.from({ length: 200 }, () => quietUnit())
    page.socket.send(JSON.stringify({ type: 'subscribe', units: [wanted.id, ...markers.map((marker) => marker.id)] }))
    // The subscription is in force once one of the marker units sent after it comes back.
    let sent = 0
    await until(async () => {
      await ingest(server.url, payloadOf([markers[sent++]]))
      return page.messages.some((message) => message.type === 'unit')
    }, { what: 'a subscribed marker unit' })
    await ingest(server.url, payloadOf([wanted]))
    await until(() => page.messages.some((message) => message.type === 'unit' && message.unit.id === wanted.id), { what: 'the subscribed unit' })
    const units = page.messages.flatMap((message) => (message.type === 'unit' ? [message.unit.id] : []))
    expect(units).not.toContain(other.id)
    expect(units.filter((id) => id !== wanted.id).every((id) => markers.some((marker) => marker.id === id))).toBe(true)
  })

  it('lets any page load the overlay script itself', async () => {
    for (const origin of [APP_ORIGIN, 'http://evil.example']) {
      const response = await fetch(`${server.url}/overlay.js`, { headers: { origin } })
      expect(response.status).toBe(200)
      expect(response.headers.get('access-control-allow-origin')).toBe('*')
      expect(response.headers.get('content-type')).toMatch(/javascript/)
    }
  })
})
