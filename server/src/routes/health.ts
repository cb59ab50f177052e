/** GET /api/v1/health: liveness, version and protocol (open without a token, so agents and scripts can probe). @module */
import { Hono } from 'hono'
import { PROTOCOL_VERSION } from '../protocol.js'
import type { Store } from '../store/store.js'
import { VERSION } from '../version.js'

export const healthRoutes = ({ store }: { store: Store }) =>
  new Hono().get('/', (c) => c.json({ ok: true, version: VERSION, protocol: PROTOCOL_VERSION, units: store.countUnits() }))
