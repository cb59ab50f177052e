/** One finding: what is wrong, how to fix it (text and code), where, the repeated SQL, and its queries on demand. */
import { useState } from 'preact/hooks'
import type { AnalysedQuery, Finding } from '../../../../server/src/protocol.js'
import { formatCount, formatDuration, formatOffset } from '../../lib/format.js'
import { fingerprintHref } from '../../lib/hash-route.js'
import { findingTitle, vendorOf } from '../../lib/queries.js'
import { Callsite } from '../Callsite/Callsite.js'
import { Params } from '../Params/Params.js'
import { Sql } from '../Sql/Sql.js'
import { VirtualList } from '../VirtualList/VirtualList.js'

export interface FindingCardProps {
  finding: Finding
  index: number
  queries: AnalysedQuery[]
  onSelectQuery: (index: number) => void
  highlighted?: boolean
}

export function FindingCard({ finding, index, queries, onSelectQuery, highlighted = false }: FindingCardProps) {
  const [open, setOpen] = useState(false)
  const vendor = vendorOf(queries, finding.query_indexes)
  return (
    <article
      id={`finding-${index}`}
      class={`finding finding--${finding.severity}${highlighted ? ' finding--flash' : ''}`}
      data-testid="finding"
      data-kind={finding.kind}
      data-severity={finding.severity}
    >
      <header class="finding__head">
        <span class={`sev-dot sev-dot--${finding.severity}`} aria-label={finding.severity} />
        <h3 class="finding__title" data-testid="finding-title">{findingTitle(finding.kind)}</h3>
        <span class="finding__count" title="repeated queries">×{formatCount(finding.count)}</span>
        {finding.wasted_ms > 0 ? <span class="finding__wasted" title="time that the fix would save">{formatDuration(finding.wasted_ms)} wasted</span> : null}
        <span class="finding__spacer" />
        <a class="finding__fp mono" href={fingerprintHref(finding.fingerprint)} title="where else this query runs">fingerprint {finding.fingerprint.slice(0, 8)}</a>
      </header>
      <div class="finding__fix" data-testid="finding-fix">
        <p class="finding__fix-text">{finding.suggestion.text}</p>
        {finding.suggestion.code ? <pre class="code" data-testid="finding-code"><code>{finding.suggestion.code}</code></pre> : null}
      </div>
      <div class="finding__where">
        <span class="label">at</span> <Callsite site={finding.callsite} template={finding.template} />
        {finding.trigger_index !== null ? (
          <>
            <span class="label"> · triggered by </span>
            <button type="button" class="link" data-testid="finding-trigger" onClick={() => onSelectQuery(finding.trigger_index!)}>query #{finding.trigger_index + 1}</button>
          </>
        ) : null}
      </div>
      <Sql sql={finding.sql} vendor={vendor} format class="finding__sql" testid="finding-sql" />
      <button type="button" class="disclosure" aria-expanded={open} data-testid="finding-queries-toggle" onClick={() => setOpen(!open)}>
        {open ? '▾' : '▸'} {open ? 'Hide' : 'Show'} the {formatCount(finding.query_indexes.length)} {finding.query_indexes.length === 1 ? 'query' : 'queries'} with their parameters
      </button>
      {open ? (
        <VirtualList
          label={`Queries of finding ${index + 1}`}
          testid="finding-queries"
          class="finding-queries"
          count={finding.query_indexes.length}
          rowHeight={26}
          height={26 * Math.min(8, finding.query_indexes.length) + 2}
          renderRow={(i) => {
            const qi = finding.query_indexes[i]
            const query = queries[qi]
            return (
              <div class="finding-query">
                <button type="button" class="link mono" onClick={() => onSelectQuery(qi)}>#{qi + 1}</button>
                <span class="mono muted">{query ? formatOffset(query.start_ms) : ''}</span>
                <span class="mono">{query ? formatDuration(query.duration_ms) : ''}</span>
                {query ? <Params params={query.params} many={false} /> : null}
              </div>
            )
          }}
        />
      ) : null}
    </article>
  )
}
