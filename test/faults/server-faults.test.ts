/**
 * The real server (`querysight serve` on a database file) when the machine misbehaves: killed with SIGKILL in the
 * middle of ingest, a disk that fills up, a database file that became read-only. What was acknowledged survives,
 * the database stays consistent, and the user gets an error that says what to do instead of a crash or a 500.
 */
import Database from 'better-sqlite3'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { payloadOf, query, unitId } from '../helpers/payloads.js'
import { getJson, ingest } from '../helpers/server.js'
import type { WireUnit } from '../../server/src/protocol.js'
import { failingCli, startCli, stopAll } from '../load/processes.js'
import { mountTmpfs, remountReadOnly, tmpfsUnavailable, unmountAll } from './tmpfs.js'

const dir = mkdtempSync(join(tmpdir(), 'qs-faults-'))
afterEach(async () => {
  await stopAll()
  unmountAll()
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** A unit of `queries` distinct queries with some bulk, so batches take real work and real disk space. */
function bulkyUnit(queries = 12, padding = 200): WireUnit {
  return {
    id: unitId('fault'),
    kind: 'request',
    name: 'GET /reports/',
    method: 'GET',
    path: '/reports/',
    route: 'reports/',
    status: 200,
    started_at: Date.now(),
    duration_ms: 10,
    meta: {},
    dropped_queries: 0,
    queries: Array.from({ length: queries }, (_, i) =>
      query(`SELECT "r"."id", '${'x'.repeat(padding)}' FROM "report_${i % 4}" "r" WHERE "r"."id" = %s`, [Math.random()], { at: i }),
    ),
  }
}

function openDb(path: string) {
  return new Database(path, { readonly: true, fileMustExist: true })
}

describe('the server killed with SIGKILL during ingest', () => {
  it('keeps every batch it answered 202, all or nothing of the others, and a consistent database', { timeout: 60_000 }, async () => {
    const db = join(dir, 'killed.db')
    const acknowledged: string[][] = []
    const attempted: string[][] = []
    for (let round = 0; round < 2; round++) {
      const server = await startCli(['--db', db])
      let killed = false
      // Eight senders post batches back to back; the server is killed once 40 of this round's batches were acknowledged.
      const roundStart = acknowledged.length
      const ackedThisRound = () => acknowledged.length - roundStart
      const sender = async () => {
        while (!killed) {
          const units = Array.from({ length: 10 }, () => bulkyUnit())
          const ids = units.map((unit) => unit.id)
          attempted.push(ids)
          try {
            const answer = await ingest(server.url, payloadOf(units))
            if (answer.status === 202) acknowledged.push(ids)
            else throw new Error(`unexpected answer ${answer.status}: ${JSON.stringify(answer.body)}`)
          } catch (err) {
            if (!killed) throw err
          }
          if (!killed && ackedThisRound() >= 40) {
            killed = true
            server.child.kill('SIGKILL')
          }
        }
      }
      await Promise.all(Array.from({ length: 8 }, sender))
      expect(await server.exited).toEqual({ code: null, signal: 'SIGKILL' })
    }

    const server = await startCli(['--db', db])
    const after = await ingest(server.url, payloadOf([bulkyUnit()]))
    expect(after.status).toBe(202)
    const health = await getJson(`${server.url}/api/v1/health`)
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null })

    const file = openDb(db)
    try {
      expect(file.pragma('integrity_check', { simple: true })).toBe('ok')
      expect(file.pragma('foreign_key_check')).toEqual([])
      const stored = new Set(file.prepare('SELECT id FROM units').pluck().all() as string[])
      expect(health.body.units).toBe(stored.size)
      const lost = acknowledged.flat().filter((id) => !stored.has(id))
      expect(lost, 'units of batches answered 202 that are missing after the kill').toEqual([])
      for (const batch of attempted) {
        const kept = batch.filter((id) => stored.has(id)).length
        expect([0, batch.length], 'a batch is stored whole or not at all').toContain(kept)
      }
      const orphans = file.prepare('SELECT count(*) FROM fingerprint_sites WHERE unit_seq NOT IN (SELECT seq FROM units)').pluck().get()
      expect(orphans).toBe(0)
    } finally {
      file.close()
    }
  })
})

