/** createApp(deps): the Hono app with every route module mounted and one error handler. It never listens; see server.ts. @module */
import { Hono, type MiddlewareHandler } from 'hono'
import { analyseUnit, type AnalysisOptions } from './analysis/analyse-unit.js'
import { ForbiddenOriginError, HttpError } from './errors.js'
import { createArrivals, type Arrivals } from './live/arrivals.js'
import type { Hub } from './live/hub.js'
import { LIMITS } from './protocol.js'
import { analyzeRoutes } from './routes/analyze.js'
import type { Analyse } from './routes/analysis.js'
import { fingerprintsRoutes } from './routes/fingerprints.js'
import { healthRoutes } from './routes/health.js'
import { ingestRoutes } from './routes/ingest.js'
import { liveRoutes } from './routes/live.js'
import { routesRoutes } from './routes/routes.js'
import { staticRoutes } from './routes/static.js'
import { unitsRoutes } from './routes/units.js'
import { createSecurity, type Security } from './security.js'
import type { Store } from './store/store.js'

export interface AppDeps {
  store: Store
  hub: Hub
  /** Where a read waits for a unit not delivered yet (`?wait=`); its own by default. */
  arrivals?: Arrivals
  /** Host, Origin and token rules (§10); defaults to loopback only, no token. */
  security?: Security
  analyse?: Analyse
  analysisOptions?: AnalysisOptions
  /** Directory of the built UI (index.html, assets/, overlay.js); null serves no UI. */
  uiDir?: string | null
  bodyLimit?: number
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export function createApp({
  store,
  hub,
  arrivals = createArrivals(),
  security = createSecurity({ isKnownOrigin: store.isKnownOrigin }),
  analyse = analyseUnit,
  analysisOptions,
  uiDir = null,
  bodyLimit = LIMITS.bodyBytes,
}: AppDeps) {
  /** DNS rebinding: answer only to loopback names and the configured host. */
  const checkHost: MiddlewareHandler = async (c, next) => {
    security.checkHost(c.req.header('host'))
    await next()
  }
  /** A page of another site may not change anything here, whatever its Content-Type trick. */
  const checkWriteOrigin: MiddlewareHandler = async (c, next) => {
    const origin = c.req.header('origin')
    if (!SAFE_METHODS.has(c.req.method) && origin !== undefined && !security.isSameOrigin(origin, c.req.header('host'))) {
      throw new ForbiddenOriginError(origin)
    }
    await next()
  }
  /** The token guards ingest, analyze and every read; health stays open so agents can probe the server (routes/health.ts leaves out the unit count without it). */
  const checkToken: MiddlewareHandler = async (c, next) => {
    if (c.req.method !== 'OPTIONS' && c.req.path !== '/api/v1/health') security.checkToken(c.req.header('authorization'))
    await next()
  }
  /** GET /api/v1/units/:id may be read by the pages of apps whose agents reported their origin (the overlay). */
  const unitCors: MiddlewareHandler = async (c, next) => {
    const origin = c.req.header('origin')
    const allowed = security.corsOrigin(origin)
    if (c.req.method === 'OPTIONS') {
      if (!allowed) throw new ForbiddenOriginError(origin ?? '(none)')
      return c.body(null, 204, {
        'Access-Control-Allow-Origin': allowed,
        'Access-Control-Allow-Methods': 'GET',
        'Access-Control-Allow-Headers': 'Authorization',
        'Access-Control-Max-Age': '600',
        Vary: 'Origin',
      })
    }
    c.header('Vary', 'Origin')
    if (allowed && c.req.method === 'GET') c.header('Access-Control-Allow-Origin', allowed)
    await next()
    if (!allowed && c.req.method === 'GET') {
      // A read that waited (?wait=) for the agent's batch may have seen that batch report this page's origin.
      const allowedNow = security.corsOrigin(origin)
      if (allowedNow) c.res.headers.set('Access-Control-Allow-Origin', allowedNow)
    }
  }

  const deps = { store, hub, arrivals, analyse, analysisOptions, bodyLimit }
  const app = new Hono()
  app.use('*', checkHost)
  app.use('/api/*', checkWriteOrigin)
  app.use('/api/*', checkToken)
  app.use('/api/v1/units/:id', unitCors)
  app.route('/api/v1/health', healthRoutes({ store, security }))
  app.route('/api/v1/ingest', ingestRoutes(deps))
  app.route('/api/v1/analyze', analyzeRoutes(deps))
  app.route('/api/v1/units', unitsRoutes(deps))
  app.route('/api/v1/routes', routesRoutes(deps))
  app.route('/api/v1/fingerprints', fingerprintsRoutes(deps))
  app.route('/api/v1/live', liveRoutes())
  if (uiDir) app.route('/', staticRoutes({ uiDir }))

  app.notFound((c) => c.json({ error: { code: 'not_found', message: `no endpoint ${c.req.method} ${c.req.path}; see the API in the README` } }, 404))
  app.onError((err, c) => {
    if (err instanceof HttpError) {
      return c.json({ error: { code: err.code, message: err.message, ...(err.path !== undefined ? { path: err.path } : {}) } }, err.status)
    }
    console.error('[querysight] internal error:', err)
    return c.json({ error: { code: 'internal', message: 'internal server error; see the server log' } }, 500)
  })
  return app
}
