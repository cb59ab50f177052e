/** GET /api/v1/fingerprints/:id: a fingerprint's normalized SQL and where it has been seen. @module */
import { Hono } from 'hono'
import { NotFoundError } from '../errors.js'
import type { Store } from '../store/store.js'

export const fingerprintsRoutes = ({ store }: { store: Store }) =>
  new Hono().get('/:id', (c) => {
    const fingerprint = store.fingerprint(c.req.param('id'))
    if (!fingerprint) throw new NotFoundError(`no fingerprint ${c.req.param('id')} among the stored units; ids are 16 hex digits from a unit's queries`)
    return c.json({ fingerprint })
  })
