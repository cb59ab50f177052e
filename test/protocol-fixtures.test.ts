import { readdirSync, readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServer, type RunningServer } from '../server/src/server.js'
import { getJson, ingest } from './helpers/server.js'

const dir = new URL('./fixtures/protocol/', import.meta.url)
const read = (sub: string) =>
  readdirSync(new URL(sub, dir))
    .filter((file) => file.endsWith('.json'))
    .map((file) => [file, JSON.parse(readFileSync(new URL(`${sub}${file}`, dir), 'utf8'))] as const)

let server: RunningServer
beforeAll(async () => {
  server = await startServer({ port: 0, db: ':memory:', ui: false })
})
afterAll(() => server.close())

describe('golden protocol payloads against the real server', () => {
  it.each(read('valid/'))('accepts %s and stores every unit with its analysis', async (_file, payload) => {
    const answer = await ingest(server.url, payload)
    expect(answer).toMatchObject({ status: 202, body: { accepted: payload.units.length, duplicates: 0 } })
    for (const sent of payload.units) {
      const { status, body } = await getJson(`${server.url}/api/v1/units/${sent.id}`)
      expect(status).toBe(200)
      expect(body.unit).toMatchObject({ id: sent.id, kind: sent.kind, name: sent.name, app: payload.app.name, summary: { queries: sent.queries.length + (sent.dropped_queries ?? 0) } })
      expect(body.unit.queries.map((q: { sql: string }) => q.sql)).toEqual(sent.queries.map((q: { sql: string }) => q.sql))
      expect(body.unit.queries.map((q: { template?: unknown }) => q.template ?? null)).toEqual(sent.queries.map((q: { template?: unknown }) => q.template ?? null))
    }
  })

  it.each(read('invalid/'))('rejects %s with the status and path it expects, storing nothing', async (_file, { payload, expect: expected }) => {
    const before = (await getJson(`${server.url}/api/v1/health`)).body.units
    const answer = await ingest(server.url, payload)
    expect(answer.status).toBe(expected.status)
    expect(answer.body.error).toMatchObject({ code: 'invalid_payload', path: expected.path, message: expect.any(String) })
    expect((await getJson(`${server.url}/api/v1/health`)).body.units).toBe(before)
  })
})
