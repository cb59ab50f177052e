/**
 * Fuzzing the analysis behind ingest on the real server: valid units whose SQL is random or mutated (broken quotes,
 * comments, placeholders of every dialect, IN lists, markup, NUL) and whose queries repeat in loops, so every
 * detector and suggestion runs on hostile text. Each batch is stored (202), and every unit, its fingerprints and the
 * routes page read back without a 500. (server/src/analysis/fingerprint.fuzz.test.ts covers the fingerprint, lexer
 * and formatter functions themselves.) FUZZ_CASES sets the number of units (default 300), FUZZ_SEED replays a run.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WireQuery, WireUnit } from '../../server/src/protocol.js'
import { getJson, ingest } from '../helpers/server.js'
import { ROOT, startCli, stopAll, type CliServer } from '../load/processes.js'

const CASES = Number(process.env.FUZZ_CASES ?? 300)
const SEED = Number(process.env.FUZZ_SEED ?? 20261122)

function random(seed: number) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number) => Math.floor(next() * n)
  return { next, int, pick: <T>(items: readonly T[]): T => items[int(items.length)] }
}

const GOLDEN_SQL = readdirSync(`${ROOT}test/fixtures/protocol/valid`).flatMap((file) =>
  (JSON.parse(readFileSync(`${ROOT}test/fixtures/protocol/valid/${file}`, 'utf8')).units as WireUnit[]).flatMap((unit) => unit.queries.map((q) => q.sql)),
)
const PIECES = [
  "'", '"', '`', '[', ']', '(', ')', '((', '))', '/*', '*/', '--', '#', '\n', '$$', '$tag$', '%s', '%(name)s', '?', '?1', ':name', '$1', '@p1',
  'IN (', 'IN (%s, %s, %s)', 'VALUES (%s, %s), (%s, %s)', 'SELECT', 'FROM', 'WHERE', 'JOIN', 'LIMIT', 'OFFSET', 'UNION ALL', 'SAVEPOINT "s1_x"',
  'RELEASE SAVEPOINT', 'BEGIN', 'COMMIT', 'INSERT INTO', 'UPDATE', 'DELETE FROM', 'SET', '=', '<=', '::', '->>', ';', ',', '.', '*', '0x1F', '1e999',
  "E'\\''", "N'x'", "X'00'", '<script>alert(1)</script>', '\u0000', '\ud800', '😀', '\u202e', ' ', '  ', '"shop_book"."id"', '"shop_author"',
]
const VENDORS = ['postgresql', 'sqlite', 'mysql', 'oracle', 'mssql', 'postgres', 'mariadb']

function mutate(rng: ReturnType<typeof random>, sql: string): string {
  let out = sql
  for (let edits = 1 + rng.int(6); edits > 0; edits--) {
    const at = rng.int(out.length + 1)
    const kind = rng.int(3)
    if (kind === 0) out = out.slice(0, at) + rng.pick(PIECES) + out.slice(at)
    else if (kind === 1) out = out.slice(0, at) + out.slice(at + 1 + rng.int(20))
    else out = out.slice(0, at) + out.slice(rng.int(out.length + 1))
  }
  // The protocol requires some SQL text, at most 100 KB of UTF-8 (30,000 UTF-16 units are at most 90 KB).
  return out.slice(0, 30_000) || ' '
}

const randomSql = (rng: ReturnType<typeof random>) => Array.from({ length: 1 + rng.int(30) }, () => rng.pick(PIECES)).join(rng.pick([' ', '', '\n']))

function randomParam(rng: ReturnType<typeof random>, depth = 0): unknown {
  const kind = rng.int(depth < 2 ? 8 : 6)
  if (kind === 0) return rng.int(1000)
  if (kind === 1) return rng.pick(['', 'x', '<b>bold</b>', '\u0000', 'a'.repeat(300), '…'])
  if (kind === 2) return null
  if (kind === 3) return rng.next() < 0.5
  if (kind === 4) return rng.next() * 1e6
  if (kind === 5) return String(rng.int(10))
  if (kind === 6) return Array.from({ length: rng.int(4) }, () => randomParam(rng, depth + 1))
  return { k: randomParam(rng, depth + 1) }
}

