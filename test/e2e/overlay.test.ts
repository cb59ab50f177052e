/**
 * The dev-server overlay in a real headless Chromium, on the pages of the bookshop demo (Django under `runserver`
 * with the querysight agent), reporting to a real querysight server on port 0: the badge shows the counts the server
 * holds, the panel lists the page's findings and the units of its fetch/XHR calls, and the overlay remembers where
 * it was put. `UPDATE_SCREENSHOTS=1` also writes ui/screenshots/overlay.png.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'
import type { Unit } from '../../server/src/protocol.js'
import { startServer, type RunningServer } from '../../server/src/server.js'
import { describeBrowser, launchBrowser } from '../helpers/browser.js'
import { BOOKSHOP, bookListUnit, payloadOf, quietUnit } from '../helpers/payloads.js'
import { getJson, ingest, until } from '../helpers/server.js'

const ROOT = resolve(import.meta.dirname, '../..')
const PYTHON = join(ROOT, '.venv/bin/python')
const BOOKSHOP_DIR = join(ROOT, 'python-agent/examples/bookshop')
const run = promisify(execFile)

/** Builds the UI and the overlay from the current sources into a new temporary directory. */
async function buildUiIntoTemp(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'querysight-overlay-ui-'))
  await run(process.execPath, ['ui/build.mjs', '--outdir', dir], { cwd: ROOT })
  return dir
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer()
    probe.once('error', fail)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => done(port))
    })
  })
}

/** SIGTERM, then SIGKILL if it has not exited once its exit is awaited for a while. */
async function stop(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((done) => child.once('exit', () => done()))
  child.kill('SIGTERM')
  const killer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited
  clearTimeout(killer)
}

