/** GET /api/v1/routes: per-route aggregates (query count percentiles, N+1 and duplicate counts, recent points). @module */
import { Hono } from 'hono'
import type { Store } from '../store/store.js'

export const routesRoutes = ({ store }: { store: Store }) => new Hono().get('/', (c) => c.json({ routes: store.routes() }))
