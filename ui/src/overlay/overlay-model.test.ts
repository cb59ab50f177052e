import { describe, expect, it } from 'vitest'
import {
  badgeText, callLabel, callsText, callTarget, rowText, CORNERS, DEFAULT_PREFS, findOverlayScript, frameLabel, headerFromRaw, liveUrl, nextCorner, parsePrefs,
  parseUnitHeader, reportUrl, retryDelay, serializePrefs, serverBaseOf, statusTone, stoppedShort, TONE_COLOURS, toneOf, unitApiUrl, withOlderCall, withOlderUnit, worstSeverity, NO_OLDER_CALLS,
} from './overlay-model.js'

describe('badge text', () => {
  it("says how many of the page's later calls have findings, which may colour the badge", () => {
    const call = (findings: number) => ({ unit: { summary: { findings } } })
    expect(callsText([call(0)])).toBe('+1 call')
    expect(callsText([call(2)])).toBe('+1 call with findings')
    expect(callsText([call(0), { unit: null }, call(1)])).toBe('+3 calls, 1 with findings')
  })

  it('counts the calls the panel no longer lists, and keeps their worst severity', () => {
    const unit = (findings: number, severity: 'warning' | 'error' | null, status = 200) => ({ summary: { findings, severity, queries: 1, n_plus_one: 0, duplicates: 0, db_ms: 1 }, status, meta: {} })
    let older = withOlderCall(NO_OLDER_CALLS, unit(1, 'error'))
    older = withOlderCall(older, null)
    older = withOlderCall(older, unit(0, null, 503))
    expect(older).toEqual({ count: 3, flagged: 1, severity: 'error', stopped: true })
    // The unit of the call that left before it came (the null above) counts when it comes.
    expect(withOlderUnit(older, unit(2, 'warning'))).toEqual({ count: 3, flagged: 2, severity: 'error', stopped: true })
    expect(callsText([{ unit: { summary: { findings: 0 } } }], older)).toBe('+4 calls, 1 with findings')
  })

  it('reads "23 queries · 2 N+1 · 3 duplicates"', () => {
    expect(badgeText({ queries: 23, n_plus_one: 2, duplicates: 3 })).toBe('23 queries · 2 N+1 · 3 duplicates')
  })

  it('leaves out the N+1 and duplicate parts when there are none', () => {
    expect(badgeText({ queries: 4, n_plus_one: 0, duplicates: 0 })).toBe('4 queries')
    expect(badgeText({ queries: 9, n_plus_one: 0, duplicates: 2 })).toBe('9 queries · 2 duplicates')
    expect(badgeText({ queries: 12, n_plus_one: 1, duplicates: 0 })).toBe('12 queries · 1 N+1')
  })

  it('speaks in the singular for one query and one duplicate', () => {
    expect(badgeText({ queries: 1, n_plus_one: 0, duplicates: 1 })).toBe('1 query · 1 duplicate')
    expect(badgeText({ queries: 0, n_plus_one: 0, duplicates: 0 })).toBe('0 queries')
  })
})

describe('row text', () => {
  it('adds the findings the badge has no word for', () => {
    const summary = { queries: 14, n_plus_one: 0, duplicates: 0 }
    expect(rowText(summary, [{ kind: 'repeated_write' }])).toBe('14 queries · 1 repeated write')
    expect(rowText({ ...summary, n_plus_one: 1 }, [{ kind: 'n_plus_one' }, { kind: 'slow_query' }, { kind: 'slow_query' }])).toBe(
      '14 queries · 1 N+1 · 2 slow queries',
    )
    expect(rowText(summary, [])).toBe('14 queries')
  })
})