describeBrowser('the dev-server overlay on the bookshop demo', () => {
  let work: string
  let uiDir: string
  let server: RunningServer
  let app: ChildProcess
  let appUrl: string
  let appLog = ''
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let pageErrors: string[]

  const overlay = () => page.locator('[data-testid="qs-overlay"]')
  const badge = () => page.locator('[data-testid="qs-badge"]')
  const unitOnServer = async (id: string) => {
    const { status, body } = await getJson(`${server.url}/api/v1/units/${encodeURIComponent(id)}`)
    expect(status).toBe(200)
    return body.unit as Unit
  }
  const countsOf = async (row: Locator) => ({
    queries: Number(await row.getAttribute('data-queries')),
    n_plus_one: Number(await row.getAttribute('data-n-plus-one')),
    duplicates: Number(await row.getAttribute('data-duplicates')),
  })
  /** Opens a page of the shop and waits until its badge shows the counts of its unit. */
  async function open(path: string): Promise<{ id: string; unit: Unit }> {
    await page.goto(`${appUrl}${path}`)
    const id = await page.locator('script[data-unit]').getAttribute('data-unit')
    expect(id).toBeTruthy()
    await page.locator('[data-testid="qs-badge"][data-queries]').waitFor()
    return { id: id!, unit: await unitOnServer(id!) }
  }

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'querysight-overlay-e2e-'))
    const env = { ...process.env, BOOKSHOP_DB: join(work, 'bookshop.sqlite3'), QUERYSIGHT_URL: '', PYTHONUNBUFFERED: '1' }
    const [built] = await Promise.all([
      buildUiIntoTemp(),
      run(PYTHON, ['manage.py', 'migrate', '--noinput', '-v', '0'], { cwd: BOOKSHOP_DIR, env }).then(() =>
        run(PYTHON, ['manage.py', 'seed'], { cwd: BOOKSHOP_DIR, env }),
      ),
    ])
    uiDir = built
    server = await startServer({ port: 0, db: ':memory:', uiDir })

    const port = await freePort()
    appUrl = `http://127.0.0.1:${port}`
    app = spawn(PYTHON, ['manage.py', 'runserver', `127.0.0.1:${port}`, '--noreload'], {
      cwd: BOOKSHOP_DIR,
      env: { ...env, QUERYSIGHT_URL: server.url },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    app.stdout!.on('data', (chunk: Buffer) => (appLog += chunk.toString()))
    app.stderr!.on('data', (chunk: Buffer) => (appLog += chunk.toString()))
    await until(
      async () => {
        if (app.exitCode !== null) throw new Error(`the bookshop exited with ${app.exitCode}:\n${appLog}`)
        return fetch(`${appUrl}/`).then((response) => response.ok, () => false)
      },
      { timeoutMs: 60_000, what: `the bookshop to answer at ${appUrl}` },
    )
    browser = await launchBrowser()
  })

  afterAll(async () => {
    await browser?.close()
    await stop(app)
    await server?.close()
    for (const dir of [work, uiDir]) if (dir) await rm(dir, { recursive: true, force: true })
  })

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 860 } })
    page = await context.newPage()
    pageErrors = []
    page.on('pageerror', (error) => pageErrors.push(error.message))
  })

  afterEach(async () => {
    await context?.close()
    expect(pageErrors).toEqual([])
  })

  it('shows the counts of a page with an N+1 in a badge, equal to the server’s, coloured by the worst severity', async () => {
    const { unit } = await open('/books/')
    expect(unit.summary.n_plus_one).toBeGreaterThan(0)

    expect(await countsOf(badge())).toEqual({ queries: unit.summary.queries, n_plus_one: unit.summary.n_plus_one, duplicates: unit.summary.duplicates })
    const text = await page.locator('[data-testid="qs-badge-text"]').textContent()
    expect(text).toContain(`${unit.summary.queries} queries`)
    expect(text).toContain(`${unit.summary.n_plus_one} N+1`)
    if (unit.summary.duplicates > 0) expect(text).toContain(`${unit.summary.duplicates} duplicate`)
    expect(await badge().getAttribute('data-tone')).toBe(unit.summary.severity)
    // Drawn in a shadow root of its own host, outside the page's own markup.
    expect(await page.evaluate(() => document.querySelector('querysight-overlay')?.shadowRoot?.querySelector('[data-testid="qs-badge"]') !== null)).toBe(true)
  })

  it('opens a panel with the page’s findings and fixes, linking to the full report in a new tab', async () => {
    const { id, unit } = await open('/books/')
    await badge().click()
    const panel = page.locator('[data-testid="qs-panel"]')
    await panel.waitFor()

    const findings = panel.locator('[data-testid="qs-finding"]')
    expect(await findings.count()).toBe(unit.findings.length)
    const nPlusOne = unit.findings.find((finding) => finding.kind === 'n_plus_one')!
    const shown = panel.locator('[data-testid="qs-finding"][data-kind="n_plus_one"]', { hasText: nPlusOne.suggestion.text.slice(0, 40) })
    expect(await shown.textContent()).toContain(nPlusOne.suggestion.text)
    if (nPlusOne.suggestion.code) expect(await shown.locator('pre').textContent()).toBe(nPlusOne.suggestion.code)
    if (nPlusOne.callsite) expect(await shown.textContent()).toContain(`${nPlusOne.callsite.file}:${nPlusOne.callsite.line}`)

    const link = panel.locator('[data-testid="qs-page-row"]')
    expect(await link.getAttribute('href')).toBe(`${server.url}/#/units/${id}`)
    expect(await link.getAttribute('target')).toBe('_blank')
    const [report] = await Promise.all([context.waitForEvent('page'), link.click()])
    await report.waitForURL(`${server.url}/#/units/${id}`)
    // In the report's order (the worst first, then the most time wasted): they came in the server's before.
    await report.locator('[data-testid="finding"]').first().waitFor()
    const reportOrder = await report.locator('.finding__fix-text').allTextContents()
    expect(await panel.locator('.qs-fix').allTextContents()).toEqual(reportOrder)
    await report.close()

    await page.bringToFront()
    await page.keyboard.press('Escape') // closes the panel, as a dialog closes
    await panel.waitFor({ state: 'detached' })
  })

  it('adds a row with the counts of the JSON endpoint the page’s button calls with fetch, and of an XHR', async () => {
    await open('/publishers/1/')
    await badge().click()
    await page.locator('[data-testid="qs-panel"]').waitFor()
    expect(await page.locator('[data-testid="qs-call"]').count()).toBe(0)

    await page.locator('#restock').click()
    // The page's own code still gets its response: it parses the JSON and shows the result.
    await page.locator('#restock-result', { hasText: 'Restocked' }).waitFor()
    const row = page.locator('[data-testid="qs-call"][data-queries]')
    await row.waitFor()
    const callId = (await row.getAttribute('data-unit'))!
    const call = await unitOnServer(callId)
    expect(call.method).toBe('POST')
    expect(call.path).toBe('/api/publishers/1/restock/')
    expect(await countsOf(row)).toEqual({ queries: call.summary.queries, n_plus_one: call.summary.n_plus_one, duplicates: call.summary.duplicates })
    expect(await row.textContent()).toContain('POST /api/publishers/1/restock/')
    expect(await row.getAttribute('href')).toBe(`${server.url}/#/units/${callId}`)
    expect(await row.getAttribute('target')).toBe('_blank')
    // The restock writes a row per book: the badge says its colour may come from the call.
    expect(await page.locator('[data-testid="qs-badge-calls"]').textContent()).toBe(call.summary.findings > 0 ? '+1 call with findings' : '+1 call')

    if (process.env.UPDATE_SCREENSHOTS === '1') {
      await page.screenshot({ path: join(ROOT, 'ui/screenshots/overlay.png') })
    }

    const status = await page.evaluate(
      () =>
        new Promise<number>((done) => {
          const xhr = new XMLHttpRequest()
          xhr.open('GET', '/api/books/')
          xhr.onload = () => done(xhr.status)
          xhr.send()
        }),
    )
    expect(status).toBe(200)
    await page.locator('[data-testid="qs-call"][data-queries]').nth(1).waitFor()
    const xhrRow = page.locator('[data-testid="qs-call"]').nth(1)
    const xhrUnit = await unitOnServer((await xhrRow.getAttribute('data-unit'))!)
    expect(xhrUnit.path).toBe('/api/books/')
    expect(await countsOf(xhrRow)).toEqual({ queries: xhrUnit.summary.queries, n_plus_one: xhrUnit.summary.n_plus_one, duplicates: xhrUnit.summary.duplicates })
    expect(await xhrRow.locator('[data-testid="qs-status"]').getAttribute('class')).toBe('qs-status qs-status--none')

    // A call that failed has no findings either: its status, not the dot, says so.
    expect(await page.evaluate(() => fetch('/api/no-such-thing/').then((r) => r.status))).toBe(404)
    await page.locator('[data-testid="qs-call"][data-queries]').nth(2).waitFor()
    const missing = page.locator('[data-testid="qs-call"]').nth(2).locator('[data-testid="qs-status"]')
    expect(await missing.textContent()).toBe('404')
    expect(await missing.getAttribute('class')).toBe('qs-status qs-status--warning')
  })

  it('remembers across reloads that it was moved to another corner and collapsed', async () => {
    await open('/books/')
    expect(await overlay().getAttribute('data-corner')).toBe('bottom-right')
    await page.locator('[data-testid="qs-move"]').click()
    expect(await overlay().getAttribute('data-corner')).toBe('bottom-left')
    await page.locator('[data-testid="qs-collapse"]').click()
    expect(await overlay().getAttribute('data-collapsed')).toBe('true')

    await page.reload()
    await page.locator('[data-testid="qs-overlay"][data-collapsed="true"]').waitFor()
    expect(await overlay().getAttribute('data-corner')).toBe('bottom-left')
    const box = (await badge().boundingBox())!
    expect(box.x).toBeLessThan(640)
    expect(box.y).toBeGreaterThan(430)

    await badge().click()
    expect(await overlay().getAttribute('data-collapsed')).toBe('false')
    await page.reload()
    await page.locator('[data-testid="qs-overlay"][data-collapsed="false"]').waitFor()
    expect(await overlay().getAttribute('data-corner')).toBe('bottom-left')
  })
})

