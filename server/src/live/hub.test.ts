import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { BOOKSHOP, payloadOf, quietUnit } from '../../../test/helpers/payloads.js'
import { getJson, ingest, until } from '../../../test/helpers/server.js'
import type { LiveServerMessage } from '../protocol.js'
import { startServer, type RunningServer, type ServerOptions } from '../server.js'

let server: RunningServer
const sockets: WebSocket[] = []
afterEach(async () => {
  for (const ws of sockets.splice(0)) if (ws.readyState === WebSocket.OPEN) ws.terminate()
  await server?.close()
})

async function start(options: ServerOptions = {}) {
  server = await startServer({ port: 0, db: ':memory:', ui: false, ...options })
  return server
}

/** A real ws client that records every message it receives. */
function connect(path = '/api/v1/live', headers: Record<string, string> = {}) {
  const ws = new WebSocket(`${server.url.replace('http', 'ws')}${path}`, { headers })
  sockets.push(ws)
  const messages: LiveServerMessage[] = []
  ws.on('message', (data) => messages.push(JSON.parse(data.toString())))
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve())
    ws.once('unexpected-response', (req, res) => {
      req.destroy()
      reject(new Error(`refused with ${res.statusCode}`))
    })
    ws.once('error', reject)
  })
  const units = () => messages.flatMap((m) => (m.type === 'unit' ? [m.unit.id] : []))
  return { ws, messages, opened, units }
}

/** The HTTP status a refused upgrade answered with. */
function refusal(path: string, headers: Record<string, string> = {}) {
  return new Promise<number>((resolve, reject) => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}${path}`, { headers })
    ws.on('error', () => {})
    ws.once('unexpected-response', (req, res) => {
      req.destroy()
      resolve(res.statusCode ?? 0)
    })
    ws.once('open', () => reject(new Error('the upgrade was accepted')))
  })
}

describe('the live socket', () => {
  it('says hello with the version and the number of stored units', async () => {
    await start()
    await ingest(server.url, payloadOf([quietUnit(), quietUnit()]))
    const client = connect()
    await until(() => client.messages.length > 0)
    expect(client.messages[0]).toMatchObject({ type: 'hello', protocol: 1, units: 2, version: expect.any(String) })
  })

  it('announces each unit once its batch is committed', async () => {
    await start()
    const client = connect()
    await until(() => client.messages.length > 0)
    const sent = [quietUnit(), quietUnit()]
    const answer = await ingest(server.url, payloadOf(sent))
    expect(answer.status).toBe(202)
    await until(() => client.units().length === 2)
    expect(client.units()).toEqual(sent.map((u) => u.id))
    const message = client.messages.find((m) => m.type === 'unit')
    expect(message).toMatchObject({ type: 'unit', unit: { id: sent[0].id, name: 'GET /health/', summary: { queries: 1 } } })
    expect((await getJson(`${server.url}/api/v1/units/${sent[0].id}`)).status).toBe(200)
  })

  it('does not announce a resent unit again', async () => {
    await start()
    const unit = quietUnit()
    await ingest(server.url, payloadOf([unit]))
    const client = connect()
    await until(() => client.messages.length > 0)
    await ingest(server.url, payloadOf([unit]))
    const next = quietUnit()
    await ingest(server.url, payloadOf([next]))
    await until(() => client.units().length === 1)
    expect(client.units()).toEqual([next.id])
  })

  it('narrows the stream to the units a client subscribed to', async () => {
    await start()
    const wanted = quietUnit()
    const other = quietUnit()
    const overlay = connect()
    const everything = connect()
    await overlay.opened
    overlay.ws.send(JSON.stringify({ type: 'subscribe', units: [wanted.id] }))
    await until(() => server.liveStats().subscribed === 1)
    await ingest(server.url, payloadOf([other, wanted]))
    await until(() => everything.units().length === 2 && overlay.units().length === 1)
    expect(overlay.units()).toEqual([wanted.id])
  })

  it('tells clients when the units were cleared', async () => {
    await start()
    const client = connect()
    await client.opened
    await fetch(`${server.url}/api/v1/units`, { method: 'DELETE' })
    await until(() => client.messages.some((m) => m.type === 'cleared'))
  })

  it('drops a stuck client without slowing ingest or the other clients', async () => {
    await start({ live: { maxBufferedBytes: 64 * 1024, maxSkipped: 20 } })
    const stuck = connect()
    const healthy = connect()
    await until(() => stuck.messages.length > 0 && healthy.messages.length > 0)
    stuck.ws.pause()
    const sent: string[] = []
    for (let batch = 0; server.liveStats().terminated === 0; batch++) {
      expect(batch).toBeLessThan(2000)
      const units = Array.from({ length: 100 }, () => quietUnit({ name: `GET /reports/${'x'.repeat(4000)}` }))
      const answer = await ingest(server.url, payloadOf(units))
      expect(answer.status).toBe(202)
      sent.push(...units.map((u) => u.id))
    }
    expect(server.liveStats().skipped).toBeGreaterThanOrEqual(20)
    await until(() => healthy.units().length === sent.length, { timeoutMs: 30_000, what: 'the healthy client to receive every unit' })
    expect(healthy.units()).toEqual(sent)
    expect(server.liveStats().clients).toBe(1)
  })

  it('refuses pages of other origins and accepts its own UI and the origins agents reported', async () => {
    await start()
    expect(await refusal('/api/v1/live', { origin: 'http://evil.example' })).toBe(403)
    await connect('/api/v1/live', { origin: server.url }).opened
    await ingest(server.url, payloadOf([quietUnit()], { app: { ...BOOKSHOP, origin: 'http://localhost:8000' } }))
    await connect('/api/v1/live', { origin: 'http://localhost:8000' }).opened
  })

  it('refuses a Host that is not a loopback name', async () => {
    await start()
    expect(await refusal('/api/v1/live', { host: 'evil.example' })).toBe(403)
  })

  it('requires the token as ?token= when the server has one', async () => {
    await start({ token: 'tok' })
    expect(await refusal('/api/v1/live')).toBe(401)
    expect(await refusal('/api/v1/live?token=nope')).toBe(401)
    await connect('/api/v1/live?token=tok').opened
  })

  it('answers other WebSocket paths with 404', async () => {
    await start()
    expect(await refusal('/api/v1/other')).toBe(404)
  })
})
