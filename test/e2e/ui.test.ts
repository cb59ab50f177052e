/**
 * The web UI in a real headless Chromium against the real server (port 0, in-memory store): units ingested over
 * HTTP appear live, reports show findings with their fix, big units stay responsive, SQL is always text.
 */
import { rm } from 'node:fs/promises'
import type { Browser, Page } from 'playwright-core'
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from 'vitest'
import { startServer, type RunningServer } from '../../server/src/server.js'
import {
  addToCart, bookDetail, bookListFixed, bookListWithNPlusOne, bookshopTraffic, hugeUnit, importTask, missingPage, payload, pytestUnit, scriptUnit, unitId,
} from '../fixtures/ui/bookshop.js'
import { buildUiIntoTemp, ingest } from '../fixtures/ui/harness.js'
import { describeBrowser, launchBrowser } from '../helpers/browser.js'

describeBrowser('the web UI', () => {
  let uiDir: string
  let server: RunningServer
  let browser: Browser
  let page: Page
  let pageErrors: string[]
  let dialogs: string[]
  let serial = 1000

  const nextId = () => ++serial
  const rows = (testid: string) => page.locator(`[data-testid="${testid}"]`)
  const countOf = (testid: string) => page.evaluate((id) => document.querySelectorAll(`[data-testid="${id}"]`).length, testid)
  const waitForCount = (testid: string, count: number) =>
    page.waitForFunction(([id, n]) => document.querySelectorAll(`[data-testid="${id}"]`).length === n, [testid, count] as const)

  async function openList(hash = '#/') {
    await page.goto(`${server.url}/${hash}`)
    await page.locator('[data-testid="live-status"][data-status="live"]').waitFor()
  }

  beforeAll(async () => {
    uiDir = await buildUiIntoTemp()
    browser = await launchBrowser()
  })

  afterAll(async () => {
    await browser?.close()
    if (uiDir) await rm(uiDir, { recursive: true, force: true })
  })

  beforeEach(async () => {
    server = await startServer({ port: 0, db: ':memory:', uiDir })
    page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
    pageErrors = []
    dialogs = []
    page.on('pageerror', (error) => pageErrors.push(error.message))
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message())
      void dialog.dismiss()
    })
  })

  afterEach(async () => {
    await page?.close()
    await server?.close()
    expect(pageErrors).toEqual([])
  })

  it('shows units as they arrive over the live socket, newest first', async () => {
    await openList()
    await ingest(server.url, payload([bookDetail(nextId(), Date.now() - 2000)]))
    await waitForCount('unit-row', 1)
    await ingest(server.url, payload([bookListWithNPlusOne(nextId(), Date.now() - 1000), addToCart(nextId(), Date.now())]))
    await waitForCount('unit-row', 3)
    const labels = await rows('unit-row').locator('.unit-row__label').allTextContents()
    expect(labels).toEqual(['/cart/', '/books/', '/books/7/'])
    const books = rows('unit-row').nth(1)
    expect(await books.locator('[data-testid="badge-n-plus-one"]').textContent()).toMatch(/N\+1/)
    expect(await books.getAttribute('data-severity')).toMatch(/warning|error/)
    expect(await rows('unit-row').nth(2).locator('[data-testid="badge-n-plus-one"]').count()).toBe(0)
  })

  it('loads the units recorded before the page opened', async () => {
    await ingest(server.url, payload(bookshopTraffic(Date.now())))
    await openList()
    await waitForCount('unit-row', 15)
    expect(await page.locator('[data-testid="unit-count"]').textContent()).toBe('15 units')
  })

  it('filters by text, kind, route and findings, and keeps the filter in the address', async () => {
    await ingest(server.url, payload(bookshopTraffic(Date.now())))
    await openList()
    await waitForCount('unit-row', 15)

    await page.locator('[data-testid="filter-kind"]').selectOption('test')
    await waitForCount('unit-row', 1)
    expect(await rows('unit-row').first().textContent()).toContain('tests/test_api.py::test_book_list')
    expect(page.url()).toContain('kind=test')

    await page.locator('[data-testid="filter-kind"]').selectOption('')
    await page.locator('[data-testid="filter-route"]').selectOption({ label: 'GET books/<int:pk>/' })
    await waitForCount('unit-row', 4)
    await page.locator('[data-testid="filter-text"]').fill('999')
    await waitForCount('unit-row', 1)
    expect(await rows('unit-row').first().textContent()).toContain('404')

    // As many rows as the server's analysis found units with findings (the fixture traffic has several).
    const all = (await (await fetch(`${server.url}/api/v1/units?limit=500`)).json()) as { units: { summary: { findings: number; kinds: string[] } }[] }
    const withFindings = all.units.filter((u) => u.summary.findings > 0).length
    expect(withFindings).toBeGreaterThan(1)
    expect(withFindings).toBeLessThan(all.units.length)
    await openList('#/?findings=1')
    await waitForCount('unit-row', withFindings)
    expect(await page.locator('[data-testid="filter-findings"]').isChecked()).toBe(true)
    // Each kind of finding has its badge: repeated writes beside an N+1 were not shown (a probe).
    const writes = all.units.filter((u) => u.summary.kinds.includes('repeated_write')).length
    expect(writes).toBeGreaterThan(0)
    expect(await page.locator('[data-testid="badge-writes"]').count()).toBe(writes)

    // A filter nothing matches says so, not "waiting for units" as a server that never got one does.
    await openList('#/?route=nonexistent/')
    await page.reload() // opened as a link: the page loads only the units of that route
    await page.locator('[data-testid="unit-list"]', { hasText: 'No unit matches this filter.' }).waitFor()
    expect(await page.locator('[data-testid="unit-list"]').textContent()).not.toContain('Waiting for units')
  })

  it('counts the loaded units with a + while older ones are not loaded yet', async () => {
    const now = Date.now()
    await ingest(server.url, payload(Array.from({ length: 205 }, (_, i) => pytestUnit(nextId(), now - 205 + i))))
    await openList()
    await page.locator('[data-testid="load-older"]').waitFor()
    expect(await page.locator('[data-testid="unit-count"]').textContent()).toBe('200+ units')
    await page.locator('[data-testid="load-older"]').click()
    await page.locator('[data-testid="unit-count"]', { hasText: /^205 units$/ }).waitFor()
  })

  it('holds new units while paused and shows them on resume', async () => {
    await openList()
    await ingest(server.url, payload([bookDetail(nextId(), Date.now())]))
    await waitForCount('unit-row', 1)
    await page.locator('[data-testid="pause"]').click()
    await page.locator('[data-testid="live-status"][data-status="paused"]').waitFor()
    await ingest(server.url, payload([bookListFixed(nextId(), Date.now()), pytestUnit(nextId(), Date.now())]))
    await page.locator('[data-testid="pause"]', { hasText: '2 new' }).waitFor()
    expect(await countOf('unit-row')).toBe(1)
    await page.locator('[data-testid="pause"]').click()
    await waitForCount('unit-row', 3)
  })

  it('clears every unit from the server and the list', async () => {
    await ingest(server.url, payload(bookshopTraffic(Date.now())))
    await openList()
    await waitForCount('unit-row', 15)
    // The first click only asks: nothing is deleted yet.
    await page.locator('[data-testid="clear"]').click()
    await page.locator('[data-testid="clear"][data-confirming="true"]', { hasText: 'Delete every stored unit?' }).waitFor()
    const kept = (await (await fetch(`${server.url}/api/v1/units`)).json()) as { units: unknown[] }
    expect(kept.units).toHaveLength(15)
    expect(await countOf('unit-row')).toBe(15)
    await page.locator('[data-testid="clear"]').click()
    await waitForCount('unit-row', 0)
    const answer = (await (await fetch(`${server.url}/api/v1/units`)).json()) as { units: unknown[] }
    expect(answer.units).toEqual([])
  })

  it('says what a unit raised: the exception behind a 500', async () => {
    const failed = nextId()
    const fine = nextId()
    await ingest(server.url, payload([{ ...missingPage(failed, Date.now()), status: 500, meta: { error: 'ValueError: no stock for book 7' } }, missingPage(fine, Date.now())]))
    await page.goto(`${server.url}/#/units/${unitId(failed)}`)
    await page.locator('[data-testid="unit-raised"]', { hasText: 'raised ValueError: no stock for book 7' }).waitFor()
    // No green all-clear beside it: the unit's queries stopped where it raised.
    expect(await page.locator('[data-testid="no-findings"]').textContent()).toBe('No N+1, duplicate, repeated write or slow query in the queries it ran before it raised.')
    expect(await page.locator('[data-testid="no-findings"]').getAttribute('class')).not.toContain('all-clear')
    await page.goto(`${server.url}/#/units/${unitId(fine)}`)
    await page.locator(`[data-testid="unit-report"][data-unit-id="${unitId(fine)}"]`).waitFor()
    expect(await countOf('unit-raised')).toBe(0)
  })

  it('moves through the list with j and k and opens the selected unit with Enter', async () => {
    const now = Date.now()
    await ingest(server.url, payload([bookDetail(nextId(), now - 3000), importTask(nextId(), now - 2000), pytestUnit(nextId(), now - 1000)]))
    await openList()
    await waitForCount('unit-row', 3)
    await page.keyboard.press('j')
    await page.keyboard.press('j')
    await page.keyboard.press('k')
    await page.keyboard.press('j')
    await page.locator('.vrow--selected [data-testid="unit-row"]', { hasText: 'nightly import' }).waitFor()
    await page.keyboard.press('Enter')
    await page.locator('[data-testid="unit-title"]', { hasText: 'nightly import' }).waitFor()
    expect(page.url()).toContain('#/units/')
    // Back to the list (Esc): the unit just read is still the selected one.
    await page.keyboard.press('Escape')
    await page.locator('.vrow--selected [data-testid="unit-row"]', { hasText: 'nightly import' }).waitFor()
    // Enter on a focused button is the button's: it opened the selected unit instead (a probe).
    await page.locator('[data-testid="pause"]').focus()
    await page.keyboard.press('Enter')
    await page.locator('[data-testid="pause"][aria-pressed="true"]').waitFor()
    expect(page.url()).not.toContain('#/units/')
    await page.locator('[data-testid="pause"]').click()
  })

  it('opens a report with the N+1 finding first, its fix, call site and repeated SQL', async () => {
    const id = nextId()
    await ingest(server.url, payload([bookListWithNPlusOne(id, Date.now(), 12)]))
    await page.goto(`${server.url}/#/units/${unitId(id)}`)
    await page.locator('[data-testid="unit-report"]').waitFor()

    expect(await page.locator('[data-testid="summary-queries"]').textContent()).toContain('17')
    const first = page.locator('[data-testid="finding"]').first()
    expect(await first.getAttribute('data-kind')).toBe('n_plus_one')
    expect(await first.locator('.finding__count').textContent()).toBe('×12')
    const fix = await first.locator('[data-testid="finding-fix"]').textContent()
    expect(fix).toContain('select_related')
    expect(await first.locator('[data-testid="finding-code"]').textContent()).toContain('select_related("author")')
    expect(await first.locator('[data-testid="callsite"]').textContent()).toContain('shop/templatetags/shop_tags.py:12')
    expect(await first.locator('[data-testid="callsite"]').textContent()).toContain('⟨shop/_book_row.html:3⟩ included at shop/book_list.html:14')
    expect(await first.locator('[data-testid="finding-sql"]').textContent()).toContain('"shop_author"')

    await first.locator('[data-testid="finding-queries-toggle"]').click()
    await first.locator('[data-testid="finding-queries"] [data-testid="params"]').first().waitFor()
    expect(await first.locator('[data-testid="finding-queries"] [data-testid="params"]').first().textContent()).toBe('(1,)')
    // Shown, not only in the page: the list had a max-height and size containment, and was 2 px tall (a probe).
    const box = await first.locator('[data-testid="finding-queries"]').boundingBox()
    expect(box!.height).toBeGreaterThanOrEqual(8 * 26)
    await first.locator('[data-testid="finding-queries"] .finding-query button').nth(1).click()
    await page.waitForFunction(() => location.hash.includes('query='))

    const kinds = await page.locator('[data-testid="finding"]').evaluateAll((cards) => cards.map((c) => c.getAttribute('data-kind')))
    expect(kinds).toContain('duplicate')
  })

  it('lists every query with its offset, waterfall bar and call site, and a badge jumps to its finding', async () => {
    const id = nextId()
    await ingest(server.url, payload([bookListWithNPlusOne(id, Date.now(), 5)]))
    await page.goto(`${server.url}/#/units/${unitId(id)}`)
    await waitForCount('query-row', 10)
    const authorRow = rows('query-row').nth(6)
    expect(await authorRow.locator('[data-testid="query-index"]').textContent()).toBe('7')
    expect(await authorRow.textContent()).toContain('shop_author')
    expect(await authorRow.locator('.waterfall__bar').count()).toBe(1)
    expect(await authorRow.locator('[data-testid="callsite"]').textContent()).toContain('shop_tags.py:12')

    await authorRow.click()
    await page.locator('[data-testid="query-detail"]', { hasText: 'Query #7' }).waitFor()
    // Beside the detail panel, the findings' badges still show whole at the end of the row.
    const [badge, table] = await Promise.all([authorRow.locator('[data-testid="query-finding-badge"]').first().boundingBox(), page.locator('.query-table').boundingBox()])
    expect(badge!.x + badge!.width).toBeLessThanOrEqual(table!.x + table!.width)
    expect(page.url()).toContain('query=7') // as the report numbers it
    expect(await page.locator('[data-testid="query-detail-sql"]').textContent()).toMatch(/SELECT[\s\S]*FROM[\s\S]*WHERE/)

    await authorRow.locator('[data-testid="query-finding-badge"]').first().click()
    await page.locator('.finding--flash[data-kind="n_plus_one"]').waitFor()
  })

  it("brings the queries into view for a finding's trigger link and a link to one query", async () => {
    await page.setViewportSize({ width: 1440, height: 600 })
    const id = nextId()
    await ingest(server.url, payload([bookListWithNPlusOne(id, Date.now(), 12)]))
    const inView = () =>
      page.locator('section.queries').evaluate((section) => {
        const { top, bottom } = section.getBoundingClientRect()
        return top < window.innerHeight - 160 && bottom > 160
      })
    await page.goto(`${server.url}/#/units/${unitId(id)}`)
    await page.locator('[data-testid="finding-trigger"]').first().waitFor()
    expect(await inView()).toBe(false)
    await page.locator('[data-testid="finding-trigger"]').first().click()
    await page.locator('[data-testid="query-detail"]', { hasText: 'Query #' }).waitFor()
    expect(await inView()).toBe(true)

    await page.goto(`${server.url}/#/units/${unitId(id)}?query=9`)
    await page.reload()
    await page.locator('[data-testid="query-detail"]', { hasText: 'Query #9' }).waitFor()
    expect(await inView()).toBe(true)
  })

  it('groups queries by fingerprint with counts and total time', async () => {
    const id = nextId()
    await ingest(server.url, payload([bookListWithNPlusOne(id, Date.now(), 12)]))
    await page.goto(`${server.url}/#/units/${unitId(id)}`)
    await page.locator('[data-testid="query-list"]').waitFor()
    await page.locator('[data-testid="toggle-group"]').click()
    await page.locator('[data-testid="group-list"]').waitFor()
    expect(page.url()).toContain('view=groups')
    const counts = await rows('group-row').locator('[data-testid="group-count"]').allTextContents()
    expect(counts).toHaveLength(5)
    expect(counts).toContain('12×')
    expect(counts).toContain('2×')
    const authorGroup = rows('group-row').filter({ hasText: 'shop_author' })
    expect(await authorGroup.locator('[data-testid="group-count"]').textContent()).toBe('12×')
    await authorGroup.click()
    await page.locator('[data-testid="group-detail"]', { hasText: '12× one fingerprint' }).waitFor()
  })

  it('opens a 10,000-query unit drawing only a window of rows, and reaches the last query', async () => {
    const id = nextId()
    await ingest(server.url, payload([hugeUnit(id, Date.now(), 10_000)], { schema: false }))
    await page.goto(`${server.url}/#/units/${unitId(id)}`)
    const list = page.locator('[data-testid="query-list"]')
    await list.waitFor()
    expect(await list.getAttribute('data-count')).toBe('10000')
    expect(await page.locator('[data-testid="summary-queries"]').textContent()).toContain('10,000')
    const drawn = await countOf('query-row')
    expect(drawn).toBeGreaterThan(5)
    expect(drawn).toBeLessThan(150)

    await list.evaluate((element) => {
      element.scrollTop = element.scrollHeight
    })
    await page.locator('[data-testid="query-index"]', { hasText: /^10000$/ }).waitFor()
    expect(await countOf('query-row')).toBeLessThan(150)

    // Home and End move the selection while the list has the focus; elsewhere they scroll the page (a probe: the
    // report's findings could not be read with the keyboard).
    await list.focus()
    await page.keyboard.press('Home')
    await page.locator('[data-testid="query-detail"]', { hasText: 'Query #1' }).waitFor()
    await page.keyboard.press('End')
    await page.locator('[data-testid="query-detail"]', { hasText: 'Query #10000' }).waitFor()
    await page.locator('[data-testid="summary-queries"]').click()
    await page.keyboard.press('Home')
    expect(await page.locator('[data-testid="query-detail"]').textContent()).toContain('Query #10000')

    await page.locator('[data-testid="toggle-group"]').click()
    await waitForCount('group-row', 2)
    expect(await rows('group-row').locator('[data-testid="group-count"]').allTextContents()).toEqual(['5,000×', '5,000×'])
  })

  it('shows SQL and parameters containing <script> as text, never as markup', async () => {
    const id = nextId()
    await ingest(server.url, payload([scriptUnit(id, Date.now())]))
    await openList()
    await waitForCount('unit-row', 1)
    expect(await rows('unit-row').first().textContent()).toContain('/search/?q=<script>')
    await page.goto(`${server.url}/#/units/${unitId(id)}?query=1`)
    await page.locator('[data-testid="query-detail"]').waitFor()
    expect(await page.locator('[data-testid="query-detail-sql"]').textContent()).toContain(`'<script>window.__xss = 1; alert("xss")</script>'`)
    expect(await page.locator('[data-testid="query-detail-sql"]').textContent()).toContain('<img src=x onerror="window.__xss=2">')
    expect(await page.locator('[data-testid="query-detail"] [data-testid="params"]').textContent()).toBe(`('<script>window.__xss = 3</script>',)`)
    expect(await rows('query-row').first().textContent()).toContain('<script>')
    const injected = await page.evaluate(() => ({
      scripts: [...document.querySelectorAll('script')].map((s) => s.getAttribute('src')),
      images: document.querySelectorAll('img').length,
      xss: (window as unknown as { __xss?: number }).__xss ?? null,
    }))
    expect(injected).toEqual({ scripts: ['./assets/app.js'], images: 0, xss: null })
    expect(dialogs).toEqual([])
  })

  it('lists routes with query percentiles and a chart, and a route links to its units', async () => {
    const withoutPattern = { ...missingPage(nextId(), Date.now()), name: 'GET /', path: '/', route: null }
    const wishlist = { ...addToCart(nextId(), Date.now()), name: 'POST /wishlist/', path: '/wishlist/', route: 'wishlist/' }
    const head = { ...bookListFixed(nextId(), Date.now()), method: 'HEAD', name: 'HEAD /books/' }
    await ingest(server.url, payload([...bookshopTraffic(Date.now()), withoutPattern, wishlist, head]))
    await page.goto(`${server.url}/#/routes`)
    await page.locator('[data-testid="route-row"]').first().waitFor()
    const books = rows('route-row').filter({ has: page.locator('[data-testid="route-link"]', { hasText: /^books\/$/ }) }).filter({ hasText: 'GET' })
    const cells = await books.locator('.num').allTextContents()
    expect(cells.slice(0, 4)).toEqual(['7', '17', '25', '25'])
    expect(await books.locator('[data-testid="sparkline"] circle').count()).toBe(7)
    // Each kind of finding counted in units, as a share of them (the N+1s were counted in findings, duplicates in
    // queries, writes in units: a probe).
    expect(await books.locator('.badges .badge').allTextContents()).toEqual(['5/7 N+1', '5/7 dup'])
    // POST cart/ inserts one row per item: repeated writes, so not clean.
    const cart = rows('route-row').filter({ has: page.locator('[data-testid="route-link"]', { hasText: /^cart\/$/ }) })
    expect(await cart.locator('.badges').textContent()).toBe('2/2 writes')
    const wishlistRow = rows('route-row').filter({ has: page.locator('[data-testid="route-link"]', { hasText: /^wishlist\/$/ }) })
    expect(await wishlistRow.locator('.badges').textContent()).toBe('1/1 writes')
    // Filtered by words and by kind.
    const all = await rows('route-row').count()
    await page.locator('[data-testid="routes-filter-text"]').fill('post cart')
    await waitForCount('route-row', 1)
    expect(await page.locator('[data-testid="route-count"]').textContent()).toBe(`1 of ${all}`)
    await page.locator('[data-testid="routes-filter-text"]').fill('')
    await page.locator('[data-testid="routes-filter-kind"]').selectOption('test')
    await waitForCount('route-row', 1)
    expect(await rows('route-row').first().textContent()).toContain('test_book_list')
    await page.locator('[data-testid="routes-filter-kind"]').selectOption('')
    await waitForCount('route-row', all)
    // Listed by its name, which has its method already.
    const home = rows('route-row').filter({ has: page.locator('[data-testid="route-link"]', { hasText: /^GET \/$/ }) })
    expect(await home.locator('.route-row__name').textContent()).toBe('GET /')
    await books.locator('[data-testid="route-link"]').click()
    await page.locator('[data-testid="unit-list-page"]').waitFor()
    await waitForCount('unit-row', 7) // not the HEAD one, a row of its own
    expect(page.url()).toContain('route=books%2F')
    expect(page.url()).toContain('method=GET')
    expect(await page.locator('[data-testid="filter-route"] option:checked').textContent()).toBe('GET books/')
    // A route of one method: its link names the route alone, as the report's and the fingerprint page's links do, and
    // the list's filter shows one choice for it (the two links made two "POST cart/" choices that filtered otherwise).
    await page.goto(`${server.url}/#/routes`)
    await cart.locator('[data-testid="route-link"]').click()
    await waitForCount('unit-row', 2)
    expect(page.url()).not.toContain('method=')
    expect(await page.locator('[data-testid="filter-route"] option', { hasText: 'POST cart/' }).count()).toBe(1)
    expect(await page.locator('[data-testid="filter-route"] option:checked').textContent()).toBe('POST cart/')
    // ... and its link lists its units too (it led to "No unit matches this filter").
    await page.goto(`${server.url}/#/routes`)
    await home.locator('[data-testid="route-link"]').click()
    await page.locator('[data-testid="unit-list-page"]').waitFor()
    await waitForCount('unit-row', 1)
    expect(page.url()).toContain('route=GET+%2F')
  })

  it('opens a fingerprint page with its SQL and where it runs', async () => {
    const id = nextId()
    await ingest(server.url, payload([bookListWithNPlusOne(id, Date.now(), 4)]))
    await page.goto(`${server.url}/#/units/${unitId(id)}`)
    await page.locator('[data-testid="finding"] .finding__fp').first().click()
    await page.locator('[data-testid="fingerprint-page"]').waitFor()
    expect(await page.locator('[data-testid="fingerprint-sql"]').textContent()).toContain('shop_author')
    expect(await page.locator('[data-testid="fingerprint-seen"] tbody').textContent()).toContain('GET /books/')
  })

  it('reconnects after the server restarts and shows what arrived meanwhile', async () => {
    await openList()
    await ingest(server.url, payload([bookDetail(nextId(), Date.now())]))
    await waitForCount('unit-row', 1)
    const port = server.port
    await server.close()
    await page.locator('[data-testid="live-status"][data-status="reconnecting"]').waitFor()
    server = await startServer({ port, db: ':memory:', uiDir })
    await ingest(server.url, payload([pytestUnit(nextId(), Date.now())]))
    await page.locator('[data-testid="live-status"][data-status="live"]').waitFor()
    await page.locator('[data-testid="unit-row"]', { hasText: 'test_book_list' }).waitFor()
  })

  it('sends the page token to the API and the live socket of a server that requires one', async () => {
    await server.close()
    server = await startServer({ port: 0, db: ':memory:', uiDir, token: 's3cret' })
    await ingest(server.url, payload([bookDetail(nextId(), Date.now())]), { token: 's3cret' })
    await page.goto(`${server.url}/?token=s3cret#/`)
    await page.locator('[data-testid="live-status"][data-status="live"]').waitFor()
    await waitForCount('unit-row', 1)
    await ingest(server.url, payload([pytestUnit(nextId(), Date.now())]), { token: 's3cret' })
    await waitForCount('unit-row', 2)
  })
  // `make screenshots` (UPDATE_SCREENSHOTS=1) rewrites the README's pictures of the list and of a report.
  it.runIf(process.env.UPDATE_SCREENSHOTS === '1')('saves screenshots of the live list and of a report for the README', async () => {
    await ingest(server.url, payload(bookshopTraffic(Date.now())))
    await openList()
    await waitForCount('unit-row', 15)
    await page.screenshot({ path: 'ui/screenshots/list.png' })
    await page.goto(`${server.url}/#/units/${unitId(12)}`)
    await page.locator('[data-testid="query-list"] [data-testid="query-row"]').first().waitFor()
    await page.screenshot({ path: 'ui/screenshots/report.png' })
  })
})
