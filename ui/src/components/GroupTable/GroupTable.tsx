/** The unit's queries grouped by fingerprint: how many times each shape ran and how much time it took. */
import type { FingerprintGroup } from '../../lib/queries.js'
import { formatCount, formatDuration } from '../../lib/format.js'
import { fingerprintHref } from '../../lib/hash-route.js'
import { Sql } from '../Sql/Sql.js'
import { VirtualList } from '../VirtualList/VirtualList.js'

export interface GroupTableProps {
  groups: FingerprintGroup[]
  totalMs: number
  selected: number | null
  onSelect: (index: number) => void
}

export function GroupTable({ groups, totalMs, selected, onSelect }: GroupTableProps) {
  const maxTotal = groups.reduce((max, g) => Math.max(max, g.total_ms), 0) || 1
  return (
    <div class="query-table">
      <div class="grid-head group-cols" role="presentation">
        <span class="num">Count</span>
        <span class="num">Total</span>
        <span class="num">Avg</span>
        <span>Share of DB time</span>
        <span>Normalized SQL</span>
        <span>Fingerprint</span>
      </div>
      <VirtualList
        label="Query groups"
        testid="group-list"
        class="query-list"
        count={groups.length}
        rowHeight={28}
        rowKey={(i) => groups[i].fingerprint}
        selected={selected}
        onSelect={onSelect}
        keyboard
        renderRow={(i) => {
          const group = groups[i]
          const share = totalMs > 0 ? (group.total_ms / totalMs) * 100 : 0
          return (
            <div class="group-cols group-row" data-testid="group-row" data-fingerprint={group.fingerprint}>
              <span class={`num mono${group.count > 1 ? ' warn-text' : ''}`} data-testid="group-count">{formatCount(group.count)}×</span>
              <span class="num mono">{formatDuration(group.total_ms)}</span>
              <span class="num mono muted">{formatDuration(group.total_ms / group.count)}</span>
              <span class="share" title={`${share.toFixed(1)} % of the unit's database time`}>
                <span class="share__bar" style={{ width: `${(group.total_ms / maxTotal) * 100}%` }} />
                <span class="share__label">{share < 0.1 ? '<0.1' : share.toFixed(1)} %</span>
              </span>
              <Sql sql={group.sql} vendor={group.vendor} inline />
              <a class="mono link" href={fingerprintHref(group.fingerprint)} onClick={(e) => e.stopPropagation()}>{group.fingerprint.slice(0, 8)}</a>
            </div>
          )
        }}
        empty={<p>This unit ran no queries.</p>}
      />
    </div>
  )
}
