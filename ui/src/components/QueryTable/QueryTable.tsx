/** Every query of a unit in execution order: index, start offset, a waterfall bar, SQL, call site, finding badges. */
import { useMemo } from 'preact/hooks'
import type { AnalysedQuery } from '../../../../server/src/protocol.js'
import { formatDuration, formatOffset } from '../../lib/format.js'
import { badgesOf, findingShortLabel, type QueryFindingLink } from '../../lib/queries.js'
import { barOf, ticksOf, timelineSpan } from '../../lib/waterfall.js'
import { Badge } from '../Badge/Badge.js'
import { Callsite } from '../Callsite/Callsite.js'
import { Sql } from '../Sql/Sql.js'
import { VirtualList } from '../VirtualList/VirtualList.js'

export interface QueryTableProps {
  queries: AnalysedQuery[]
  unitDurationMs: number
  links: Map<number, QueryFindingLink[]>
  selected: number | null
  onSelect: (index: number) => void
  onOpenFinding: (finding: number) => void
}

const ROW_HEIGHT = 28

export function QueryTable({ queries, unitDurationMs, links, selected, onSelect, onOpenFinding }: QueryTableProps) {
  const span = useMemo(() => timelineSpan(unitDurationMs, queries), [queries, unitDurationMs])
  const ticks = useMemo(() => ticksOf(span), [span])
  return (
    <div class="query-table">
      <div class="grid-head query-cols" role="presentation">
        <span class="num">#</span>
        <span class="num">Start</span>
        <span class="num">Duration</span>
        <span class="waterfall-axis" aria-label="timeline">
          {ticks.map((tick) => (
            <span class="waterfall-axis__tick" style={{ left: `${tick.at}%` }}>{formatDuration(tick.ms)}</span>
          ))}
        </span>
        <span>SQL</span>
        <span>Call site</span>
        <span>Findings</span>
      </div>
      <VirtualList
        label="Queries"
        testid="query-list"
        class="query-list"
        count={queries.length}
        rowHeight={ROW_HEIGHT}
        selected={selected}
        onSelect={onSelect}
        keyboard
        renderRow={(i) => <QueryRow index={i} query={queries[i]} span={span} ticks={ticks.map((t) => t.at)} links={links.get(i)} onOpenFinding={onOpenFinding} />}
        empty={<p>This unit ran no queries.</p>}
      />
    </div>
  )
}

interface QueryRowProps {
  index: number
  query: AnalysedQuery
  span: number
  ticks: number[]
  links: QueryFindingLink[] | undefined
  onOpenFinding: (finding: number) => void
}

function QueryRow({ index, query, span, ticks, links, onOpenFinding }: QueryRowProps) {
  const bar = barOf(query, span)
  const severity = links?.some((l) => l.severity === 'error') ? 'error' : links?.length ? 'warning' : 'none'
  return (
    <div class={`query-cols query-row${query.error ? ' query-row--error' : ''}`} data-testid="query-row" data-index={index}>
      <span class="num mono muted" data-testid="query-index">{index + 1}</span>
      <span class="num mono muted">{formatOffset(query.start_ms)}</span>
      <span class="num mono">{formatDuration(query.duration_ms)}</span>
      <span class="waterfall" aria-hidden="true">
        {ticks.map((at) => <span class="waterfall__grid" style={{ left: `${at}%` }} />)}
        <span class={`waterfall__bar waterfall__bar--${severity}`} style={{ left: `${bar.left}%`, width: `${bar.width}%` }} />
      </span>
      <span class="query-row__sql" title={query.sql.length > 2000 ? `${query.sql.slice(0, 2000)}…` : query.sql}>
        {query.error ? <Badge tone="error" title={query.error}>error</Badge> : null}
        {query.many ? <Badge tone="neutral" title="executemany">many</Badge> : null}
        <Sql sql={query.sql} vendor={query.vendor} inline />
      </span>
      <Callsite site={query.callsite} template={query.template} compact />
      <span class="badges">
        {badgesOf(links ?? []).map((badge) => (
          <Badge
            tone={badge.severity}
            testid="query-finding-badge"
            title={
              badge.role === 'trigger'
                ? `the query that produced the keys of ${badge.count > 1 ? `${badge.count} N+1s (opens the first)` : 'this N+1'}`
                : 'open the finding'
            }
            onClick={() => onOpenFinding(badge.finding)}
          >
            {badge.role === 'trigger' ? `${findingShortLabel(badge.kind)} trigger` : findingShortLabel(badge.kind)}
            {badge.count > 1 ? ` ×${badge.count}` : ''}
          </Badge>
        ))}
      </span>
    </div>
  )
}
