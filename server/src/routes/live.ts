/** GET /api/v1/live without a WebSocket upgrade: say how to connect (the upgrade itself is handled by live/hub.ts). @module */
import { Hono } from 'hono'
import { HttpError } from '../errors.js'

export const liveRoutes = () =>
  new Hono().get('/', () => {
    throw new HttpError(426, 'upgrade_required', 'this is a WebSocket endpoint; connect with new WebSocket("ws://<server>/api/v1/live")')
  })
