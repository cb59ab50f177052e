/**
 * Fuzzing POST /api/v1/ingest of the real server (`querysight serve` on a database file) over HTTP: malformed JSON,
 * wrong types, missing fields, huge strings, deep nesting, gzip bombs, wrong content types and encodings. Every
 * answer is a 202 or a precise 4xx with a JSON error (code, message, and the path of the offending field for an
 * invalid payload), never a 500 or a crash, and a refused body leaves the store unchanged.
 *
 * `make test` runs a short fixed-seed run; `make fuzz` a long one: FUZZ_CASES (default 300) mutated payloads per
 * kind, FUZZ_SEED to replay a run (printed when a case fails).
 */
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtempSync, rmSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { ROOT, startCli, stopAll, type CliServer } from '../load/processes.js'

const CASES = Number(process.env.FUZZ_CASES ?? 300)
const SEED = Number(process.env.FUZZ_SEED ?? 20261122)
const SEEDS: Record<string, any> = Object.fromEntries(
  readdirSync(`${ROOT}test/fixtures/protocol/valid`).map((file) => [file, JSON.parse(readFileSync(`${ROOT}test/fixtures/protocol/valid/${file}`, 'utf8'))]),
)

/** mulberry32: a small seeded generator, so a failing run can be replayed with FUZZ_SEED. */
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

interface Answer {
  status: number
  headers: Record<string, string | string[] | undefined>
  text: string
}