let serial = 0
function fuzzUnit(rng: ReturnType<typeof random>): WireUnit {
  const queries: WireQuery[] = []
  const count = 1 + rng.int(30)
  const loopSite = { file: `app/${rng.pick(['views', 'models', '<x>'])}.py`, line: 1 + rng.int(200), function: rng.pick(['list', 'detail', '', '<lambda>']) }
  const loopSql = rng.next() < 0.5 ? mutate(rng, rng.pick(GOLDEN_SQL)) : randomSql(rng)
  const vendor = rng.pick(VENDORS)
  for (let i = 0; i < count; i++) {
    const inLoop = rng.next() < 0.6
    const many = !inLoop && rng.next() < 0.1
    const site = inLoop ? loopSite : { file: 'app/other.py', line: i + 1, function: 'f' }
    const params = many ? Array.from({ length: 1 + rng.int(3) }, () => [randomParam(rng)]) : rng.next() < 0.1 ? null : Array.from({ length: rng.int(4) }, () => randomParam(rng))
    queries.push({
      sql: inLoop ? loopSql : rng.next() < 0.5 ? mutate(rng, rng.pick(GOLDEN_SQL)) : randomSql(rng),
      params: params as WireQuery['params'],
      db: rng.pick(['default', 'replica', '<db>']),
      vendor,
      start_ms: i * rng.next() * 3,
      duration_ms: rng.pick([0, 0.01, 5, 150, 10_000]),
      many,
      error: rng.next() < 0.05 ? 'OperationalError: near "(": syntax error' : null,
      callsite: site,
      stack: [site, { file: 'app/urls.py', line: 3, function: 'dispatch' }],
      ...(rng.next() < 0.2 ? { template: { name: 'shop/<list>.html', line: 1 + rng.int(50) } } : {}),
    })
  }
  return {
    id: `analysis-fuzz-${process.pid}-${++serial}`, kind: rng.pick(['request', 'test', 'task', 'command', 'block'] as const), name: `GET /${rng.pick(['books', '<x>', ''])}/`,
    method: 'GET', path: '/books/', route: rng.pick(['books/', null, '<int:pk>/']), status: 200, started_at: Date.now(), duration_ms: 50, meta: {}, queries, dropped_queries: 0,
  }
}

describe('fuzzing the analysis of ingested units', () => {
  let server: CliServer
  let dir: string
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qs-analysis-fuzz-'))
    server = await startCli(['--db', join(dir, 'fuzz.db'), '--max-units', '100000000'])
  })
  afterAll(async () => {
    await stopAll()
    rmSync(dir, { recursive: true, force: true })
  })

  it(`stores and reads back ${CASES} units of random and mutated SQL in loops, with findings, and never answers 500`, { timeout: 600_000 }, async () => {
    const rng = random(SEED)
    const problems: string[] = []
    const fingerprints = new Set<string>()
    const kinds = new Set<string>()
    for (let done = 0; done < CASES; ) {
      const units = Array.from({ length: Math.min(10, CASES - done) }, () => fuzzUnit(rng))
      done += units.length
      const answer = await ingest(server.url, { protocol: 1, agent: { name: 'fuzz', version: '0' }, app: { name: 'fuzz' }, units })
      if (answer.status !== 202) {
        problems.push(`batch ending at unit ${done} (FUZZ_SEED=${SEED}): ${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`)
        continue
      }
      for (const unit of units) {
        const read = await getJson(`${server.url}/api/v1/units/${unit.id}`)
        if (read.status !== 200 || read.body.unit.queries.length !== unit.queries.length || !Array.isArray(read.body.unit.findings)) {
          problems.push(`unit ${unit.id} (FUZZ_SEED=${SEED}) read back as ${read.status}: ${JSON.stringify(read.body).slice(0, 300)}`)
          continue
        }
        for (const query of read.body.unit.queries) fingerprints.add(query.fingerprint)
        for (const finding of read.body.unit.findings) kinds.add(finding.kind)
      }
    }
    for (const id of [...fingerprints].slice(0, 200)) {
      const read = await getJson(`${server.url}/api/v1/fingerprints/${id}`)
      if (read.status !== 200) problems.push(`fingerprint ${id}: ${read.status}`)
    }
    for (const path of ['/api/v1/routes', '/api/v1/units?limit=500', '/api/v1/units?finding=n_plus_one', '/api/v1/units?q=%3Cx%3E']) {
      const read = await getJson(`${server.url}${path}`)
      if (read.status !== 200) problems.push(`${path}: ${read.status}`)
    }
    expect(problems).toEqual([])
    // The hostile SQL went through the detectors, not around them.
    expect([...kinds].sort()).toEqual(expect.arrayContaining(['duplicate', 'n_plus_one', 'slow_query']))
    expect(server.child.exitCode).toBeNull()
    expect(server.stderr()).not.toMatch(/internal error/)
    expect((await getJson(`${server.url}/api/v1/health`)).body.units).toBe(CASES)
  })
})
