/** Geometry of the query timeline (waterfall): where each bar starts and how wide it is, and the axis ticks. @module */

export interface Timed {
  start_ms: number
  duration_ms: number
}

/** The time the timeline spans: the unit's duration, stretched to fit any query that ends after it. Never 0. */
export function timelineSpan(unitDurationMs: number, queries: readonly Timed[]): number {
  let span = Number.isFinite(unitDurationMs) ? unitDurationMs : 0
  for (const q of queries) span = Math.max(span, q.start_ms + q.duration_ms)
  return span > 0 ? span : 1
}

export interface Bar {
  /** Percentages of the track width. */
  left: number
  width: number
}

/** A query's bar, in percent of the track; at least `minWidth` percent wide so instant queries stay visible. */
export function barOf(query: Timed, span: number, minWidth = 0.4): Bar {
  const left = clamp((query.start_ms / span) * 100, 0, 100)
  const width = Math.max(minWidth, (query.duration_ms / span) * 100)
  return { left: Math.min(left, 100 - minWidth), width: Math.min(width, 100 - Math.min(left, 100 - minWidth)) }
}

export interface Tick {
  ms: number
  /** Percent of the track. */
  at: number
}

/** Axis ticks at a round step (1, 2 or 5 × 10ⁿ ms) giving about `target` intervals across the span. */
export function ticksOf(span: number, target = 4): Tick[] {
  const step = niceStep(span / target)
  const ticks: Tick[] = []
  for (let ms = 0; ms <= span + 1e-9; ms += step) ticks.push({ ms: round(ms), at: (ms / span) * 100 })
  return ticks
}

export function niceStep(raw: number): number {
  if (!(raw > 0)) return 1
  const magnitude = 10 ** Math.floor(Math.log10(raw))
  const residual = raw / magnitude
  const nice = residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10
  return nice * magnitude
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value))
}

function round(ms: number): number {
  return Math.round(ms * 1e6) / 1e6
}
