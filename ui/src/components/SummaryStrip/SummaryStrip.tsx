/** The strip at the top of a unit report: the figures a developer looks at first. */
import type { Unit } from '../../../../server/src/protocol.js'
import { formatClock, formatCount, formatDuration } from '../../lib/format.js'

export function SummaryStrip({ unit }: { unit: Unit }) {
  const s = unit.summary
  const dbShare = unit.duration_ms > 0 ? Math.min(100, (s.db_ms / unit.duration_ms) * 100) : 0
  return (
    <dl class="summary-strip" data-testid="summary-strip">
      <Figure label="Queries" value={formatCount(s.queries)} testid="summary-queries" tone={s.queries >= 50 ? 'warning' : undefined} />
      <Figure label="DB time" value={formatDuration(s.db_ms)} detail={unit.duration_ms > 0 ? `${Math.round(dbShare)} % of the unit` : undefined} />
      <Figure label="Duration" value={formatDuration(unit.duration_ms)} />
      <Figure label="N+1" value={formatCount(s.n_plus_one)} tone={s.n_plus_one ? (s.severity === 'error' ? 'error' : 'warning') : 'ok'} testid="summary-n-plus-one" />
      <Figure label="Duplicates" value={formatCount(s.duplicates)} tone={s.duplicates ? 'warning' : 'ok'} testid="summary-duplicates" />
      <Figure label="Findings" value={formatCount(s.findings)} tone={s.severity ?? 'ok'} />
      {unit.dropped_queries > 0 ? (
        <Figure label="Not recorded" value={formatCount(unit.dropped_queries)} tone="warning" detail="past the agent's per-unit cap" />
      ) : null}
      <Figure label="Started" value={formatClock(unit.started_at)} detail={new Date(unit.started_at).toLocaleDateString()} />
    </dl>
  )
}

function Figure({ label, value, detail, tone, testid }: { label: string; value: string; detail?: string; tone?: string; testid?: string }) {
  return (
    <div class={`figure${tone ? ` figure--${tone}` : ''}`} data-testid={testid}>
      <dt>{label}</dt>
      <dd>
        <span class="figure__value">{value}</span>
        {detail ? <span class="figure__detail">{detail}</span> : null}
      </dd>
    </div>
  )
}