describe('severity colour', () => {
  it('picks the worst severity of the page and its calls', () => {
    expect(worstSeverity(['info', 'error', 'warning'])).toBe('error')
    expect(worstSeverity([null, 'info', undefined, 'warning'])).toBe('warning')
    expect(worstSeverity([null, undefined])).toBeNull()
    expect(worstSeverity([])).toBeNull()
  })

  it('is grey while loading, green without findings, and red, amber or blue by severity', () => {
    expect(toneOf('error', false)).toBe('pending')
    expect(toneOf(null, true)).toBe('clean')
    expect(toneOf('error', true)).toBe('error')
    expect(toneOf('warning', true)).toBe('warning')
    expect(toneOf('info', true)).toBe('info')
    // No green all-clear for a unit that raised or answered 5xx: its queries stopped short (a probe).
    expect(toneOf(null, true, true)).toBe('neutral')
    expect(toneOf('warning', true, true)).toBe('warning')
    expect([{ status: 500 }, { status: 200, meta: { error: 'ValueError: boom' } }, { status: 404, meta: {} }, null].map(stoppedShort)).toEqual([true, true, false, false])
    const backgrounds = new Set(Object.values(TONE_COLOURS).map((colour) => colour.background))
    expect(backgrounds.size).toBe(Object.keys(TONE_COLOURS).length)
  })
})

describe('corners', () => {
  it('cycles through the four corners and comes back', () => {
    expect(nextCorner('bottom-right')).toBe('bottom-left')
    expect(nextCorner('bottom-left')).toBe('top-left')
    expect(nextCorner('top-left')).toBe('top-right')
    expect(nextCorner('top-right')).toBe('bottom-right')
    let corner = DEFAULT_PREFS.corner
    const seen = new Set<string>()
    for (let i = 0; i < CORNERS.length; i++) {
      seen.add(corner)
      corner = nextCorner(corner)
    }
    expect(seen.size).toBe(4)
    expect(corner).toBe(DEFAULT_PREFS.corner)
  })

  it('reads back the saved corner and collapsed state', () => {
    const saved = serializePrefs({ corner: 'top-left', collapsed: true })
    expect(parsePrefs(saved)).toEqual({ corner: 'top-left', collapsed: true })
  })

  it('falls back to the defaults, field by field, for anything it cannot read', () => {
    expect(parsePrefs(null)).toEqual(DEFAULT_PREFS)
    expect(parsePrefs('not json')).toEqual(DEFAULT_PREFS)
    expect(parsePrefs('null')).toEqual(DEFAULT_PREFS)
    expect(parsePrefs('{"corner":"middle","collapsed":true}')).toEqual({ corner: DEFAULT_PREFS.corner, collapsed: true })
    expect(parsePrefs('{"corner":"top-right","collapsed":"yes"}')).toEqual({ corner: 'top-right', collapsed: false })
  })
})

describe('the X-QuerySight-Unit header', () => {
  it('gives the unit id, trimmed', () => {
    expect(parseUnitHeader('0193a5c4-7d1e-7c3a-9b2f-1e2d3c4b5a69')).toBe('0193a5c4-7d1e-7c3a-9b2f-1e2d3c4b5a69')
    expect(parseUnitHeader('  abc123 ')).toBe('abc123')
  })

  it('takes the first of repeated headers joined by commas', () => {
    expect(parseUnitHeader('first, second')).toBe('first')
  })

  it('ignores missing, empty, oversized and odd values', () => {
    expect(parseUnitHeader(null)).toBeNull()
    expect(parseUnitHeader(undefined)).toBeNull()
    expect(parseUnitHeader('')).toBeNull()
    expect(parseUnitHeader('   ')).toBeNull()
    expect(parseUnitHeader('a b')).toBeNull()
    expect(parseUnitHeader('x'.repeat(201))).toBeNull()
    expect(parseUnitHeader('x'.repeat(200))).toBe('x'.repeat(200))
    expect(parseUnitHeader('é')).toBeNull()
  })

  it('is found among the raw headers of an XMLHttpRequest in any case', () => {
    const raw = 'content-type: application/json\r\nx-querysight-unit: u-42\r\ncontent-length: 12\r\n'
    expect(headerFromRaw(raw, 'X-QuerySight-Unit')).toBe('u-42')
    expect(headerFromRaw('Content-Type: text/html\r\n', 'X-QuerySight-Unit')).toBeNull()
    expect(headerFromRaw('', 'X-QuerySight-Unit')).toBeNull()
    expect(headerFromRaw(null, 'X-QuerySight-Unit')).toBeNull()
    expect(headerFromRaw('x-querysight-unit: a\nx-querysight-unit: b', 'X-QuerySight-Unit')).toBe('a, b')
  })
})

