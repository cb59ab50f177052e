/** startServer(): the store, the live hub and the app of app.ts on a node HTTP server; resolves once listening. @module */
import { serve } from '@hono/node-server'
import { existsSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { homedir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AnalysisOptions } from './analysis/analyse-unit.js'
import { createApp } from './app.js'
import { PortInUseError } from './errors.js'
import { createArrivals } from './live/arrivals.js'
import { createHub, type HubStats } from './live/hub.js'
import { PROTOCOL_VERSION } from './protocol.js'
import { createSecurity } from './security.js'
import { createStore, DEFAULT_MAX_UNITS } from './store/store.js'
import { VERSION } from './version.js'

export interface ServerOptions {
  host?: string
  port?: number
  /** Database file, or ':memory:'. Default: ~/.querysight/querysight.db. */
  db?: string
  /** Require `Authorization: Bearer <token>` on the API (and `?token=` on the live socket). */
  token?: string | null
  maxUnits?: number
  /** Serve the UI and overlay from `uiDir`. */
  ui?: boolean
  uiDir?: string
  /** Print nothing (the CLI prints the listening line itself). */
  quiet?: boolean
  analysisOptions?: AnalysisOptions
  /** Backpressure of the live socket: unsent bytes past which a client misses messages, and misses in a row before it is dropped. */
  live?: { maxBufferedBytes?: number; maxSkipped?: number }
}

export interface RunningServer {
  url: string
  port: number
  close: () => Promise<void>
  /** Live socket clients and what backpressure did to them. */
  liveStats: () => HubStats
  /** Reads of one unit waiting for it to arrive (`?wait=`). */
  waitingReads: () => number
}

export const defaultDbPath = () => join(homedir(), '.querysight', 'querysight.db')

/** dist/ui next to the bundled dist/cli.js, or the repository's dist/ui when running from server/src. */
export function defaultUiDir(): string {
  const candidates = [fileURLToPath(new URL('./ui/', import.meta.url)), fileURLToPath(new URL('../../dist/ui/', import.meta.url))]
  return candidates.find((dir) => existsSync(join(dir, 'index.html'))) ?? candidates[0]
}

const urlHost = (host: string) => (host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host)

export async function startServer({
  host = '127.0.0.1',
  port = 8321,
  db = defaultDbPath(),
  token = null,
  maxUnits = DEFAULT_MAX_UNITS,
  ui = true,
  uiDir = defaultUiDir(),
  quiet = true,
  analysisOptions,
  live = {},
}: ServerOptions = {}): Promise<RunningServer> {
  const store = createStore({ path: db, maxUnits })
  const security = createSecurity({ host, token, isKnownOrigin: store.isKnownOrigin })
  const hub = createHub({
    ...live,
    hello: () => ({ type: 'hello', version: VERSION, protocol: PROTOCOL_VERSION, units: store.countUnits() }),
    startsNarrowed: (request) => request.headers.origin !== undefined && !security.isSameOrigin(request.headers.origin, request.headers.host),
    authorize: (request, url) => {
      security.checkHost(request.headers.host)
      security.checkOrigin(request.headers.origin, request.headers.host)
      security.checkToken(request.headers.authorization, url.searchParams.get('token'))
    },
  })
  const arrivals = createArrivals()
  const app = createApp({ store, hub, arrivals, security, analysisOptions, uiDir: ui ? uiDir : null })

  let server: Server
  try {
    const info = await new Promise<AddressInfo>((resolve, reject) => {
      server = serve({ fetch: app.fetch, hostname: host, port }, resolve) as Server
      server.once('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new PortInUseError(port) : err))
    })
    server!.on('upgrade', hub.handleUpgrade)
    const url = `http://${urlHost(host)}:${info.port}`
    if (!quiet) console.log(`[querysight] ${url} (database ${db})`)
    let closing: Promise<void> | null = null
    return {
      url,
      port: info.port,
      liveStats: hub.stats,
      waitingReads: arrivals.waiting,
      close: () =>
        (closing ??= (async () => {
          arrivals.close()
          await hub.close()
          await new Promise<void>((done) => {
            server.close(() => done())
            server.closeAllConnections()
          })
          store.close()
        })()),
    }
  } catch (err) {
    await hub.close(0)
    store.close()
    throw err
  }
}
