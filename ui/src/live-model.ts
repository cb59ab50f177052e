/**
 * The live list's state: units newest first, fed by the socket and by `GET /api/v1/units`, with pause, clear and
 * catch-up after a reconnect. Socket bursts are applied once per animation frame so 200 units/s stay smooth. @module
 */
import type { LiveServerMessage, UnitSummary } from '../../server/src/protocol.js'
import type { Api } from './api.js'
import { connectLive, type LiveConnection, type LiveStatus } from './live-client.js'
import { EMPTY_FILTER, filterToApiParams, mergeUnits, type UnitFilter } from './lib/units.js'
import { createStore, type Store } from './store.js'

export interface LiveState {
  units: UnitSummary[]
  status: LiveStatus
  paused: boolean
  /** Units that arrived while paused, shown when the list resumes. */
  held: UnitSummary[]
  /** Cursor for older units of the current filter, or null when everything is loaded. */
  next: string | null
  loading: boolean
  error: string | null
}

export interface LiveModel {
  store: Store<LiveState>
  start(): void
  stop(): void
  pause(): void
  resume(): void
  clear(): Promise<void>
  /** Asks the server for the newest units matching a filter (older units the live stream never carried). */
  load(filter: UnitFilter): Promise<void>
  loadOlder(filter: UnitFilter): Promise<void>
}

const CAP = 5000
/** How many pages a catch-up reads at most after a reconnect. */
const CATCH_UP_PAGES = 10
/** How many pages one "Load older units" reads at most, looking for units the list does not hold yet. */
const OLDER_PAGES = 20

export function createLiveModel({ api, url, schedule = defaultSchedule }: { api: Api; url: string; schedule?: (run: () => void) => void }): LiveModel {
  const store = createStore<LiveState>({ units: [], status: 'connecting', paused: false, held: [], next: null, loading: false, error: null })
  let connection: LiveConnection | null = null
  let queue: UnitSummary[] = []
  let flushScheduled = false
  let lastFilter = EMPTY_FILTER

  const add = (incoming: UnitSummary[]) => {
    if (incoming.length === 0) return
    store.set((state) =>
      state.paused ? { held: mergeUnits(state.held, incoming, CAP) } : { units: mergeUnits(state.units, incoming, CAP) },
    )
  }

  const flush = () => {
    flushScheduled = false
    const batch = queue
    queue = []
    add(batch)
  }

  const onMessage = (message: LiveServerMessage) => {
    if (message.type === 'unit') {
      queue.push(message.unit)
      if (!flushScheduled) {
        flushScheduled = true
        schedule(flush)
      }
    } else if (message.type === 'cleared') {
      queue = []
      store.set({ units: [], held: [], next: null })
    } else if (message.type === 'hello' && message.units === 0) {
      // A server that restarted with an empty store: what we show is gone.
      store.set({ units: [], held: [], next: null })
    }
  }

  /** Reads pages newest first until one overlaps what we already have, so a gap left by a disconnect is filled. */
  const catchUp = async () => {
    const known = new Set(store.get().units.map((u) => u.id))
    let before: string | null = null
    for (let page = 0; page < CATCH_UP_PAGES; page++) {
      const answer = await api.units(filterToApiParams(EMPTY_FILTER, { before }))
      add(answer.units)
      if (!answer.next || answer.units.some((u) => known.has(u.id))) return
      before = answer.next
    }
  }

  const report = (error: unknown) => store.set({ error: error instanceof Error ? error.message : String(error), loading: false })

  return {
    store,
    start() {
      if (connection) return
      connection = connectLive(url, {
        onMessage,
        onStatus: (status) => store.set({ status }),
        onOpen: (reconnected) => {
          store.set({ error: null })
          if (reconnected) catchUp().catch(report)
        },
      })
    },
    stop() {
      connection?.close()
      connection = null
    },
    pause() {
      store.set({ paused: true })
    },
    resume() {
      flush()
      store.set((state) => ({ paused: false, units: mergeUnits(state.units, state.held, CAP), held: [] }))
    },
    async clear() {
      await api.clear().catch((error: unknown) => {
        report(error)
        throw error
      })
      queue = []
      store.set({ units: [], held: [], next: null })
    },
    async load(filter) {
      lastFilter = filter
      store.set({ loading: true })
      try {
        const answer = await api.units(filterToApiParams(filter))
        if (lastFilter !== filter) return
        store.set((state) => ({ units: mergeUnits(state.units, answer.units, CAP) }))
        store.set({ next: answer.next, loading: false, error: null })
      } catch (error) {
        report(error)
      }
    },
    async loadOlder(filter) {
      let before = store.get().next
      if (!before) return
      store.set({ loading: true })
      try {
        // A page of units the list holds already (they came live after a filter's first page was read) adds nothing
        // to see: read on to the first page that does, or to the end.
        for (let page = 0; before && page < OLDER_PAGES; page++) {
          const answer = await api.units(filterToApiParams(filter, { before }))
          const held = new Set(store.get().units.map((unit) => unit.id))
          store.set((state) => ({ units: mergeUnits(state.units, answer.units, CAP + answer.units.length), next: answer.next }))
          before = answer.next
          if (answer.units.some((unit) => !held.has(unit.id))) break
        }
        store.set({ loading: false })
      } catch (error) {
        report(error)
      }
    },
  }
}

function defaultSchedule(run: () => void): void {
  if (typeof requestAnimationFrame === 'function' && typeof document !== 'undefined' && document.visibilityState === 'visible') {
    requestAnimationFrame(run)
  } else {
    setTimeout(run, 16)
  }
}
