/**
 * The dev-server overlay (`/overlay.js`), injected by the agent as
 * `<script src="<server>/overlay.js" data-unit="<id>" async></script>`. After the page's `load` event it draws a badge
 * with this page's query counts in a shadow root of its own host element, loads the unit from the server the script
 * came from, and adds a row for every later fetch/XHR call whose response carries `X-QuerySight-Unit`.
 * It never breaks the page: nothing runs before load, and every error of its own is caught.
 * @module
 */
import { render } from 'preact'
import { interceptCalls } from './intercept.js'
import { OverlayView, type OverlayActions, type OverlayState, type UnitSlot } from './OverlayView.js'
import {
  findOverlayScript, nextCorner, NO_OLDER_CALLS, parsePrefs, PREFS_KEY, serializePrefs, serverBaseOf, withOlderCall, withOlderUnit, type OverlayUnit, type Prefs,
} from './overlay-model.js'
import { OVERLAY_CSS } from './overlay-styles.js'
import { createUnitLoader } from './unit-loader.js'

/** Older calls leave the list past this many rows, so a long-lived single-page app does not grow the panel forever
 * (their counts stay in the badge, see OlderCalls). */
const MAX_CALLS = 100
const STARTED = '__querysightOverlay'

/** The host is a zero-size box in the corner of the viewport; the page's own rules for it, however important, lose. */
const HOST_STYLE = [
  'all: initial', 'display: block', 'position: fixed', 'top: 0', 'left: 0', 'width: 0', 'height: 0', 'margin: 0', 'padding: 0',
  'border: 0', 'overflow: visible', 'background: transparent', 'z-index: 2147483647',
].map((rule) => `${rule} !important`).join('; ')

/**
 * In the top layer (a manual popover) where the browser has one: a transform or filter on the page's <html> or <body>
 * would otherwise make "fixed" mean fixed to that element instead of the viewport.
 */
function showOnTop(host: HTMLElement): void {
  try {
    if (typeof host.showPopover !== 'function') return
    host.setAttribute('popover', 'manual')
    host.showPopover()
  } catch {
    // Not shown in the top layer: still drawn, just subject to the page's transforms.
  }
}

const warn = (what: string, error: unknown) => {
  try {
    console.warn(`[querysight] the overlay could not ${what}:`, error)
  } catch {
    // No console: nothing to say it with.
  }
}

function loadPrefs(): Prefs {
  try {
    return parsePrefs(window.localStorage.getItem(PREFS_KEY))
  } catch {
    return parsePrefs(null)
  }
}

function savePrefs(prefs: Prefs): void {
  try {
    window.localStorage.setItem(PREFS_KEY, serializePrefs(prefs))
  } catch {
    // Storage may be off (private mode, sandboxed frame): the overlay still works, it just forgets.
  }
}

function ownScript(): { src: string; unit: string } | null {
  const scripts = Array.from(document.querySelectorAll<HTMLScriptElement>('script[data-unit]'), (element) => ({
    src: element.src,
    unit: element.getAttribute('data-unit'),
  }))
  const found = findOverlayScript(scripts)
  return found?.unit ? { src: found.src, unit: found.unit } : null
}

function start(): void {
  const script = ownScript()
  if (!script) return
  const base = serverBaseOf(script.src)
  const originalFetch = window.fetch
  const state: OverlayState = {
    base,
    page: { id: script.unit, unit: null, missing: false },
    calls: [],
    older: NO_OLDER_CALLS,
    prefs: loadPrefs(),
    open: false,
  }

  const host = document.createElement('querysight-overlay')
  host.setAttribute('style', HOST_STYLE)
  const root = host.attachShadow({ mode: 'open' })
  const style = document.createElement('style')
  style.textContent = OVERLAY_CSS
  const mount = document.createElement('div')
  root.append(style, mount)
  document.documentElement.appendChild(host)
  showOnTop(host)

  const draw = () => {
    try {
      render(<OverlayView state={state} actions={actions} />, mount)
    } catch (error) {
      warn('draw', error)
    }
  }
  const act = (what: string, change: () => void) => () => {
    try {
      change()
      draw()
    } catch (error) {
      warn(what, error)
    }
  }
  const setPrefs = (prefs: Prefs) => {
    state.prefs = prefs
    savePrefs(prefs)
  }
  const actions: OverlayActions = {
    toggleOpen: act('open the panel', () => (state.open = !state.open)),
    toggleCollapsed: act('collapse', () => {
      setPrefs({ ...state.prefs, collapsed: !state.prefs.collapsed })
      state.open = false
    }),
    move: act('move', () => setPrefs({ ...state.prefs, corner: nextCorner(state.prefs.corner) })),
  }

  const slotOf = (id: string): UnitSlot | undefined => (id === state.page.id ? state.page : state.calls.find((call) => call.id === id))
  // Calls that left the list before their unit came: it still counts in `older` when it comes.
  const leftLoading = new Set<string>()
  const loader = createUnitLoader({
    base,
    fetchFn: originalFetch,
    onUnit: (unit: OverlayUnit) =>
      act('show a unit', () => {
        const slot = slotOf(unit.id)
        if (slot) slot.unit = unit
        else if (leftLoading.delete(unit.id)) state.older = withOlderUnit(state.older, unit)
      })(),
    onMissing: (id) =>
      act('show a missing unit', () => {
        const slot = slotOf(id)
        if (slot) slot.missing = true
        leftLoading.delete(id)
      })(),
  })

  interceptCalls({
    onUnit: (id) =>
      act('add a call', () => {
        if (slotOf(id)) return
        state.calls.push({ id, unit: null, missing: false })
        for (const dropped of state.calls.splice(0, Math.max(0, state.calls.length - MAX_CALLS))) {
          state.older = withOlderCall(state.older, dropped.unit)
          if (!dropped.unit && !dropped.missing) leftLoading.add(dropped.id)
        }
        loader.load(id)
      })(),
  })
  // Esc closes the open panel, as it closes a dialog; otherwise the key is the page's alone.
  document.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && state.open) actions.toggleOpen()
  })
  loader.load(state.page.id)
  draw()
}

function boot(): void {
  try {
    start()
  } catch (error) {
    warn('start', error)
  }
}

try {
  const flags = window as unknown as Record<string, unknown>
  if (!flags[STARTED]) {
    flags[STARTED] = true
    if (document.readyState === 'complete') setTimeout(boot, 0)
    else window.addEventListener('load', boot, { once: true })
  }
} catch (error) {
  warn('wait for the page to load', error)
}
