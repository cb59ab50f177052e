/** The overlay's unit loader against a real querysight server (port 0): read at once, wait on the live socket, give up. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import { startServer, type RunningServer } from '../../../server/src/server.js'
import { bookListUnit, payloadOf } from '../../../test/helpers/payloads.js'
import { ingest, until } from '../../../test/helpers/server.js'
import { createUnitLoader } from './unit-loader.js'
import type { OverlayUnit } from './overlay-model.js'

const NodeWebSocket = WebSocket as unknown as typeof globalThis.WebSocket

describe('loading units for the overlay', () => {
  let server: RunningServer
  let loaded: OverlayUnit[]
  let missing: string[]

  beforeEach(async () => {
    server = await startServer({ port: 0, db: ':memory:', ui: false })
    loaded = []
    missing = []
  })

  afterEach(async () => {
    await server.close()
  })

  // firstWaitMs 0 unless a test is about it: the first read then answers 404 at once and the socket takes over.
  const loaderFor = (base: string, { delay = (_attempt: number): number | null => 60_000, socket = true, firstWaitMs = 0 } = {}) =>
    createUnitLoader({
      base,
      onUnit: (unit) => loaded.push(unit),
      onMissing: (id) => missing.push(id),
      WebSocketImpl: socket ? NodeWebSocket : undefined,
      delay,
      firstWaitMs,
    })

  it('reads a unit the server already holds, with its findings', async () => {
    const unit = bookListUnit()
    await ingest(server.url, payloadOf([unit]))
    loaderFor(server.url).load(unit.id)
    await until(() => loaded.length === 1, { what: 'the unit' })
    expect(loaded[0]).toMatchObject({ id: unit.id, summary: { queries: unit.queries.length } })
    expect(loaded[0].findings.some((finding) => finding.kind === 'n_plus_one')).toBe(true)
    expect(loaded[0]).not.toHaveProperty('queries') // the overlay shows counts and findings: a big page is megabytes
  })

  it('gets a unit that arrives while its first read waits from that read, with no 404 and no socket', async () => {
    const unit = bookListUnit()
    const statuses: number[] = []
    const recordingFetch: typeof fetch = async (...args) => {
      const response = await fetch(...args)
      statuses.push(response.status)
      return response
    }
    createUnitLoader({ base: server.url, onUnit: (u) => loaded.push(u), onMissing: (id) => missing.push(id), fetchFn: recordingFetch, WebSocketImpl: NodeWebSocket, firstWaitMs: 5000 }).load(unit.id)
    await until(() => server.waitingReads() === 1, { what: 'the first read to wait on the server' })
    await ingest(server.url, payloadOf([unit]))
    await until(() => loaded.length === 1, { what: 'the unit from the first read' })
    expect(statuses).toEqual([200])
    expect(server.liveStats().clients).toBe(0)
  })

  it('waits on the live socket for a unit the server receives later, without polling for it', async () => {
    const unit = bookListUnit()
    // Retries a minute apart: only the socket can bring the unit within the test.
    loaderFor(server.url).load(unit.id)
    await until(() => server.liveStats().subscribed === 1, { what: 'the loader to subscribe' })
    await ingest(server.url, payloadOf([unit]))
    await until(() => loaded.length === 1, { what: 'the unit from the socket' })
    expect(loaded[0].id).toBe(unit.id)
    // Nothing left to wait for: the socket is closed.
    await until(() => server.liveStats().clients === 0, { what: 'the socket to close' })
  })

  it('loads each unit once, however often it is asked for', async () => {
    const unit = bookListUnit()
    await ingest(server.url, payloadOf([unit]))
    const loader = loaderFor(server.url)
    loader.load(unit.id)
    loader.load(unit.id)
    await until(() => loaded.length === 1, { what: 'the unit' })
    loader.load(unit.id)
    const other = bookListUnit()
    await ingest(server.url, payloadOf([other]))
    loader.load(other.id)
    await until(() => loaded.length === 2, { what: 'the other unit' })
    expect(loaded.map((u) => u.id)).toEqual([unit.id, other.id])
  })

  it('says a unit is missing once its bounded retries are spent', async () => {
    const delays: number[] = []
    loaderFor(server.url, { socket: false, delay: (attempt) => (attempt < 3 ? (delays.push(attempt), 5) : null) }).load('never-sent')
    await until(() => missing.length === 1, { what: 'the loader to give up' })
    expect(missing).toEqual(['never-sent'])
    expect(delays).toEqual([0, 1, 2])
    expect(loaded).toEqual([])
  })

  it('retries, then gives up, when the server cannot be reached', async () => {
    const base = server.url
    await server.close()
    loaderFor(base, { delay: (attempt) => (attempt < 2 ? 5 : null) }).load('unit-1')
    await until(() => missing.length === 1, { what: 'the loader to give up' })
    expect(missing).toEqual(['unit-1'])
  })
})
