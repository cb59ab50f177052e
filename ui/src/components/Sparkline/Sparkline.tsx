/** A small inline SVG chart: query count per unit over time, each dot a link to its unit. */
import type { ChartSample } from '../../lib/chart.js'
import { scaleChart } from '../../lib/chart.js'
import { formatClock, plural } from '../../lib/format.js'
import { unitHref } from '../../lib/hash-route.js'

export function Sparkline({ samples, width = 140, height = 30, label }: { samples: readonly ChartSample[]; width?: number; height?: number; label: string }) {
  const chart = scaleChart(samples, { width, height })
  const last = chart.points[chart.points.length - 1]
  return (
    <svg class="sparkline" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label} data-testid="sparkline">
      <title>{`${label}; top of the chart = ${chart.max}`}</title>
      <path class="sparkline__area" d={chart.area} />
      <path class="sparkline__line" d={chart.line} />
      {chart.points.map((point) => (
        <a href={unitHref(point.id)}>
          <circle class={`sparkline__dot${point === last ? ' sparkline__dot--last' : ''}`} cx={point.x} cy={point.y} r={point === last ? 2.5 : 1.6}>
            <title>{`${plural(point.queries, 'query', 'queries')} at ${formatClock(point.started_at)}`}</title>
          </circle>
        </a>
      ))}
    </svg>
  )
}
