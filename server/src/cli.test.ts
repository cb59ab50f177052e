import { execFileSync, spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { WebSocket } from 'ws'
import { BOOKS_SQL, bookListUnit, payloadOf, query, quietUnit } from '../../test/helpers/payloads.js'
import { ingest, until } from '../../test/helpers/server.js'
import { createStore } from './store/store.js'
import { VERSION } from './version.js'

const CLI = new URL('../../dist/cli.js', import.meta.url).pathname
const children: ChildProcessWithoutNullStreams[] = []
const dirs: string[] = []
afterEach(() => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL')
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true })
})

/** Spawns `querysight serve ...` and resolves with its URL once it printed the listening line. */
async function serve(args: string[], env: Record<string, string> = {}) {
  const child = spawn('node', [CLI, 'serve', ...args], { env: { ...process.env, ...env } })
  children.push(child)
  let out = ''
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk
      const match = /listening on (http:\/\/\S+)\n/.exec(out)
      if (match) resolve(match[1])
    })
    child.once('exit', (code) => reject(new Error(`exited with ${code} before listening: ${out}`)))
  })
  return { child, url, exited, output: () => out }
}

const tmp = () => {
  const dir = mkdtempSync(join(tmpdir(), 'qs-cli-'))
  dirs.push(dir)
  return dir
}

describe('the querysight command', () => {
  it('prints the version of package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'))
    expect(VERSION).toBe(pkg.version)
    expect(execFileSync('node', [CLI, '--version'], { encoding: 'utf8' }).trim()).toBe(pkg.version)
  })

  it('prints exactly one line with the URL once it answers its health check', async () => {
    const { url, output } = await serve(['--port', '0', '--db', ':memory:'])
    expect(output()).toMatch(new RegExp(`^querysight ${VERSION.replace(/\./g, '\\.')} listening on http://127\\.0\\.0\\.1:\\d+\\n$`))
    const health = await (await fetch(`${url}/api/v1/health`)).json()
    expect(health).toMatchObject({ ok: true, version: VERSION, protocol: 1, units: 0 })
  })

  it('says on stderr where it keeps the units, leaving stdout its one line', async () => {
    const db = join(tmp(), 'history.db')
    const child = spawn('node', [CLI, 'serve', '--port', '0', '--db', db, '--max-units', '2500'])
    children.push(child)
    let err = ''
    child.stderr.on('data', (chunk: Buffer) => (err += chunk))
    await new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => String(chunk).includes('listening on') && resolve()))
    expect(err).toBe(`querysight: units kept in ${db} (the last 2,500)\n`)
  })

  it('serves when started without a subcommand', async () => {
    const child = spawn('node', [CLI, '--port', '0', '--db', ':memory:'])
    children.push(child)
    const line = await new Promise<string>((resolve) => child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString())))
    expect(line).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/)
  })

  it('says which port is taken and what to do', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as { port: number }).port
    try {
      const run = spawnSync('node', [CLI, 'serve', '--port', String(port), '--db', ':memory:'], { encoding: 'utf8' })
      expect(run.status).toBe(1)
      expect(run.stderr).toBe(`querysight: port ${port} is already in use; start with --port <other> or stop the other querysight\n`)
      expect(run.stdout).toBe('')
    } finally {
      blocker.close()
    }
  })

  it('rejects unknown flags and bad values with a usage error', () => {
    const unknown = spawnSync('node', [CLI, 'serve', '--bogus'], { encoding: 'utf8' })
    expect(unknown.status).toBe(2)
    expect(unknown.stderr).toMatch(/--bogus.*see querysight serve --help/)
    const badPort = spawnSync('node', [CLI, 'serve', '--port', 'eighty'], { encoding: 'utf8' })
    expect(badPort.status).toBe(2)
    expect(badPort.stderr).toMatch(/--port must be an integer from 0 to 65535/)
    const command = spawnSync('node', [CLI, 'launch'], { encoding: 'utf8' })
    expect(command.status).toBe(2)
    expect(command.stderr).toMatch(/unknown command "launch"/)
  })

  it('closes sockets and the database cleanly on SIGTERM', async () => {
    const db = join(tmp(), 'data', 'qs.db')
    const { child, url, exited } = await serve(['--port', '0', '--db', db])
    await ingest(url, payloadOf([quietUnit()]))
    const ws = new WebSocket(`${url.replace('http', 'ws')}/api/v1/live`)
    const closeCode = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
    await new Promise((resolve) => ws.once('message', resolve))
    child.kill('SIGTERM')
    expect(await exited).toBe(0)
    expect(await closeCode).toBe(1001)
    expect(existsSync(`${db}-wal`)).toBe(false)
    const store = createStore({ path: db })
    expect(store.countUnits()).toBe(1)
    store.close()
  })

  it('exits on SIGINT too', async () => {
    const { child, exited } = await serve(['--port', '0', '--db', ':memory:'])
    child.kill('SIGINT')
    expect(await exited).toBe(0)
  })

  it('takes the token from QUERYSIGHT_TOKEN', async () => {
    const { url } = await serve(['--port', '0', '--db', ':memory:'], { QUERYSIGHT_TOKEN: 'from-env' })
    expect((await fetch(`${url}/api/v1/units`)).status).toBe(401)
    expect((await fetch(`${url}/api/v1/units`, { headers: { authorization: 'Bearer from-env' } })).status).toBe(200)
  })

  it('applies --min-repeats and --slow-ms to the analysis of what it ingests', async () => {
    const { url } = await serve(['--port', '0', '--db', ':memory:', '--min-repeats', '3', '--slow-ms', '20'])
    const twoLookups = bookListUnit({ authors: 2 })
    const threeLookups = bookListUnit({ authors: 3 })
    const slow = { ...quietUnit(), queries: [query(BOOKS_SQL, [], { ms: 50 })] }
    expect((await ingest(url, payloadOf([twoLookups, threeLookups, slow]))).status).toBe(202)
    const kinds = async (id: string) => ((await (await fetch(`${url}/api/v1/units/${id}`)).json()).unit.findings as { kind: string }[]).map((f) => f.kind)
    expect(await kinds(twoLookups.id)).not.toContain('n_plus_one')
    expect(await kinds(threeLookups.id)).toContain('n_plus_one')
    expect(await kinds(slow.id)).toEqual(['slow_query'])
  })

  it('rejects analysis thresholds that make no sense', () => {
    const run = spawnSync('node', [CLI, 'serve', '--min-repeats', '1'], { encoding: 'utf8' })
    expect(run.status).toBe(2)
    expect(run.stderr).toMatch(/--min-repeats must be an integer of at least 2, got "1"/)
    expect(execFileSync('node', [CLI, 'serve', '--help'], { encoding: 'utf8' })).toMatch(/--min-repeats 2\] \[--slow-ms 100\]/)
  })

  it('keeps --max-units units', async () => {
    const { url } = await serve(['--port', '0', '--db', ':memory:', '--max-units', '2'])
    for (let i = 0; i < 4; i++) await ingest(url, payloadOf([quietUnit()]))
    await until(async () => (await (await fetch(`${url}/api/v1/health`)).json()).units === 2)
  })
})
