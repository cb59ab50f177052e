/**
 * The Python agent in a real app process against the real server when the server is down, frozen, restarted in the
 * middle of the run, or answering errors. The app never fails; what the queue could hold is delivered once the server
 * is back, and what it could not is counted as dropped. (The agent's own tests cover the same rules against a fake
 * receiver; these cross the process boundary with the real server.)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { getJson } from '../helpers/server.js'
import { ROOT, startCli, startPython, stopAll, type Child } from '../load/processes.js'
import { mountTmpfs, tmpfsUnavailable, unmountAll } from './tmpfs.js'

const dir = mkdtempSync(join(tmpdir(), 'qs-agent-faults-'))
afterEach(async () => {
  await stopAll()
  unmountAll()
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

interface Answer {
  command: string
  flushed?: boolean
  submitted: number
  delivered: number
  dropped: number
  app_errors: number
  ids: string[]
}

/** The app of agent_app.py, driven one command at a time. Fast retries, so a test waits fractions of a second. */
function startApp(settings: Record<string, unknown>) {
  const child: Child = startPython(`${ROOT}test/faults/agent_app.py`, [JSON.stringify({ backoff_initial: 0.05, backoff_max: 0.2, ...settings })], {
    pythonPath: [`${ROOT}test/load`],
  })
  let answered = 0
  const command = async (line: string): Promise<Answer> => {
    child.child.stdin.write(`${line}\n`)
    const lines = await new Promise<string[]>((resolve, reject) => {
      const check = () => {
        const all = child.stdout().split('\n').filter(Boolean)
        if (all.length > answered) {
          child.child.stdout.off('data', check)
          resolve(all)
        }
      }
      child.child.stdout.on('data', check)
      void child.exited.then((exit) => reject(new Error(`the app exited (${JSON.stringify(exit)}): ${child.stderr()}`)))
      check()
    })
    return JSON.parse(lines[answered++]) as Answer
  }
  return { child, command }
}

