/**
 * Loads units from the querysight server for the overlay. `GET /api/v1/units/:id?wait=` first: the server holds the
 * answer until the agent's next batch brings the unit (a plain read would get a 404, which the browser logs as an
 * error in the console of the developer's own page). A unit that is still not there (the agent sends in batches) is
 * waited for on the live socket (`subscribe` to the pending ids, load when its
 * `unit` message comes), with a bounded backoff of plain retries underneath for when the socket cannot open (the
 * page's origin is not known to the server until the agent's first batch arrives) or a message was missed.
 * Never throws: failures end in `onMissing`.
 * @module
 */
import type { LiveServerMessage } from '../../../server/src/protocol.js'
import { liveUrl, retryDelay, unitApiUrl, type OverlayUnit } from './overlay-model.js'

export interface UnitLoaderOptions {
  base: string
  onUnit: (unit: OverlayUnit) => void
  /** The retries are spent and the server still has no such unit (or cannot be reached). */
  onMissing: (id: string) => void
  /** The page's own fetch, as it was before the overlay patched it. */
  fetchFn?: typeof fetch
  WebSocketImpl?: typeof WebSocket | undefined
  delay?: (attempt: number) => number | null
  /** How long the first read asks the server to wait for a unit not delivered yet. */
  firstWaitMs?: number
}

export interface UnitLoader {
  load(id: string): void
}

/** The agent sends every 100 ms; a unit that takes longer has a slow server or agent, and the socket takes over. */
const FIRST_WAIT_MS = 2000

interface Pending {
  attempt: number
  timer: ReturnType<typeof setTimeout> | null
  inFlight: boolean
}

export function createUnitLoader({
  base,
  onUnit,
  onMissing,
  fetchFn = fetch,
  WebSocketImpl = typeof WebSocket === 'function' ? WebSocket : undefined,
  delay = retryDelay,
  firstWaitMs = FIRST_WAIT_MS,
}: UnitLoaderOptions): UnitLoader {
  const pending = new Map<string, Pending>()
  const done = new Set<string>()
  let socket: WebSocket | null = null
  let socketAttempt = 0
  let socketTimer: ReturnType<typeof setTimeout> | null = null

  const finish = (id: string) => {
    const entry = pending.get(id)
    if (entry?.timer) clearTimeout(entry.timer)
    pending.delete(id)
    done.add(id)
    // Nothing left to wait for: no idle connection (it would also keep the page out of the back/forward cache).
    if (pending.size === 0 && socket) socket.close()
  }

  const retry = (id: string) => {
    const entry = pending.get(id)
    if (!entry || entry.timer) return
    const wait = delay(entry.attempt++)
    if (wait === null) {
      finish(id)
      onMissing(id)
      return
    }
    entry.timer = setTimeout(() => {
      entry.timer = null
      void attempt(id)
    }, wait)
  }

  async function attempt(id: string): Promise<void> {
    const entry = pending.get(id)
    if (!entry || entry.inFlight) return
    entry.inFlight = true
    let unit: OverlayUnit | null = null
    let notYet = false
    try {
      const wait = entry.attempt === 0 ? firstWaitMs : 0
      const response = await fetchFn.call(globalThis, unitApiUrl(base, id, wait), { credentials: 'omit', cache: 'no-store' })
      if (response.ok) unit = ((await response.json()) as { unit: OverlayUnit }).unit
      else notYet = response.status === 404
    } catch {
      // Refused by CORS (the agent has not reported this page's origin yet) or the server is not up: retry below.
    }
    entry.inFlight = false
    if (!pending.has(id)) return
    if (unit) {
      finish(id)
      onUnit(unit)
      return
    }
    if (notYet) subscribe()
    retry(id)
  }

  const subscribe = () => {
    if (!WebSocketImpl || pending.size === 0) return
    if (socket && socket.readyState === 1) {
      socket.send(JSON.stringify({ type: 'subscribe', units: [...pending.keys()] }))
      return
    }
    if (socket || socketTimer) return
    try {
      socket = new WebSocketImpl(liveUrl(base))
    } catch {
      socket = null
      return
    }
    socket.onopen = () => {
      socketAttempt = 0
      subscribe()
    }
    socket.onmessage = (event) => {
      try {
        const message = JSON.parse(String(event.data)) as LiveServerMessage
        if (message.type !== 'unit') return
        const entry = pending.get(message.unit.id)
        if (!entry) return
        if (entry.timer) clearTimeout(entry.timer)
        entry.timer = null
        void attempt(message.unit.id)
      } catch {
        // A message the overlay does not understand is not its business.
      }
    }
    socket.onclose = () => {
      socket = null
      if (pending.size === 0) return
      const wait = delay(socketAttempt++)
      if (wait !== null) {
        socketTimer = setTimeout(() => {
          socketTimer = null
          subscribe()
        }, wait)
      }
    }
  }

  return {
    load(id) {
      if (done.has(id) || pending.has(id)) return
      pending.set(id, { attempt: 0, timer: null, inFlight: false })
      void attempt(id)
    },
  }
}
