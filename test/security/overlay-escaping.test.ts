/**
 * The overlay shows text that apps and their users control (SQL, parameters, paths, file and template names) inside
 * the developer's own pages: in a real Chromium, markup in any of them is shown as text and never runs, including
 * in the rows of the page's fetch calls and for a unit header that is itself hostile.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { WireQuery, WireUnit } from '../../server/src/protocol.js'
import { describeBrowser, launchBrowser } from '../helpers/browser.js'
import { BOOKSHOP, payloadOf, unitId } from '../helpers/payloads.js'
import { ingest } from '../helpers/server.js'
import { startCli, stopAll, type CliServer } from '../load/processes.js'

const MARKUP = {
  table: 'shop_<img src=x onerror=window.__xss=1>',
  file: 'shop/<svg onload="window.__xss=2">.py',
  fn: '<script>window.__xss=3</script>',
  template: '<iframe src="javascript:window.parent.__xss=4"></iframe>.html',
  path: '/search/?q=<img src=x onerror="window.__xss=5">',
  param: '<script>window.__xss=6</script>',
  call: '/api/<b onmouseover="window.__xss=7">thing</b>',
}
/** A hostile X-QuerySight-Unit header: not a valid unit id, so the overlay must neither run it nor trust it. */
const HOSTILE_HEADER = 'x"><img src=x onerror="window.__xss=8">'

function hostileUnit(id: string, { path = MARKUP.path, loops = 6 } = {}): WireUnit {
  const site = { file: MARKUP.file, line: 7, function: MARKUP.fn }
  const q = (sql: string, params: unknown[], at: number): WireQuery => ({
    sql, params: params as WireQuery['params'], db: 'default', vendor: 'sqlite', start_ms: at, duration_ms: 0.2, many: false, error: null,
    callsite: site, stack: [site], template: { name: MARKUP.template, line: 3 },
  })
  const queries = [q(`SELECT "id" FROM "shop_book" WHERE "title" = '${MARKUP.param}'`, [MARKUP.param], 0)]
  for (let i = 0; i < loops; i++) queries.push(q(`SELECT "${MARKUP.table}"."id" FROM "${MARKUP.table}" WHERE "${MARKUP.table}"."id" = %s`, [i + 1], 1 + i))
  queries.push(q('SELECT COUNT(*) FROM "shop_book"', [], 9), q('SELECT COUNT(*) FROM "shop_book"', [], 10))
  return { id, kind: 'request', name: `GET ${path}`, method: 'GET', path, route: 'search/', status: 200, started_at: Date.now(), duration_ms: 12, meta: {}, queries, dropped_queries: 0 }
}

describeBrowser('markup in what the overlay shows', () => {
  let server: CliServer
  let site: Server
  let siteUrl: string
  let browser: Browser

  function handle(request: IncomingMessage, response: ServerResponse) {
    const url = new URL(request.url ?? '/', siteUrl)
    if (url.pathname === '/page') {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'X-QuerySight-Unit': url.searchParams.get('unit')! })
      response.end(`<!doctype html><html><head><title>page</title></head><body><p>the page</p>
        <script>addEventListener('load', () => setTimeout(() => {
          fetch('/api/call?id=${encodeURIComponent(url.searchParams.get('call')!)}')
          fetch('/api/call?id=${encodeURIComponent(HOSTILE_HEADER)}')
        }, 0))</script>
        <script src="${server.url}/overlay.js" data-unit="${url.searchParams.get('unit')}" async></script></body></html>`)
    } else if (url.pathname === '/api/call') {
      response.writeHead(200, { 'content-type': 'application/json', 'X-QuerySight-Unit': url.searchParams.get('id')! })
      response.end('{"ok":true}')
    } else {
      response.writeHead(404)
      response.end()
    }
  }

  beforeAll(async () => {
    server = await startCli(['--db', ':memory:'])
    site = createServer(handle)
    await new Promise<void>((done) => site.listen(0, '127.0.0.1', done))
    siteUrl = `http://127.0.0.1:${(site.address() as { port: number }).port}`
    browser = await launchBrowser()
  })

  afterAll(async () => {
    await browser?.close()
    site?.closeAllConnections()
    await new Promise<void>((done) => (site ? site.close(() => done()) : done()))
    await stopAll()
  })

  it('shows SQL, parameters, paths, call sites and template names as text, and runs none of it', async () => {
    const pageUnit = hostileUnit(unitId('xss-page'))
    const callUnit = hostileUnit(unitId('xss-call'), { path: MARKUP.call, loops: 3 })
    expect((await ingest(server.url, payloadOf([pageUnit, callUnit], { app: { ...BOOKSHOP, origin: siteUrl } }))).status).toBe(202)

    const page = await browser.newPage()
    const errors: string[] = []
    const dialogs: string[] = []
    page.on('pageerror', (error) => errors.push(error.message))
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message())
      void dialog.dismiss()
    })
    try {
      await page.goto(`${siteUrl}/page?unit=${pageUnit.id}&call=${callUnit.id}`)
      await page.locator('[data-testid="qs-badge"][data-queries]').waitFor()
      await page.locator('[data-testid="qs-badge"]').click()
      const panel = page.locator('[data-testid="qs-panel"]')
      await panel.waitFor()
      await page.locator(`[data-testid="qs-call"][data-unit="${callUnit.id}"][data-queries]`).waitFor()
      await page.locator('[data-testid="qs-finding"][data-kind="n_plus_one"]').first().waitFor()

      const text = (await panel.textContent()) ?? ''
      expect(text).toContain(MARKUP.table)
      expect(text).toContain(MARKUP.template)
      expect(text).toContain(MARKUP.call)
      const injected = await page.evaluate(() => {
        const root = document.querySelector('querysight-overlay')?.shadowRoot
        return {
          elements: root ? [...root.querySelectorAll('img, script, iframe, object, embed, b, svg *')].map((e) => e.outerHTML) : null,
          handlers: root ? [...root.querySelectorAll('*')].flatMap((e) => [...e.attributes].filter((a) => a.name.startsWith('on')).map((a) => a.name)) : null,
          pageImages: document.images.length,
          xss: (window as unknown as { __xss?: number }).__xss ?? null,
        }
      })
      expect(injected).toEqual({ elements: [], handlers: [], pageImages: 0, xss: null })
      const links = await panel.locator('a').evaluateAll((anchors) => anchors.map((a) => (a as HTMLAnchorElement).href))
      for (const href of links) expect(href.startsWith(`${server.url}/#/units/`), href).toBe(true)
      expect(dialogs).toEqual([])
      expect(errors).toEqual([])
    } finally {
      await page.close()
    }
  })
})