/** A loopback port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

async function storedIds(url: string): Promise<Set<string>> {
  const page = await getJson(`${url}/api/v1/units?limit=500`)
  return new Set((page.body.units as { id: string }[]).map((unit) => unit.id))
}

describe('the agent against a real server that misbehaves', () => {
  it('keeps the app serving while the server is down at start, and delivers everything once it comes up', async () => {
    const port = await freePort()
    const app = startApp({ url: `http://127.0.0.1:${port}` })
    const down = await app.command('serve 20')
    expect(down).toMatchObject({ submitted: 20, delivered: 0, dropped: 0, app_errors: 0 })

    const server = await startCli(['--port', String(port), '--db', ':memory:'])
    const flushed = await app.command('flush 20')
    expect(flushed).toMatchObject({ flushed: true, submitted: 20, delivered: 20, dropped: 0, app_errors: 0 })
    expect([...(await storedIds(server.url))].sort()).toEqual([...flushed.ids].sort())
  })

  it('resumes after the server is killed and restarted mid-run, delivering what the queue held and counting the rest as dropped', async () => {
    const db = join(dir, 'restarted.db')
    const first = await startCli(['--db', db])
    const app = startApp({ url: first.url, queue_size: 10, batch_size: 5 })
    // A burst no larger than the queue: nothing is dropped while the server is up.
    expect(await app.command('serve 8')).toMatchObject({ app_errors: 0 })
    expect(await app.command('flush 20')).toMatchObject({ flushed: true, delivered: 8, dropped: 0 })

    await first.stop('SIGKILL')
    const whileDown = await app.command('serve 40')
    expect(whileDown.app_errors).toBe(0)
    expect(whileDown.delivered).toBe(8)
    // The worker holds at most one batch (5) while it retries, and the queue 10 more: the rest is dropped and counted.
    expect(whileDown.dropped).toBeGreaterThanOrEqual(40 - 10 - 5)
    expect(whileDown.dropped).toBeLessThanOrEqual(40 - 10)

    const second = await startCli(['--port', String(first.port), '--db', db])
    const after = await app.command('flush 20')
    expect(after).toMatchObject({ flushed: true, submitted: 48, app_errors: 0 })
    expect(after.delivered).toBe(8 + 40 - whileDown.dropped)
    expect(after.delivered + after.dropped).toBe(after.submitted)
    expect([...(await storedIds(second.url))].sort()).toEqual([...after.ids].sort())
  })

  it('never holds the app up while the server is frozen, and delivers each unit once after it continues', async () => {
    const server = await startCli(['--db', ':memory:'])
    const app = startApp({ url: server.url, http_timeout: 0.5 })
    expect(await app.command('serve 5')).toMatchObject({ app_errors: 0 })
    expect(await app.command('flush 20')).toMatchObject({ flushed: true, delivered: 5 })

    process.kill(server.pid, 'SIGSTOP')
    try {
      // The connection is accepted by the kernel but never answered: only the agent's worker waits on it.
      const frozen = await app.command('serve 30')
      expect(frozen).toMatchObject({ submitted: 35, delivered: 5, app_errors: 0, dropped: 0 })
      expect(await app.command('flush 0.2')).toMatchObject({ flushed: false })
    } finally {
      process.kill(server.pid, 'SIGCONT')
    }
    const after = await app.command('flush 20')
    expect(after).toMatchObject({ flushed: true, submitted: 35, delivered: 35, dropped: 0 })
    // A batch whose answer timed out may reach the server later and be sent again: stored once all the same.
    expect((await getJson(`${server.url}/api/v1/health`)).body.units).toBe(35)
    expect([...(await storedIds(server.url))].sort()).toEqual([...new Set(after.ids)].sort())
  })

  it('gives up on batches the server refuses with 401, once, with the reason in the log, and the app keeps serving', async () => {
    const server = await startCli(['--db', ':memory:', '--token', 's3cret'])
    const wrong = startApp({ url: server.url, token: 'wrong' })
    expect(await wrong.command('serve 10')).toMatchObject({ app_errors: 0 })
    expect(await wrong.command('flush 20')).toMatchObject({ flushed: true, delivered: 0, app_errors: 0 })
    expect(wrong.child.stderr()).toMatch(/refused a batch \(401: unauthorized: .*token.*\); \d+ units? dropped/)
    expect(wrong.child.stderr()).not.toContain('internal error') // a refusal of the setup, not a bug of the agent

    const right = startApp({ url: server.url, token: 's3cret' })
    expect(await right.command('serve 10')).toMatchObject({ app_errors: 0 })
    expect(await right.command('flush 20')).toMatchObject({ flushed: true, delivered: 10 })
    expect((await getJson(`${server.url}/api/v1/units`, { authorization: 'Bearer s3cret' })).body.units).toHaveLength(10)
  })

  const noTmpfs = tmpfsUnavailable()
  it.skipIf(noTmpfs !== null)(
    `keeps retrying while the server's disk is full, and delivers once space is freed${noTmpfs ? ` (skipped: ${noTmpfs})` : ''}`,
    async () => {
      const mount = mountTmpfs('1m')
      const ballast = join(mount, 'ballast')
      writeFileSync(ballast, Buffer.alloc(600 * 1024))
      const server = await startCli(['--db', join(mount, 'querysight.db')])
      const app = startApp({ url: server.url, queue_size: 5000 })
      // Fill the disk with the app's own units until the server answers 507 and the agent has to hold on to them.
      let answer = await app.command('serve 50')
      for (let round = 0; round < 60 && (await app.command('flush 1')).flushed; round++) answer = await app.command('serve 50')
      expect(answer.app_errors).toBe(0)
      const stuck = await app.command('stats')
      expect(stuck.delivered).toBeLessThan(stuck.submitted)
      expect(stuck.dropped).toBe(0)

      rmSync(ballast)
      const after = await app.command('flush 30')
      expect(after).toMatchObject({ flushed: true, dropped: 0, app_errors: 0 })
      expect(after.delivered).toBe(after.submitted)
      expect((await getJson(`${server.url}/api/v1/health`)).body.units).toBe(after.submitted)
    },
  )
})