function post(url: string, body: Buffer | string, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/api/v1/ingest`, { method: 'POST', headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => (text += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }))
    })
    // The server may answer 413 and close before reading a huge body: the answer counts, not the write.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)))
    req.end(body)
  })
}

type Path = (string | number)[]
const pathText = (path: Path) => path.map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? part : `.${part}`)).join('')

/** Every path in `value` to an object member or array element, with its value. */
function pathsOf(value: unknown, prefix: Path = []): [Path, unknown][] {
  const out: [Path, unknown][] = []
  if (Array.isArray(value)) value.forEach((item, i) => out.push([[...prefix, i], item], ...pathsOf(item, [...prefix, i])))
  else if (value && typeof value === 'object') for (const [key, item] of Object.entries(value)) out.push([[...prefix, key], item], ...pathsOf(item, [...prefix, key]))
  return out
}

function setAt(root: any, path: Path, value: unknown) {
  const parent = path.slice(0, -1).reduce((node, key) => node[key], root)
  parent[path[path.length - 1]] = value
}

function deleteAt(root: any, path: Path) {
  const parent = path.slice(0, -1).reduce((node, key) => node[key], root)
  if (Array.isArray(parent)) parent.splice(Number(path[path.length - 1]), 1)
  else delete parent[path[path.length - 1]]
}

let serial = 0
/** A deep copy of a golden payload with fresh unit ids, so an accepted case adds new units. */
function freshSeed(name: string) {
  const payload = structuredClone(SEEDS[name])
  for (const unit of payload.units) unit.id = `fuzz-${process.pid}-${++serial}-${unit.id}`.slice(0, 200)
  return payload
}

describe('fuzzing POST /api/v1/ingest', () => {
  let server: CliServer
  let dir: string
  let expectedUnits = 0
  const failures: string[] = []

  beforeEach(() => {
    failures.length = 0
  })
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qs-fuzz-'))
    server = await startCli(['--db', join(dir, 'fuzz.db'), '--max-units', '100000000'])
  })
  afterAll(async () => {
    await stopAll()
    rmSync(dir, { recursive: true, force: true })
  })

  const unitCount = async () => ((await (await fetch(`${server.url}/api/v1/health`)).json()) as { units: number }).units

  /**
   * Sends one case and checks the rules; `path` is the field a mutation made wrong, when the answer must name it.
   * Returns the answer's status.
   */
  async function check(what: string, body: Buffer | string, headers?: Record<string, string>, { path }: { path?: string } = {}): Promise<number> {
    const answer = await post(server.url, body, headers)
    const problems: string[] = []
    let json: any = null
    try {
      json = JSON.parse(answer.text)
    } catch {
      problems.push(`answer is not JSON: ${answer.text.slice(0, 200)}`)
    }
    if (answer.status === 202) {
      expectedUnits += json?.accepted ?? 0
    } else if ([400, 413, 415].includes(answer.status)) {
      const error = json?.error
      if (typeof error?.code !== 'string' || typeof error?.message !== 'string' || error.message.length < 10) problems.push(`error without code and message: ${answer.text.slice(0, 200)}`)
      if (error?.code === 'invalid_payload' && typeof error.path !== 'string') problems.push(`invalid_payload without a path: ${answer.text.slice(0, 200)}`)
      // The field itself, or a field inside it (a wrong object is named by its first wrong member).
      // Flipping `many` changes what `params` must be: naming the params is as precise.
      const fields = path?.endsWith('.many') ? [path, path.replace(/many$/, 'params')] : [path]
      const within = (named: string) => fields.some((field) => named === field || named.startsWith(`${field}.`) || named.startsWith(`${field}[`))
      if (path !== undefined && error?.code === 'invalid_payload' && !within(error.path)) problems.push(`names ${JSON.stringify(error.path)} instead of ${JSON.stringify(path)}: ${error.message.slice(0, 200)}`)
    } else {
      problems.push(`answered ${answer.status}: ${answer.text.slice(0, 300)}`)
    }
    if (server.child.exitCode !== null || server.child.signalCode !== null) problems.push(`the server exited: ${server.stderr().slice(-2000)}`)
    else if ((await unitCount()) !== expectedUnits) problems.push(`the store holds ${await unitCount()} units, expected ${expectedUnits}`)
    if (problems.length) failures.push(`${what} (FUZZ_SEED=${SEED}): ${problems.join('; ')}`)
    expectedUnits = problems.length && server.child.exitCode === null ? await unitCount() : expectedUnits
    return answer.status
  }

  it('accepts every golden payload as the baseline', async () => {
    for (const name of Object.keys(SEEDS)) expect(await check(`golden ${name}`, JSON.stringify(freshSeed(name)))).toBe(202)
    expect(failures).toEqual([])
  })

  it(`answers ${CASES} payloads with one field of a wrong type with 202 or a 400 naming that field`, { timeout: 600_000 }, async () => {
    const rng = random(SEED)
    const wrong = [null, true, 0, -1, 1.5, 1e308, -1e308, '', 'x', '💥', [], [1], {}, { a: 1 }, 'a'.repeat(300)]
    for (let i = 0; i < CASES; i++) {
      const name = rng.pick(Object.keys(SEEDS))
      const payload = freshSeed(name)
      const [path] = rng.pick(pathsOf(payload))
      const value = rng.pick(wrong)
      setAt(payload, path, structuredClone(value))
      await check(`${name}: ${pathText(path)} = ${JSON.stringify(value).slice(0, 40)}`, JSON.stringify(payload), undefined, { path: pathText(path) })
    }
    expect(failures).toEqual([])
  })

  it(`answers ${CASES} payloads with one field missing with 202 or a 400 naming it`, { timeout: 600_000 }, async () => {
    const rng = random(SEED + 1)
    for (let i = 0; i < CASES; i++) {
      const name = rng.pick(Object.keys(SEEDS))
      const payload = freshSeed(name)
      const objectMembers = pathsOf(payload).filter(([path]) => typeof path[path.length - 1] === 'string')
      const [path] = rng.pick(objectMembers)
      deleteAt(payload, path)
      await check(`${name}: without ${pathText(path)}`, JSON.stringify(payload), undefined, { path: pathText(path) })
    }
    expect(failures).toEqual([])
  })

  it(`answers ${CASES} truncated, flipped and garbled bodies with a 4xx, never a 500`, { timeout: 600_000 }, async () => {
    const rng = random(SEED + 2)
    for (let i = 0; i < CASES; i++) {
      const name = rng.pick(Object.keys(SEEDS))
      const text = Buffer.from(JSON.stringify(freshSeed(name)))
      const kind = rng.int(4)
      let body: Buffer
      if (kind === 0) body = text.subarray(0, rng.int(text.length))
      else if (kind === 1) {
        body = Buffer.from(text)
        for (let flips = 1 + rng.int(8); flips > 0; flips--) body[rng.int(body.length)] = rng.int(256)
      } else if (kind === 2) body = Buffer.from(Array.from({ length: rng.int(2000) }, () => rng.int(256)))
      else {
        const at = rng.int(text.length)
        body = Buffer.concat([text.subarray(0, at), Buffer.from(rng.pick(['"', '\\', '{', ']', ',', 'NaN', 'undefined', '\u0000', '\ud800', '\xff\xfe', '1e999'])), text.subarray(at)])
      }
      await check(`${name}: garbled body (kind ${kind})`, body)
    }
    expect(failures).toEqual([])
  })

  it('refuses huge strings in every size-limited field with a 400 naming the field', async () => {
    const payload = freshSeed('django-request-with-schema.json')
    const huge = 'q'.repeat(200 * 1024)
    const stringPaths = pathsOf(payload).filter(([, value]) => typeof value === 'string')
    for (const [path] of stringPaths) {
      const copy = freshSeed('django-request-with-schema.json')
      setAt(copy, path, huge)
      await check(`huge string at ${pathText(path)}`, JSON.stringify(copy), undefined, { path: pathText(path) })
    }
    const manyUnits = freshSeed('minimal-and-every-kind.json')
    manyUnits.units = Array.from({ length: 1001 }, (_, i) => ({ ...manyUnits.units[0], id: `many-${serial}-${i}` }))
    await check('1,001 units in one batch', JSON.stringify(manyUnits), undefined, { path: 'units' })
    const deepStack = freshSeed('minimal-and-every-kind.json')
    const query = deepStack.units.find((unit: any) => unit.queries.length).queries[0]
    query.stack = Array.from({ length: 17 }, (_, i) => ({ file: 'app.py', line: i + 1, function: 'f' }))
    await check('17 stack frames', JSON.stringify(deepStack))
    expect(failures).toEqual([])
  })

  it('survives deep nesting in the body, in meta and in params', async () => {
    // Built as text: JSON.stringify itself cannot write 100,000 levels.
    const deep = (depth: number, open: string, leaf: string, close: string) => open.repeat(depth) + leaf + close.repeat(depth)
    for (const depth of [100, 1_000, 10_000, 100_000]) {
      await check(`${depth} nested arrays as the body`, deep(depth, '[', '', ']'))
      await check(`${depth} unclosed nested objects`, '{"a":'.repeat(depth))
      const payload = freshSeed('minimal-and-every-kind.json')
      const at = payload.units.findIndex((u: any) => u.queries.length)
      payload.units[at].meta = { deep: 'DEEP_META' }
      payload.units[at].queries[0].params = ['DEEP_PARAMS']
      const text = JSON.stringify(payload)
      const inMeta = text.replace('"DEEP_META"', deep(depth, '{"a":', '1', '}'))
      expect(await check(`${depth} levels of nesting in meta`, inMeta, undefined, { path: `units[${at}].meta` })).toBe(400)
      const inParams = text.replace('"DEEP_PARAMS"', deep(depth, '[', '1', ']'))
      expect(await check(`${depth} levels of nesting in params`, inParams, undefined, { path: `units[${at}].queries[0].params` })).toBe(400)
    }
    expect(failures).toEqual([])
  })

  it('refuses gzip bombs, broken gzip and other encodings without inflating them', async () => {
    const json = { 'content-type': 'application/json' }
    const gzip = { ...json, 'content-encoding': 'gzip' }
    // 1 GiB of zeros as 16 gzip members of 64 MiB each (a gzip stream may hold several): the same bomb, built in a
    // fraction of the time one member of 1 GiB takes to compress, which under a loaded CI machine outlasted the timeout.
    const bomb = Buffer.concat(Array(16).fill(gzipSync(Buffer.alloc(64 * 1024 * 1024), { level: 9 })))
    expect(await check('1 GiB of zeros gzipped', bomb, gzip)).toBe(413)
    const jsonBomb = gzipSync(Buffer.concat([Buffer.from('{"protocol":1,"pad":"'), Buffer.alloc(64 * 1024 * 1024, 'a'), Buffer.from('"}')]))
    expect(await check('64 MiB JSON string gzipped', jsonBomb, gzip)).toBe(413)
    expect(await check('gzip in gzip', gzipSync(gzipSync(JSON.stringify(freshSeed('minimal-and-every-kind.json')))), gzip)).toBe(400)
    const valid = gzipSync(JSON.stringify(freshSeed('minimal-and-every-kind.json')))
    expect(await check('truncated gzip', valid.subarray(0, valid.length - 10), gzip)).toBe(400)
    expect(await check('gzip claimed, plain sent', JSON.stringify(freshSeed('minimal-and-every-kind.json')), gzip)).toBe(400)
    for (const encoding of ['br', 'deflate', 'compress', 'gzip, gzip', 'zstd']) {
      expect(await check(`Content-Encoding: ${encoding}`, valid, { ...json, 'content-encoding': encoding })).toBe(415)
    }
    expect(await check('identity encoding, declared', JSON.stringify(freshSeed('minimal-and-every-kind.json')), { ...json, 'content-encoding': 'identity' })).toBe(202)
    expect(failures).toEqual([])
  })

  it('refuses bodies over 16 MiB, declared or streamed, with 413', async () => {
    const big = Buffer.alloc(17 * 1024 * 1024, ' ')
    expect(await check('17 MiB of spaces', big)).toBe(413)
    expect(await check('a Content-Length over the limit', 'x', { 'content-type': 'application/json', 'content-length': String(17 * 1024 * 1024), connection: 'close' }).catch(() => 413)).toBe(413)
    expect(failures).toEqual([])
  })

  it('refuses other content types with 415, and takes JSON whatever the letter case or charset', async () => {
    const body = () => JSON.stringify(freshSeed('minimal-and-every-kind.json'))
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/json', 'application/jsonx', 'application/xml', '']) {
      expect(await check(`Content-Type: ${JSON.stringify(type)}`, body(), type ? { 'content-type': type } : {})).toBe(415)
    }
    for (const type of ['APPLICATION/JSON', 'application/json; charset=utf-8', 'application/vnd.querysight+json']) {
      expect(await check(`Content-Type: ${type}`, body(), { 'content-type': type })).toBe(202)
    }
    expect(await check('a UTF-16 body', Buffer.from(`\ufeff${body()}`, 'utf16le'), { 'content-type': 'application/json; charset=utf-16' })).toBe(400)
    expect(failures).toEqual([])
  })

  it('keeps odd but valid text as text: lone surrogates, NUL, __proto__ keys, invalid UTF-8', async () => {
    const payload = freshSeed('minimal-and-every-kind.json')
    const unit = payload.units.find((u: any) => u.queries.length)
    unit.name = 'GET /\ud800/\u0000/'
    unit.meta = JSON.parse('{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}}')
    unit.queries[0].sql = "SELECT '\udfff' || '\u0000'"
    expect(await check('lone surrogates, NUL and __proto__', JSON.stringify(payload))).toBe(202)
    const raw = Buffer.from(JSON.stringify(freshSeed('minimal-and-every-kind.json')).replace('"name":"', '"name":"\u0001'))
    const invalidUtf8 = Buffer.concat([raw.subarray(0, raw.indexOf('\u0001')), Buffer.from([0xc3, 0x28, 0xff]), raw.subarray(raw.indexOf('\u0001') + 1)])
    expect([202, 400]).toContain(await check('invalid UTF-8 inside a string', invalidUtf8))
    expect(({} as any).polluted).toBeUndefined()
    const stored = await (await fetch(`${server.url}/api/v1/units/${unit.id}`)).json()
    expect(stored.unit.queries[0].sql).toContain('SELECT')
    expect(failures).toEqual([])
  })
})
