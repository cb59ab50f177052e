/** The side panel of a unit report: the selected query (formatted SQL, parameters, stack) or the selected group. */
import type { AnalysedQuery } from '../../../../server/src/protocol.js'
import { formatCount, formatDuration, formatOffset } from '../../lib/format.js'
import { fingerprintHref } from '../../lib/hash-route.js'
import { findingTitle, type FingerprintGroup, type QueryFindingLink } from '../../lib/queries.js'
import { Badge } from '../Badge/Badge.js'
import { Callsite } from '../Callsite/Callsite.js'
import { Params } from '../Params/Params.js'
import { Sql } from '../Sql/Sql.js'

export interface QueryDetailProps {
  index: number
  query: AnalysedQuery
  links: QueryFindingLink[] | undefined
  onOpenFinding: (finding: number) => void
}

export function QueryDetail({ index, query, links, onOpenFinding }: QueryDetailProps) {
  return (
    <aside class="detail" data-testid="query-detail" aria-label={`Query ${index + 1}`}>
      <header class="detail__head">
        <h3>Query #{index + 1}</h3>
        <span class="mono muted">{formatOffset(query.start_ms)}</span>
        <span class="mono">{formatDuration(query.duration_ms)}</span>
        <span class="muted">{query.db} · {query.vendor}</span>
      </header>
      {query.error ? <p class="detail__error" data-testid="query-error">{query.error}</p> : null}
      {links?.length ? (
        <p class="badges">
          {links.map((link) => (
            <Badge tone={link.severity} onClick={() => onOpenFinding(link.finding)} title="open the finding">
              {link.role === 'trigger' ? `trigger of ${findingTitle(link.kind)}` : findingTitle(link.kind)}
            </Badge>
          ))}
        </p>
      ) : null}
      <Sql sql={query.sql} vendor={query.vendor} format testid="query-detail-sql" />
      {query.sql_truncated ? <p class="muted">The agent truncated this SQL at 100 KB.</p> : null}
      <h4>Parameters</h4>
      <Params params={query.params} many={query.many} />
      <h4>Call site</h4>
      <Callsite site={query.callsite} template={query.template} />
      {query.stack.length > 1 ? (
        <ol class="stack" data-testid="query-stack">
          {query.stack.map((frame) => (
            <li><span class="mono">{frame.file}:{frame.line}</span> <span class="muted">in {frame.function}</span></li>
          ))}
        </ol>
      ) : null}
      <p class="detail__foot">
        <a class="link" href={fingerprintHref(query.fingerprint)}>Where else this query runs → <span class="mono">{query.fingerprint}</span></a>
      </p>
    </aside>
  )
}

export function GroupDetail({ group, queries, onSelectQuery }: { group: FingerprintGroup; queries: AnalysedQuery[]; onSelectQuery: (index: number) => void }) {
  const shown = group.indexes.slice(0, 200)
  return (
    <aside class="detail" data-testid="group-detail">
      <header class="detail__head">
        <h3>{formatCount(group.count)}× one fingerprint</h3>
        <span class="mono">{formatDuration(group.total_ms)}</span>
      </header>
      <Sql sql={group.sql} vendor={group.vendor} format />
      <h4>Queries</h4>
      <p class="index-links">
        {shown.map((i) => (
          <button type="button" class="link mono" title={`${formatDuration(queries[i].duration_ms)} at ${formatOffset(queries[i].start_ms)}`} onClick={() => onSelectQuery(i)}>#{i + 1}</button>
        ))}
        {group.indexes.length > shown.length ? <span class="muted"> and {formatCount(group.indexes.length - shown.length)} more</span> : null}
      </p>
      <p class="detail__foot">
        <a class="link" href={fingerprintHref(group.fingerprint)}>Where else this query runs → <span class="mono">{group.fingerprint}</span></a>
      </p>
    </aside>
  )
}
