/**
 * Arrivals: a request may wait a moment for a unit the agent has not delivered yet (`GET /api/v1/units/:id?wait=ms`).
 * The overlay asks for its page's unit as soon as the page loads, usually before the agent's next batch (every
 * 100 ms) has brought it: waiting here answers it with the unit instead of a 404, which the browser would log as an
 * error in the console of the developer's own page. Bounded: at most `maxWaiting` requests wait at once (the others
 * are answered at once), each for at most the time it asked, and no longer than its client stays connected.
 * @module
 */

export interface Arrivals {
  /** Resolves true once a unit with this id is stored (see `arrived`); false after `ms`, when `signal` aborts (the
   * client went away) or when closed. */
  wait(id: string, ms: number, signal?: AbortSignal): Promise<boolean>
  /** Units just stored: wakes the requests waiting for them. */
  arrived(ids: readonly string[]): void
  /** Wakes every waiting request (with false), and answers later ones at once: the server is stopping. */
  close(): void
  /** How many requests wait now. */
  waiting(): number
}

export function createArrivals({ maxWaiting = 1000 }: { maxWaiting?: number } = {}): Arrivals {
  const waiting = new Map<string, Set<(found: boolean) => void>>()
  let count = 0
  let closed = false

  const settle = (id: string, wake: (found: boolean) => void) => {
    const set = waiting.get(id)
    if (!set?.delete(wake)) return false
    if (set.size === 0) waiting.delete(id)
    count--
    return true
  }

  return {
    wait(id, ms, signal) {
      if (ms <= 0 || closed || count >= maxWaiting || signal?.aborted) return Promise.resolve(false)
      return new Promise((resolve) => {
        const gone = () => wake(false)
        const wake = (found: boolean) => {
          if (!settle(id, wake)) return
          clearTimeout(timer)
          signal?.removeEventListener('abort', gone)
          resolve(found)
        }
        const timer = setTimeout(gone, ms)
        timer.unref()
        signal?.addEventListener('abort', gone, { once: true })
        const set = waiting.get(id)
        if (set) set.add(wake)
        else waiting.set(id, new Set([wake]))
        count++
      })
    },
    arrived(ids) {
      if (count === 0) return
      for (const id of ids) for (const wake of [...(waiting.get(id) ?? [])]) wake(true)
    },
    close() {
      closed = true
      for (const set of [...waiting.values()]) for (const wake of [...set]) wake(false)
    },
    waiting: () => count,
  }
}
