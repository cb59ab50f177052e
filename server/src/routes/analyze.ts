/** POST /api/v1/analyze: the analysis ingest would store, answered at once and stored nowhere (CI, pytest, tests). @module */
import { Hono } from 'hono'
import { analyseUnits, readPayload, type AnalysisDeps } from './analysis.js'

export const analyzeRoutes = (deps: AnalysisDeps) =>
  new Hono().post('/', async (c) => {
    const payload = await readPayload(c.req.raw, deps)
    return c.json({ units: analyseUnits(payload, payload.units, deps) })
  })
