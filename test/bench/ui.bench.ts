// The web UI in headless Chromium: how long a unit with 10,000 queries takes to show its first query row after
// navigating to #/units/<id> (the real server, the unit ingested over HTTP), how long its last row takes to show
// once the list is scrolled to the end, next to the same times for a 100-query unit in the same run; and the gzipped
// sizes of the bundles the server sends (dist/ui/assets/app.js, app.css, dist/ui/overlay.js). Medians of several runs.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import type { Browser } from 'playwright-core'
import { startServer } from '../../server/src/server.js'
import { hugeUnit, payload, unitId } from '../fixtures/ui/bookshop.js'
import { launchBrowser } from '../helpers/chromium.js'

const ROOT = process.cwd()
const UI_DIR = join(ROOT, 'dist/ui')
const RUNS = 7

interface Times {
  first: number
  scrolled: number
  last: number
}

/** Stamps, in the page's own clock (ms since navigation started), when the first row and then the last row are painted. */
const OBSERVER = `(() => {
  const times = (window.__qsTimes = {})
  const paint = (key) => requestAnimationFrame(() => (times[key] = performance.now()))
  new MutationObserver(() => {
    const list = document.querySelector('[data-testid="query-list"]')
    if (!list) return
    const total = list.getAttribute('data-count')
    if (times.first === undefined && !times.firstSeen && document.querySelector('[data-testid="query-row"]')) {
      times.firstSeen = true
      paint('first')
      requestAnimationFrame(() => {
        times.scrolled = performance.now()
        list.scrollTop = list.scrollHeight
      })
    }
    if (times.scrolled !== undefined && !times.lastSeen) {
      for (const cell of document.querySelectorAll('[data-testid="query-index"]')) {
        if (cell.textContent === total) {
          times.lastSeen = true
          paint('last')
          break
        }
      }
    }
  }).observe(document, { subtree: true, childList: true, characterData: true })
})()`

async function timeUnit(browser: Browser, url: string, id: string): Promise<Times> {
  const page = await browser.newPage({ viewport: { width: 1440, height: 900 } })
  try {
    await page.addInitScript(OBSERVER)
    await page.goto(`${url}/#/units/${id}`)
    await page.waitForFunction(() => (window as unknown as { __qsTimes: Partial<Times> }).__qsTimes.last !== undefined, undefined, { timeout: 60_000 })
    return await page.evaluate(() => (window as unknown as { __qsTimes: Times }).__qsTimes)
  } finally {
    await page.close()
  }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

const server = await startServer({ port: 0, db: ':memory:', uiDir: UI_DIR })
const browser = await launchBrowser()
try {
  const sizes = [10_000, 100]
  const units = sizes.map((count, i) => hugeUnit(900 + i, Date.now() - i, count))
  const response = await fetch(`${server.url}/api/v1/ingest`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload(units, { schema: false })) })
  if (response.status !== 202) throw new Error(`ingest answered ${response.status}`)

  const results = new Map<number, Times[]>()
  await timeUnit(browser, server.url, unitId(901)) // warm-up: Chromium's caches, the server's JIT
  for (let run = 0; run < RUNS; run++) {
    for (const [i, count] of sizes.entries()) {
      const times = await timeUnit(browser, server.url, unitId(900 + i))
      results.set(count, [...(results.get(count) ?? []), times])
    }
  }
  const summary = new Map(
    sizes.map((count) => {
      const runs = results.get(count)!
      return [count, { first: median(runs.map((t) => t.first)), last: median(runs.map((t) => t.last - t.scrolled)) }] as const
    }),
  )
  for (const [count, { first, last }] of summary) {
    console.log(`${count.toLocaleString('en-US')}-query unit: first row painted ${first.toFixed(0)} ms after navigation, last row ${last.toFixed(0)} ms after scrolling to the end (median of ${RUNS})`)
  }
  const big = summary.get(10_000)!
  const small = summary.get(100)!

  const bundles = [
    ['dist/ui/assets/app.js', 'UI bundle app.js'],
    ['dist/ui/assets/app.css', 'UI styles app.css'],
    ['dist/ui/overlay.js', 'overlay bundle overlay.js'],
  ].map(([file, label]) => {
    const raw = readFileSync(join(ROOT, file))
    const gzipped = gzipSync(raw, { level: 9 }).length
    console.log(`${label}: ${(raw.length / 1024).toFixed(1)} KiB, ${(gzipped / 1024).toFixed(1)} KiB gzipped`)
    return { metric: `${label} gzipped`, value: gzipped / 1024, unit: 'KiB', note: `${(raw.length / 1024).toFixed(1)} KiB raw; gzip -9` }
  })

  console.log(
    `BENCH_JSON ${JSON.stringify({
      rows: [
        { metric: '10,000-query unit: first row shown', value: big.first, unit: 'ms', ratio: big.first / small.first, note: `from navigation to #/units/<id>; ratio to a 100-query unit (${small.first.toFixed(0)} ms); median of ${RUNS}` },
        { metric: '10,000-query unit: last row shown', value: big.last, unit: 'ms', ratio: big.last / small.last, note: `after scrolling to the end; ratio to a 100-query unit (${small.last.toFixed(0)} ms)` },
        ...bundles,
      ],
    })}`,
  )
} finally {
  await browser.close()
  await server.close()
}
