/**
 * Watches the page's own `fetch` and `XMLHttpRequest` calls for the `X-QuerySight-Unit` header of their responses.
 * The patched functions hand back exactly what the originals return (the same promise, the same value, the same
 * exceptions); the overlay only looks at the response afterwards, inside a guard.
 * @module
 */
import { headerFromRaw, parseUnitHeader, UNIT_HEADER } from './overlay-model.js'

export interface InterceptOptions {
  onUnit: (id: string) => void
  target?: { fetch?: typeof fetch; XMLHttpRequest?: typeof XMLHttpRequest }
}

const ignore = () => {}

export function interceptCalls({ onUnit, target = window }: InterceptOptions): void {
  const report = (value: string | null) => {
    const id = parseUnitHeader(value)
    if (id) onUnit(id)
  }

  const originalFetch = target.fetch
  if (typeof originalFetch === 'function') {
    const observe = (response: unknown) => {
      try {
        if (response instanceof Response) report(response.headers.get(UNIT_HEADER))
      } catch {
        // Never let the overlay's look at a response reach the page.
      }
    }
    target.fetch = function (this: unknown, ...args: Parameters<typeof fetch>) {
      const result = originalFetch.apply(this, args)
      try {
        // The page's own handlers see the same promise; the overlay's handlers never throw.
        result.then(observe, ignore)
      } catch {
        // A result that is not a promise is the page's business.
      }
      return result
    } as typeof fetch
  }

  const proto = target.XMLHttpRequest?.prototype
  if (proto && typeof proto.send === 'function') {
    const originalSend = proto.send
    function onLoad(this: XMLHttpRequest) {
      try {
        report(headerFromRaw(this.getAllResponseHeaders(), UNIT_HEADER))
      } catch {
        // As above: the page never sees the overlay fail.
      }
    }
    proto.send = function (this: XMLHttpRequest, ...args: Parameters<XMLHttpRequest['send']>) {
      try {
        this.addEventListener('load', onLoad)
      } catch {
        // Not a real XMLHttpRequest: the original send will say so.
      }
      return originalSend.apply(this, args)
    }
  }
}
