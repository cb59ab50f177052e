/**
 * DESIGN.md §10 against the real `querysight serve` with its built UI: the Host check (DNS rebinding) on the API, the
 * UI, the overlay bundle and the WebSocket upgrade, CORS and WebSocket Origin rules, the token on every read and
 * write, and size limits on bodies and socket messages. (server/src/app.test.ts and live/hub.test.ts pin the main
 * rules in-process; these add the tricky names and the endpoints they leave out, on the shipped binary.)
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { BOOKSHOP, payloadOf, quietUnit } from '../helpers/payloads.js'
import { getJson, ingest, rawRequest } from '../helpers/server.js'
import { startCli, stopAll, type CliServer } from '../load/processes.js'

const REPORTED = 'http://127.0.0.1:8000'
const dir = mkdtempSync(join(tmpdir(), 'qs-security-'))
afterAll(async () => {
  await stopAll()
  rmSync(dir, { recursive: true, force: true })
})

/** Sends `text` as is over a TCP connection and resolves with the status of the answer. */
function rawHttp(port: number, text: string) {
  return new Promise<number>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(text))
    let answer = ''
    socket.setEncoding('utf8').on('data', (chunk: string) => (answer += chunk))
    socket.on('end', () => resolve(Number(/^HTTP\/1\.[01] (\d{3})/.exec(answer)?.[1] ?? 0)))
    socket.on('error', reject)
  })
}

