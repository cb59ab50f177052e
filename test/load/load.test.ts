/**
 * Load: the real server (`querysight serve`, SQLite file, --max-units) driven by concurrent real Python agent
 * processes, each serving the SQLite bookshop at a steady rate and counting the units its transport delivered.
 * Nothing delivered is lost, memory stays bounded and retention holds the store at --max-units.
 *
 * Short by default (in `make test`); the long run is `make load`, or set
 *   LOAD_PROCESSES (8) LOAD_SECONDS (10) LOAD_RATE (units/s per process, 25) LOAD_MAX_UNITS (1000) LOAD_RSS_LIMIT_MB (400)
 */
import Database from 'better-sqlite3'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { until } from '../helpers/server.js'
import { ROOT, rssBytes, startCli, startPython, stopAll } from './processes.js'

const env = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got ${process.env[name]}`)
  return value
}
const PROCESSES = env('LOAD_PROCESSES', 8)
const SECONDS = env('LOAD_SECONDS', 10)
const RATE = env('LOAD_RATE', 25)
const MAX_UNITS = env('LOAD_MAX_UNITS', 1000)
const RSS_LIMIT = env('LOAD_RSS_LIMIT_MB', 400) * 2 ** 20

interface AgentReport {
  name: string
  submitted: number
  delivered: number
  dropped: number
  flushed: boolean
  app_errors: number
  ids: string[]
}

const dir = mkdtempSync(join(tmpdir(), 'qs-load-'))
afterAll(async () => {
  await stopAll()
  rmSync(dir, { recursive: true, force: true })
})

describe(`${PROCESSES} agent processes × ${SECONDS} s at ${RATE} units/s each`, () => {
  it('stores every unit the agents counted as delivered, within a bounded memory, keeping --max-units', { timeout: (SECONDS + 90) * 1000 }, async () => {
    const db = join(dir, 'load.db')
    const server = await startCli(['--db', db, '--max-units', String(MAX_UNITS)])
    const startRss = rssBytes(server.pid)

    // Every unit the server commits is announced on the live socket: the witness of what was stored, even when
    // retention has removed it since.
    const announced = new Set<string>()
    const socket = new WebSocket(`${server.url.replace('http', 'ws')}/api/v1/live`)
    socket.on('message', (data) => {
      const message = JSON.parse(String(data))
      if (message.type === 'unit') announced.add(message.unit.id)
    })
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject))

    let peakRss = startRss
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rssBytes(server.pid))), 100)
    const agents = Array.from({ length: PROCESSES }, (_, i) =>
      startPython(`${ROOT}test/load/agent.py`, [`load-${i}`, String(SECONDS), String(RATE)], {
        env: { QUERYSIGHT_URL: server.url },
        pythonPath: [`${ROOT}test/load`],
      }),
    )
    const exits = await Promise.all(agents.map((agent) => agent.exited))
    clearInterval(sampler)
    peakRss = Math.max(peakRss, rssBytes(server.pid))

    exits.forEach((exit, i) => expect(exit, `agent ${i} failed: ${agents[i].stderr()}`).toEqual({ code: 0, signal: null }))
    const reports = agents.map((agent) => JSON.parse(agent.stdout().trim().split('\n').at(-1)!) as AgentReport)
    const delivered = reports.flatMap((report) => report.ids)
    const total = delivered.length
    console.log(
      `[load] ${PROCESSES} agents: ${reports.reduce((n, r) => n + r.submitted, 0)} units submitted, ${total} delivered, ` +
        `${reports.reduce((n, r) => n + r.dropped, 0)} dropped by full queues; server RSS ${(startRss / 2 ** 20).toFixed(0)} MiB at start, ` +
        `${(peakRss / 2 ** 20).toFixed(0)} MiB at peak`,
    )

    for (const report of reports) {
      expect(report.app_errors, `${report.name}: the app failed`).toBe(0)
      expect(report.flushed, `${report.name}: the agent did not finish delivering`).toBe(true)
      expect(report.delivered + report.dropped, `${report.name}: every unit is delivered or counted as dropped`).toBe(report.submitted)
    }
    expect(new Set(delivered).size).toBe(total)
    expect(total).toBeGreaterThan(MAX_UNITS)

    // The announcements are sent after each commit; they may trail the agents' last answers by a moment.
    await until(() => announced.size >= total, { what: `${total} units announced on the live socket` }).catch(() => {})
    socket.close()
    expect(delivered.filter((id) => !announced.has(id)), 'delivered units the server never committed').toEqual([])
    expect(announced.size).toBe(total)

    const health = (await (await fetch(`${server.url}/api/v1/health`)).json()) as { units: number }
    expect(health.units).toBe(MAX_UNITS)
    expect(peakRss, `server RSS peaked at ${(peakRss / 2 ** 20).toFixed(0)} MiB`).toBeLessThan(RSS_LIMIT)

    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null })
    const file = new Database(db, { readonly: true })
    try {
      expect(file.pragma('integrity_check', { simple: true })).toBe('ok')
      const ever = file.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'units'").pluck().get() as number
      expect(ever, 'units ever inserted').toBe(total)
      const kept = file.prepare('SELECT id FROM units ORDER BY seq').pluck().all() as string[]
      expect(kept).toHaveLength(MAX_UNITS)
      const deliveredSet = new Set(delivered)
      expect(kept.filter((id) => !deliveredSet.has(id))).toEqual([])
    } finally {
      file.close()
    }
  })
})
