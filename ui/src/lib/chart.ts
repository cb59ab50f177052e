/** Scaling for the routes page's small chart: query count per unit over time, as SVG coordinates. Pure. @module */

export interface ChartSample {
  id: string
  started_at: number
  queries: number
}

export interface ChartPoint extends ChartSample {
  x: number
  y: number
}

export interface Chart {
  points: ChartPoint[]
  /** SVG path data of the line through the points (empty for no points). */
  line: string
  /** Path data of the area under the line, closed along the baseline. */
  area: string
  /** The y value the top of the chart stands for (a round number ≥ the largest count). */
  max: number
}

export interface ChartBox {
  width: number
  height: number
  /** Inner margin so dots at the edges are not cut. */
  pad?: number
}

/**
 * Places samples (oldest first) by time on x and by query count on y (0 at the bottom). Samples at one instant, or a
 * single sample, are spread evenly instead so each stays visible.
 */
export function scaleChart(samples: readonly ChartSample[], { width, height, pad = 3 }: ChartBox): Chart {
  const sorted = [...samples].sort((a, b) => a.started_at - b.started_at)
  const max = roundUp(Math.max(1, ...sorted.map((s) => s.queries)))
  const first = sorted[0]?.started_at ?? 0
  const last = sorted[sorted.length - 1]?.started_at ?? 0
  const innerW = Math.max(1, width - pad * 2)
  const innerH = Math.max(1, height - pad * 2)
  const byTime = last > first
  const points = sorted.map((sample, i) => {
    const t = byTime ? (sample.started_at - first) / (last - first) : sorted.length === 1 ? 1 : i / (sorted.length - 1)
    return { ...sample, x: round(pad + t * innerW), y: round(pad + innerH - (sample.queries / max) * innerH) }
  })
  const line = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x} ${p.y}`).join(' ')
  const baseline = round(pad + innerH)
  const area = points.length ? `${line} L${points[points.length - 1].x} ${baseline} L${points[0].x} ${baseline} Z` : ''
  return { points, line, area, max }
}

/** The smallest of 1, 2, 5 × 10ⁿ (or a multiple of 10ⁿ for small values) that is ≥ n. */
export function roundUp(n: number): number {
  if (n <= 5) return Math.max(1, Math.ceil(n))
  const magnitude = 10 ** Math.floor(Math.log10(n))
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= n) return step * magnitude
  return 10 * magnitude
}

function round(n: number): number {
  return Math.round(n * 10) / 10
}