/** Opens a live socket with these headers: 'open', or the status the upgrade was refused with. */
function upgrade(server: CliServer, path = '/api/v1/live', headers: Record<string, string> = {}) {
  return new Promise<number | 'open'>((resolve) => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}${path}`, { headers })
    ws.on('error', () => resolve(0))
    ws.once('unexpected-response', (req, res) => {
      req.destroy()
      resolve(res.statusCode ?? 0)
    })
    ws.once('open', () => {
      ws.terminate()
      resolve('open')
    })
  })
}

describe('a server without a token', () => {
  let server: CliServer
  let unitId: string
  let fingerprint: string
  beforeAll(async () => {
    server = await startCli(['--db', join(dir, 'open.db')])
    const unit = quietUnit()
    unitId = unit.id
    expect((await ingest(server.url, payloadOf([unit], { app: { ...BOOKSHOP, origin: REPORTED } }))).status).toBe(202)
    fingerprint = (await getJson(`${server.url}/api/v1/units/${unitId}`)).body.unit.queries[0].fingerprint
  })

  const everyPath = () => ['/', '/index.html', '/assets/app.js', '/overlay.js', '/api/v1/health', '/api/v1/units', `/api/v1/units/${unitId}`, '/api/v1/routes', `/api/v1/fingerprints/${fingerprint}`, '/api/v1/live']

  it('refuses every page, file and endpoint asked for under a foreign Host name (DNS rebinding)', async () => {
    const malformed = ['127.0.0.1@evil.example', 'evil.example\\@127.0.0.1']
    const hostile = ['evil.example', 'evil.example:8321', '127.0.0.1.nip.io', 'localhost.evil.example', '0x7f000001', '2130706433', '[::ffff:7f00:1]', ...malformed]
    for (const host of hostile) {
      for (const path of everyPath()) {
        const answer = await rawRequest(`${server.url}${path}`, { headers: { host } })
        // A Host that is not even a valid name is refused by the HTTP layer before any route runs (an empty 400).
        if (malformed.includes(host)) expect([answer.status, answer.text], `Host ${JSON.stringify(host)} ${path}`).toEqual([400, ''])
        else {
          expect(answer.status, `Host ${JSON.stringify(host)} ${path}`).toBe(403)
          expect(JSON.parse(answer.text).error.code).toBe('forbidden_host')
        }
        expect(answer.headers['access-control-allow-origin']).toBeUndefined()
      }
      expect(await upgrade(server, '/api/v1/live', { host }), `WebSocket with Host ${JSON.stringify(host)}`).toBe(403)
    }
    const post = await rawRequest(`${server.url}/api/v1/ingest`, { method: 'POST', headers: { host: 'evil.example', 'content-type': 'application/json' }, body: JSON.stringify(payloadOf([quietUnit()])) })
    expect(post.status).toBe(403)
    expect((await getJson(`${server.url}/api/v1/health`)).body.units).toBe(1)
  })

  it('refuses requests with an empty Host or none at all', async () => {
    for (const head of ['GET /api/v1/health HTTP/1.1\r\nHost: \r\n', 'GET /api/v1/health HTTP/1.0\r\n', 'GET / HTTP/1.0\r\n']) {
      const status = await rawHttp(server.port, `${head}Connection: close\r\n\r\n`)
      expect([400, 403], JSON.stringify(head)).toContain(status)
    }
  })

  it('answers loopback names whatever their port or letter case', async () => {
    for (const host of ['127.0.0.1', `127.0.0.1:${server.port}`, 'localhost', 'LocalHost:80', '[::1]', `[::1]:${server.port}`, '127.1.2.3:9', 'app.localhost']) {
      expect((await rawRequest(`${server.url}/api/v1/health`, { headers: { host } })).status, host).toBe(200)
    }
    expect(await upgrade(server, '/api/v1/live', { host: `localhost:${server.port}` })).toBe('open')
  })

  it('sends no CORS header to any origin on any endpoint but one unit, and there only to the origins agents reported', async () => {
    for (const origin of ['http://evil.example', 'null', 'http://127.0.0.1:8001', 'https://127.0.0.1:8000', 'http://127.0.0.1:8000.evil.example', REPORTED]) {
      for (const path of everyPath().filter((p) => p.startsWith('/api/') && p !== '/api/v1/live')) {
        const answer = await rawRequest(`${server.url}${path}`, { headers: { origin } })
        const allowed = origin === REPORTED && path === `/api/v1/units/${unitId}` ? REPORTED : undefined
        expect(answer.headers['access-control-allow-origin'], `${origin} ${path}`).toBe(allowed)
        expect(answer.headers['access-control-allow-credentials']).toBeUndefined()
      }
      const preflight = await rawRequest(`${server.url}/api/v1/ingest`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
      expect(preflight.headers['access-control-allow-origin'], `ingest preflight from ${origin}`).toBeUndefined()
    }
    const assets = await rawRequest(`${server.url}/assets/app.js`, { headers: { origin: REPORTED } })
    expect(assets.headers['access-control-allow-origin']).toBeUndefined()
  })

  it('refuses writes from pages of any origin but its own UI, whatever the Content-Type trick', async () => {
    for (const origin of ['http://evil.example', 'null', REPORTED]) {
      for (const type of ['application/json', 'text/plain']) {
        const answer = await rawRequest(`${server.url}/api/v1/ingest`, { method: 'POST', headers: { origin, 'content-type': type }, body: JSON.stringify(payloadOf([quietUnit()])) })
        expect(answer.status, `${origin} ${type}`).toBe(403)
      }
      expect((await rawRequest(`${server.url}/api/v1/units`, { method: 'DELETE', headers: { origin } })).status).toBe(403)
    }
    expect((await getJson(`${server.url}/api/v1/health`)).body.units).toBe(1)
  })

  it('opens the live socket only to its own UI, reported origins and non-browser clients', async () => {
    expect(await upgrade(server)).toBe('open')
    expect(await upgrade(server, '/api/v1/live', { origin: server.url })).toBe('open')
    expect(await upgrade(server, '/api/v1/live', { origin: REPORTED })).toBe('open')
    for (const origin of ['http://evil.example', 'null', 'http://127.0.0.1:8001', 'https://127.0.0.1:8000', `http://localhost:${server.port + 1}`]) {
      expect(await upgrade(server, '/api/v1/live', { origin }), origin).toBe(403)
    }
  })

  it('closes a socket that sends an oversized or malformed message, and keeps serving the others', async () => {
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/api/v1/live`)
    await new Promise((resolve) => ws.once('open', resolve))
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
    ws.on('error', () => {})
    for (const garbage of ['not json', '{"type":"subscribe","units":"x"}', '[]', 'null', '{"type":"subscribe","units":[{"a":1}]}']) ws.send(garbage)
    ws.send('x'.repeat(1024 * 1024))
    expect(await closed).toBe(1009)
    expect(await upgrade(server)).toBe('open')
    expect((await getJson(`${server.url}/api/v1/health`)).status).toBe(200)
  })

  it('limits bodies on analyze as on ingest', async () => {
    const answer = await rawRequest(`${server.url}/api/v1/analyze`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: ' '.repeat(17 * 1024 * 1024) }).catch(() => ({ status: 413 }))
    expect(answer.status).toBe(413)
  })
})

describe('a server started with --token', () => {
  let server: CliServer
  beforeAll(async () => {
    server = await startCli(['--db', join(dir, 'token.db'), '--token', 'correct horse'])
  })
  const withToken = { authorization: 'Bearer correct horse' }

  it('requires the token on every endpoint that reads or writes units, and on the live socket', async () => {
    const unit = quietUnit()
    const payload = JSON.stringify(payloadOf([unit]))
    const requests: [string, string, string?][] = [
      ['POST', '/api/v1/ingest', payload],
      ['POST', '/api/v1/analyze', payload],
      ['GET', '/api/v1/units'],
      [`GET`, `/api/v1/units/${unit.id}`],
      ['GET', '/api/v1/routes'],
      ['GET', '/api/v1/fingerprints/0123456789abcdef'],
      ['DELETE', '/api/v1/units'],
    ]
    const wrong: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic Y29ycmVjdCBob3JzZQ==' }, { authorization: 'Bearer correct' }, { authorization: 'correct horse' }, { authorization: 'Bearer ' }]
    for (const [method, path, body] of requests) {
      for (const headers of wrong) {
        const answer = await rawRequest(`${server.url}${path}`, { method, headers: { ...headers, 'content-type': 'application/json' }, body })
        expect(answer.status, `${method} ${path} ${JSON.stringify(headers)}`).toBe(401)
        expect(JSON.parse(answer.text).error.code).toBe('unauthorized')
      }
    }
    // The HTTP API never takes the token from the address (it would end up in logs and the Referer).
    expect((await rawRequest(`${server.url}/api/v1/units?token=correct%20horse`)).status).toBe(401)
    expect(await upgrade(server)).toBe(401)
    expect(await upgrade(server, '/api/v1/live?token=wrong')).toBe(401)
    expect(await upgrade(server, '/api/v1/live?token=correct%20horse')).toBe('open')
    expect(await upgrade(server, '/api/v1/live', withToken)).toBe('open')

    expect((await rawRequest(`${server.url}/api/v1/ingest`, { method: 'POST', headers: { ...withToken, 'content-type': 'application/json' }, body: payload })).status).toBe(202)
    expect((await rawRequest(`${server.url}/api/v1/units/${unit.id}`, { headers: { authorization: 'bearer correct horse' } })).status).toBe(200)
    // Health stays open for agents to probe, but tells the unit count only to token holders.
    const open = await getJson(`${server.url}/api/v1/health`)
    expect(open.status).toBe(200)
    expect(open.body.units).toBeUndefined()
    expect((await getJson(`${server.url}/api/v1/health`, withToken)).body.units).toBe(1)
  })
})
