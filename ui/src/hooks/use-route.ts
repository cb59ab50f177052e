/** The current hash route, updated on `hashchange`. @module */
import { useEffect, useState } from 'preact/hooks'
import { parseHash, type Route } from '../lib/hash-route.js'

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash))
  useEffect(() => {
    const update = () => setRoute(parseHash(location.hash))
    addEventListener('hashchange', update)
    return () => removeEventListener('hashchange', update)
  }, [])
  return route
}

/** Changes the hash without adding a history entry (for state such as the selected row). */
export function replaceHash(hash: string): void {
  if (location.hash === hash) return
  history.replaceState(history.state, '', `${location.pathname}${location.search}${hash}`)
  dispatchEvent(new HashChangeEvent('hashchange'))
}
