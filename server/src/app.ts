/** createApp(deps): the Hono app. It never listens; see server.ts. @module */
import { Hono } from 'hono'
import { HttpError } from './errors.js'
import { PROTOCOL_VERSION } from './protocol.js'
import { VERSION } from './version.js'

export interface AppDeps {
  countUnits?: () => number
}

export function createApp({ countUnits = () => 0 }: AppDeps = {}) {
  const app = new Hono()
  app.get('/api/v1/health', (c) => c.json({ ok: true, version: VERSION, protocol: PROTOCOL_VERSION, units: countUnits() }))
  app.onError((err, c) => {
    if (err instanceof HttpError) {
      return c.json({ error: { code: err.code, message: err.message, ...(err.path ? { path: err.path } : {}) } }, err.status)
    }
    console.error('[querysight] internal error:', err)
    return c.json({ error: { code: 'internal', message: 'internal server error; see the server log' } }, 500)
  })
  return app
}