/**
 * The overlay on a page of its own, served by the test, for what the demo cannot show on demand: a unit that reaches
 * the server only after the page has loaded, a page origin no agent has reported yet, hostile page CSS, and the page's
 * own fetch/XHR results left exactly as they were.
 */
describeBrowser('the dev-server overlay on a hand-made page', () => {
  let uiDir: string
  let server: RunningServer
  let site: Server
  let siteUrl: string
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let pageErrors: string[]
  const heldImages: (() => void)[] = []

  /** A page with the agent's script tag for `unit`, some hostile CSS, and a JSON endpoint that names `call` in its header. */
  function handle(request: IncomingMessage, response: ServerResponse) {
    const url = new URL(request.url ?? '/', siteUrl)
    if (url.pathname === '/page') {
      const unit = url.searchParams.get('unit') ?? ''
      const image = url.searchParams.get('hold') ? '<img src="/held.png" alt="">' : ''
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'X-QuerySight-Unit': unit })
      response.end(`<!doctype html><html><head><title>page</title><style>
        querysight-overlay, div, button, span { display: none !important; }
        * { color: lime !important; font-size: 40px !important; transform: rotate(90deg); }
      </style></head><body><p id="own">the page</p>${image}
      <script src="${server.url}/overlay.js" data-unit="${unit}" async></script></body></html>`)
    } else if (url.pathname === '/api/thing') {
      response.writeHead(200, { 'content-type': 'application/json', 'X-QuerySight-Unit': url.searchParams.get('call') ?? '' })
      response.end(JSON.stringify({ ok: true, call: url.searchParams.get('call') }))
    } else if (url.pathname === '/held.png') {
      heldImages.push(() => {
        response.writeHead(404)
        response.end()
      })
    } else {
      response.writeHead(404)
      response.end()
    }
  }

  const report = (units: ReturnType<typeof bookListUnit>[], origin: string | null = siteUrl) =>
    ingest(server.url, payloadOf(units, { app: { ...BOOKSHOP, origin } }))
  const badge = () => page.locator('[data-testid="qs-badge"]')

  beforeAll(async () => {
    uiDir = await buildUiIntoTemp()
    server = await startServer({ port: 0, db: ':memory:', uiDir })
    site = createHttpServer(handle)
    await new Promise<void>((done) => site.listen(0, '127.0.0.1', done))
    siteUrl = `http://127.0.0.1:${(site.address() as { port: number }).port}`
    browser = await launchBrowser()
  })

  afterAll(async () => {
    await browser?.close()
    for (const release of heldImages.splice(0)) release()
    site?.closeAllConnections()
    await new Promise<void>((done) => (site ? site.close(() => done()) : done()))
    await server?.close()
    if (uiDir) await rm(uiDir, { recursive: true, force: true })
  })

  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1024, height: 700 } })
    page = await context.newPage()
    pageErrors = []
    page.on('pageerror', (error) => pageErrors.push(error.message))
  })

  afterEach(async () => {
    for (const release of heldImages.splice(0)) release()
    await context?.close()
    expect(pageErrors).toEqual([])
  })

  it('draws nothing and patches nothing before the page’s load event', async () => {
    const unit = bookListUnit()
    await report([unit])
    await page.goto(`${siteUrl}/page?unit=${unit.id}&hold=1`, { waitUntil: 'domcontentloaded' })
    // The overlay script has run (async, not blocked by the image) once the server has served it.
    await until(() => heldImages.length === 1, { what: 'the page to request its held image' })
    await page.waitForFunction(() => (window as unknown as Record<string, unknown>).__querysightOverlay === true)
    expect(await page.evaluate(() => document.readyState)).not.toBe('complete')
    expect(await page.evaluate(() => document.querySelector('querysight-overlay'))).toBeNull()
    expect(await page.evaluate(() => Function.prototype.toString.call(window.fetch).includes('[native code]'))).toBe(true)

    heldImages.shift()!()
    await page.locator('[data-testid="qs-badge"][data-queries]').waitFor()
    expect(await page.evaluate(() => Function.prototype.toString.call(window.fetch).includes('[native code]'))).toBe(false)
  })

  it('shows a unit that reaches the server only after the page has loaded, with no error in the page’s console', async () => {
    await report([quietUnit()])
    const late = bookListUnit()
    const consoleErrors: string[] = []
    page.on('console', (message) => {
      if (message.type() === 'error') consoleErrors.push(message.text())
    })
    await page.goto(`${siteUrl}/page?unit=${late.id}`)
    await page.locator('[data-testid="qs-badge"][data-tone="pending"]').waitFor()
    await until(() => server.waitingReads() === 1, { what: "the overlay's read to wait on the server" })
    await report([late])
    await page.locator('[data-testid="qs-badge"][data-queries]').waitFor()
    const { body } = await getJson(`${server.url}/api/v1/units/${late.id}`)
    expect(Number(await badge().getAttribute('data-queries'))).toBe(body.unit.summary.queries)
    // The overlay's read waited on the server for the unit (?wait=): no 404 for the browser to log.
    expect(consoleErrors).toEqual([])
  })

  it('shows the unit once an agent reports the page’s origin, though the server refused it at first', async () => {
    const restarted = await startServer({ port: 0, db: ':memory:', uiDir })
    const previous = server
    server = restarted
    try {
      const unit = bookListUnit()
      await page.goto(`${siteUrl}/page?unit=${unit.id}`)
      await page.locator('[data-testid="qs-badge"][data-tone="pending"]').waitFor()
      const refused = await page.evaluate((url) => fetch(url).then(() => 'read', () => 'refused'), `${server.url}/api/v1/units/${unit.id}`)
      expect(refused).toBe('refused')
      // The overlay's first read has waited its 2 s and been refused too: the unit comes by its retries.
      await until(() => restarted.waitingReads() === 1, { what: "the overlay's first read to wait" })
      await until(() => restarted.waitingReads() === 0, { what: "the overlay's first read to give up" })
      await report([unit])
      await page.locator('[data-testid="qs-badge"][data-queries]').waitFor()
    } finally {
      server = previous
      await restarted.close()
    }
  })

  it('keeps its look whatever the page’s CSS says', async () => {
    const unit = bookListUnit()
    await report([unit])
    await page.goto(`${siteUrl}/page?unit=${unit.id}`)
    await page.locator('[data-testid="qs-badge"][data-queries]').waitFor()
    expect(await badge().isVisible()).toBe(true)
    const style = await badge().evaluate((element) => {
      const computed = getComputedStyle(element)
      return { color: computed.color, fontSize: computed.fontSize, transform: computed.transform }
    })
    expect(style).toEqual({ color: 'rgb(255, 255, 255)', fontSize: '12px', transform: 'none' })
    const box = (await badge().boundingBox())!
    expect(box.x + box.width).toBeGreaterThan(1024 - 100)
    expect(box.y + box.height).toBeGreaterThan(700 - 60)
  })

  it('hands the page’s fetch and XHR calls exactly what they returned before, and lists them', async () => {
    const unit = bookListUnit()
    const fetched = bookListUnit()
    const requested = quietUnit()
    await report([unit, fetched, requested])
    await page.goto(`${siteUrl}/page?unit=${unit.id}`)
    await page.locator('[data-testid="qs-badge"][data-queries]').waitFor()
    await badge().click()

    const results = await page.evaluate(
      async ([fetchedId, requestedId]) => {
        const promise = fetch(`/api/thing?call=${fetchedId}`)
        const response = await promise
        const body = await response.json()
        const failed = await fetch('http://127.0.0.1:1/nothing').then(() => 'resolved', (error: Error) => error.constructor.name)
        let illegal = 'no error'
        try {
          await window.fetch.call({} as Window, '/api/thing')
        } catch (error) {
          illegal = (error as Error).constructor.name
        }
        const xhr = await new Promise<{ status: number; text: string; events: string[] }>((done) => {
          const request = new XMLHttpRequest()
          const events: string[] = []
          request.open('GET', `/api/thing?call=${requestedId}`)
          request.onreadystatechange = () => events.push(`state ${request.readyState}`)
          request.onload = () => done({ status: request.status, text: request.responseText, events })
          request.send()
        })
        return { isPromise: promise instanceof Promise, status: response.status, body, failed, illegal, xhr }
      },
      [fetched.id, requested.id] as const,
    )
    expect(results).toEqual({
      isPromise: true,
      status: 200,
      body: { ok: true, call: fetched.id },
      failed: 'TypeError',
      illegal: 'TypeError',
      xhr: { status: 200, text: JSON.stringify({ ok: true, call: requested.id }), events: ['state 2', 'state 3', 'state 4'] },
    })

    await page.locator('[data-testid="qs-call"][data-queries]').nth(1).waitFor()
    const rows = page.locator('[data-testid="qs-call"]')
    expect(await rows.evaluateAll((elements) => elements.map((element) => element.getAttribute('data-unit')))).toEqual([fetched.id, requested.id])
  })

  it('lists the 100 most recent calls, and still counts the older ones in the badge and the panel', async () => {
    const unit = quietUnit()
    const early = [bookListUnit(), bookListUnit(), bookListUnit()]
    const later = Array.from({ length: 100 }, () => quietUnit())
    await report([unit, ...early, ...later])
    await page.goto(`${siteUrl}/page?unit=${unit.id}`)
    await page.locator('[data-testid="qs-badge"][data-queries]').waitFor()
    await badge().click()
    const call = (ids: string[]) => page.evaluate(async (all) => { for (const id of all) await fetch(`/api/thing?call=${id}`) }, ids)
    await call(early.map((u) => u.id))
    await page.locator('[data-testid="qs-call"][data-queries]').nth(2).waitFor() // their findings are known
    await call(later.map((u) => u.id))
    await page.locator(`[data-testid="qs-call"][data-unit="${later[99].id}"][data-queries]`).waitFor()

    const rows = page.locator('[data-testid="qs-call"]')
    expect(await rows.count()).toBe(100)
    expect(await rows.first().getAttribute('data-unit')).toBe(later[0].id)
    expect(await page.locator('[data-testid="qs-older-calls"]').textContent()).toBe('3 older calls not listed (the 100 most recent are), 3 with findings')
    expect(await page.locator('[data-testid="qs-badge-calls"]').textContent()).toBe('+103 calls, 3 with findings')
    expect(await badge().getAttribute('data-tone')).toBe('warning') // the colour of the calls no longer listed

    // A call that leaves the list before its unit comes: its findings count when it comes.
    const late = bookListUnit()
    const more = Array.from({ length: 100 }, () => quietUnit())
    await report(more)
    await call([late.id, ...more.map((u) => u.id)])
    await page.locator(`[data-testid="qs-call"][data-unit="${more[99].id}"][data-queries]`).waitFor()
    await report([late])
    await page.locator('[data-testid="qs-older-calls"]', { hasText: '104 older calls not listed (the 100 most recent are), 4 with findings' }).waitFor()
    expect(await page.locator('[data-testid="qs-badge-calls"]').textContent()).toBe('+204 calls, 4 with findings')
  })
})