const noTmpfs = tmpfsUnavailable()
if (noTmpfs) console.warn(`[querysight] skipping the full-disk and read-only database tests: ${noTmpfs}`)

describe.skipIf(noTmpfs !== null)(`a disk that fills up or turns read-only${noTmpfs ? ` (skipped: ${noTmpfs})` : ''}`, () => {
  it('answers 507 disk_full saying what to do, keeps serving, and stores again once space is freed', { timeout: 60_000 }, async () => {
    const mount = mountTmpfs('1m')
    const ballast = join(mount, 'ballast')
    writeFileSync(ballast, Buffer.alloc(256 * 1024))
    const db = join(mount, 'querysight.db')
    const server = await startCli(['--db', db])

    let refused: Awaited<ReturnType<typeof ingest>> | null = null
    let failedBatch: WireUnit[] = []
    let accepted = 0
    for (let i = 0; i < 200 && !refused; i++) {
      const units = Array.from({ length: 10 }, () => bulkyUnit(20, 400))
      const answer = await ingest(server.url, payloadOf(units))
      if (answer.status === 202) accepted += units.length
      else {
        refused = answer
        failedBatch = units
      }
    }
    expect(refused, 'the disk never filled up').not.toBeNull()
    expect(refused!.status).toBe(507)
    expect(refused!.body.error.code).toBe('disk_full')
    expect(refused!.body.error.message).toContain(db)
    expect(refused!.body.error.message).toMatch(/full.*free some space.*--db/)

    const health = await getJson(`${server.url}/api/v1/health`)
    expect(health.status).toBe(200)
    expect(health.body.units).toBe(accepted)
    expect(server.child.exitCode).toBeNull()
    expect(server.stderr()).not.toMatch(/internal error/)

    rmSync(ballast)
    const retried = await ingest(server.url, payloadOf(failedBatch))
    expect(retried.status).toBe(202)
    expect(retried.body).toEqual({ accepted: failedBatch.length, duplicates: 0 })
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null })
    const file = openDb(db)
    try {
      expect(file.pragma('integrity_check', { simple: true })).toBe('ok')
      expect(file.prepare('SELECT count(*) FROM units').pluck().get()).toBe(accepted + failedBatch.length)
    } finally {
      file.close()
    }
  })

  it('refuses to store into a read-only database with a 503 naming the file, and keeps serving reads', { timeout: 60_000 }, async () => {
    const mount = mountTmpfs('4m')
    const db = join(mount, 'querysight.db')
    const writer = await startCli(['--db', db])
    const unit = bulkyUnit()
    expect((await ingest(writer.url, payloadOf([unit]))).status).toBe(202)
    // Killed, not stopped: the write-ahead log stays beside the file, as after a crash or a copy of a live database.
    await writer.stop('SIGKILL')
    remountReadOnly(mount)

    const server = await startCli(['--db', db])
    expect((await getJson(`${server.url}/api/v1/units/${unit.id}`)).body.unit.id).toBe(unit.id)
    const refused = await ingest(server.url, payloadOf([bulkyUnit()]))
    expect(refused.status).toBe(503)
    expect(refused.body.error.code).toBe('database_read_only')
    expect(refused.body.error.message).toMatch(new RegExp(`${db}.*read-only.*--db`))
    expect((await getJson(`${server.url}/api/v1/health`)).body.units).toBe(1)
    expect(server.stderr()).not.toMatch(/internal error/)
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null })
  })

  it('refuses to start on a read-only database file, saying to pass a writable --db', { timeout: 30_000 }, async () => {
    const mount = mountTmpfs('4m')
    const db = join(mount, 'querysight.db')
    const writer = await startCli(['--db', db])
    expect((await ingest(writer.url, payloadOf([bulkyUnit()]))).status).toBe(202)
    expect(await writer.stop('SIGTERM')).toEqual({ code: 0, signal: null })
    remountReadOnly(mount)

    const refused = await failingCli(['--db', db])
    expect(refused.code).toBe(1)
    expect(refused.stdout).toBe('')
    expect(refused.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^querysight: cannot open the database ${db} .*writable --db`))])
  })
})
