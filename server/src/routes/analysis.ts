/** The step ingest and analyze share: decode, validate, pick the app's schema, analyse each unit. @module */
import type { AnalysisOptions, analyseUnit } from '../analysis/analyse-unit.js'
import { LIMITS, parseIngestPayload, type IngestPayload, type Unit, type WireUnit } from '../protocol.js'
import type { Store } from '../store/store.js'
import { readJsonBody } from './body.js'

export type Analyse = typeof analyseUnit

export interface AnalysisDeps {
  store: Store
  analyse: Analyse
  analysisOptions?: AnalysisOptions
  bodyLimit?: number
}

/** The validated payload of an ingest or analyze request. */
export async function readPayload(request: Request, { bodyLimit = LIMITS.bodyBytes }: { bodyLimit?: number }): Promise<IngestPayload> {
  return parseIngestPayload(await readJsonBody(request, { limit: bodyLimit }))
}

/** Analyses `units` with the schema sent in this batch, else the latest stored for the app. Pure apart from reading that schema. */
export function analyseUnits(payload: IngestPayload, units: readonly WireUnit[], { store, analyse, analysisOptions }: AnalysisDeps): Unit[] {
  const schema = payload.schema ?? store.latestSchema(payload.app.name)
  return units.map((unit) => analyse(unit, { app: payload.app, schema, options: analysisOptions }))
}
