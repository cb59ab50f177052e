/** The server's HTTP API as the UI calls it, with the page's `?token=` sent as a bearer token. @module */
import type { FingerprintInfo, RouteStats, Unit, UnitsPage } from '../../server/src/protocol.js'

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message)
    this.name = 'ApiError'
  }
}

export interface Api {
  units(params: URLSearchParams): Promise<UnitsPage>
  unit(id: string): Promise<Unit>
  routes(): Promise<RouteStats[]>
  fingerprint(id: string): Promise<FingerprintInfo>
  clear(): Promise<void>
}

/** The token the page was opened with (`http://127.0.0.1:8321/?token=…`), or null. */
export function tokenFromLocation(search: string): string | null {
  return new URLSearchParams(search).get('token') || null
}

/** The live socket's URL for a page at `location`, carrying the token as `?token=` (browsers cannot set headers on it). */
export function liveUrl(location: { protocol: string; host: string }, token: string | null, base = ''): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:'
  return `${scheme}//${location.host}${base}/api/v1/live${token ? `?token=${encodeURIComponent(token)}` : ''}`
}

export function createApi({ base = '', token = null, fetchImpl = globalThis.fetch.bind(globalThis) }: { base?: string; token?: string | null; fetchImpl?: typeof fetch } = {}): Api {
  async function call<T>(method: string, path: string): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' }
    if (token) headers.authorization = `Bearer ${token}`
    let response: Response
    try {
      response = await fetchImpl(`${base}${path}`, { method, headers })
    } catch {
      throw new ApiError(0, 'cannot reach the querysight server; is it still running? (start it with `npx querysight serve`)')
    }
    if (!response.ok) throw new ApiError(response.status, await errorMessage(response))
    if (response.status === 204) return undefined as T
    return (await response.json()) as T
  }
  return {
    units: (params) => call<UnitsPage>('GET', `/api/v1/units?${params}`),
    unit: async (id) => (await call<{ unit: Unit }>('GET', `/api/v1/units/${encodeURIComponent(id)}`)).unit,
    routes: async () => {
      const answer = await call<{ routes: RouteStats[] } | RouteStats[]>('GET', '/api/v1/routes')
      return Array.isArray(answer) ? answer : answer.routes
    },
    fingerprint: async (id) => {
      const answer = await call<{ fingerprint: FingerprintInfo } | FingerprintInfo>('GET', `/api/v1/fingerprints/${encodeURIComponent(id)}`)
      return 'fingerprint' in answer ? answer.fingerprint : answer
    },
    clear: () => call<void>('DELETE', '/api/v1/units'),
  }
}

async function errorMessage(response: Response): Promise<string> {
  if (response.status === 401) return 'the server asks for a token: open this page as http://<server>/?token=<your token>'
  try {
    const body = (await response.json()) as { error?: { message?: string } }
    if (body.error?.message) return body.error.message
  } catch {
    // not JSON; fall through to the status line
  }
  return `the server answered ${response.status} ${response.statusText}`.trim()
}