describe('the script tag and the server it came from', () => {
  it('finds the overlay script by its src and data-unit, not other scripts', () => {
    const scripts = [
      { src: 'http://127.0.0.1:8000/static/app.js', unit: null },
      { src: 'http://127.0.0.1:8000/static/overlay.js.map', unit: 'x' },
      { src: 'http://127.0.0.1:8321/overlay.js', unit: null },
      { src: 'http://127.0.0.1:8321/overlay.js', unit: 'u-1' },
    ]
    expect(findOverlayScript(scripts)).toBe(scripts[3])
    expect(findOverlayScript([{ src: 'http://127.0.0.1:8321/overlay.js?v=2', unit: 'u-2' }])?.unit).toBe('u-2')
    expect(findOverlayScript(scripts.slice(0, 3))).toBeNull()
  })

  it('derives the server address from the script src, keeping a path prefix', () => {
    expect(serverBaseOf('http://127.0.0.1:8321/overlay.js')).toBe('http://127.0.0.1:8321')
    expect(serverBaseOf('http://127.0.0.1:8321/overlay.js?v=2')).toBe('http://127.0.0.1:8321')
    expect(serverBaseOf('https://dev.example/querysight/overlay.js')).toBe('https://dev.example/querysight')
  })

  it('builds the API, report and live socket addresses', () => {
    expect(unitApiUrl('http://127.0.0.1:8321', 'a/b')).toBe('http://127.0.0.1:8321/api/v1/units/a%2Fb?queries=none')
    expect(unitApiUrl('http://127.0.0.1:8321', 'u-1', 2000)).toBe('http://127.0.0.1:8321/api/v1/units/u-1?queries=none&wait=2000')
    expect(reportUrl('http://127.0.0.1:8321', 'u-1')).toBe('http://127.0.0.1:8321/#/units/u-1')
    expect(liveUrl('http://127.0.0.1:8321')).toBe('ws://127.0.0.1:8321/api/v1/live')
    expect(liveUrl('https://dev.example/qs')).toBe('wss://dev.example/qs/api/v1/live')
  })
})

describe('rows and retries', () => {
  it('labels a call by method, path and status', () => {
    expect(callLabel({ method: 'POST', path: '/api/publishers/1/restock/', name: 'POST /api/publishers/1/restock/', status: 200 })).toBe(
      'POST /api/publishers/1/restock/ 200',
    )
    expect(callLabel({ method: null, path: null, name: 'nightly import', status: null })).toBe('nightly import')
    expect(callTarget({ method: 'GET', path: '/api/books/?page=2', name: 'GET /api/books/' })).toBe('GET /api/books/?page=2')
  })

  it('colours a failed call by its status: a server error red, a client error amber', () => {
    expect([200, 302, 404, 422, 500, 503, null].map(statusTone)).toEqual(['none', 'none', 'warning', 'warning', 'error', 'error', 'none'])
  })

  it('labels a call site by file, line and function', () => {
    expect(frameLabel({ file: 'shop/views.py', line: 42, function: 'book_list' })).toBe('shop/views.py:42 in book_list')
    expect(frameLabel({ file: 'shop/views.py', line: 42, function: '' })).toBe('shop/views.py:42')
    expect(frameLabel(null)).toBeNull()
  })

  it('backs off exponentially up to a cap, then gives up', () => {
    const delays = Array.from({ length: 14 }, (_, attempt) => retryDelay(attempt))
    expect(delays.slice(0, 5)).toEqual([100, 200, 400, 800, 1600])
    expect(delays.slice(5, 12).every((delay) => delay === 2000)).toBe(true)
    expect(delays.slice(12)).toEqual([null, null])
    expect(retryDelay(2, { baseMs: 50, maxMs: 150, attempts: 3 })).toBe(150)
    expect(retryDelay(3, { baseMs: 50, maxMs: 150, attempts: 3 })).toBeNull()
  })
})
