/** POST /api/v1/ingest: validate, analyse, commit the batch in one transaction, answer 202, then announce it live. @module */
import { Hono } from 'hono'
import type { Arrivals } from '../live/arrivals.js'
import type { Hub } from '../live/hub.js'
import type { IngestAnswer, WireUnit } from '../protocol.js'
import { analyseUnits, readPayload, type AnalysisDeps } from './analysis.js'

export const ingestRoutes = (deps: AnalysisDeps & { hub: Hub; arrivals: Arrivals }) =>
  new Hono().post('/', async (c) => {
    const payload = await readPayload(c.req.raw, deps)
    const known = deps.store.knownIds(payload.units.map((unit) => unit.id))
    const fresh = new Map<string, WireUnit>()
    for (const unit of payload.units) if (!known.has(unit.id) && !fresh.has(unit.id)) fresh.set(unit.id, unit)
    const units = analyseUnits(payload, [...fresh.values()], deps)
    const { accepted, stored } = deps.store.saveBatch({ app: payload.app, schema: payload.schema, units })
    deps.hub.publishUnits(stored)
    deps.arrivals.arrived(stored.map((unit) => unit.id))
    return c.json({ accepted, duplicates: payload.units.length - accepted } satisfies IngestAnswer, 202)
  })
