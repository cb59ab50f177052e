/**
 * GET /api/v1/health: liveness, version and protocol (open without a token, so agents and scripts can probe). The unit
 * count tells what was recorded, so when a token is configured it is only in the answer to a request that carries it.
 * @module
 */
import { Hono } from 'hono'
import { PROTOCOL_VERSION } from '../protocol.js'
import type { Security } from '../security.js'
import type { Store } from '../store/store.js'
import { VERSION } from '../version.js'

const carriesToken = (security: Security, authorization: string | undefined) => {
  try {
    security.checkToken(authorization)
    return true
  } catch {
    return false
  }
}

export const healthRoutes = ({ store, security }: { store: Store; security: Security }) =>
  new Hono().get('/', (c) => {
    const open = { ok: true, version: VERSION, protocol: PROTOCOL_VERSION }
    return c.json(carriesToken(security, c.req.header('authorization')) ? { ...open, units: store.countUnits() } : open)
  })
