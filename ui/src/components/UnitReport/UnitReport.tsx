/** A unit's report (`#/units/<id>`): summary, findings with their fix, then every query or the fingerprint groups. */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import type { Unit } from '../../../../server/src/protocol.js'
import { useServices } from '../../context.js'
import { useFetch } from '../../hooks/use-fetch.js'
import { useKeys } from '../../hooks/use-keys.js'
import { replaceHash } from '../../hooks/use-route.js'
import { formatCount, formatDuration, plural } from '../../lib/format.js'
import { listHref, unitHref, type QueryView } from '../../lib/hash-route.js'
import { findingsByQuery, groupByFingerprint, orderFindings, totalDbTime } from '../../lib/queries.js'
import { statusClass, unitLabel } from '../../lib/units.js'
import { FindingCard } from '../FindingCard/FindingCard.js'
import { GroupTable } from '../GroupTable/GroupTable.js'
import { GroupDetail, QueryDetail } from '../QueryDetail/QueryDetail.js'
import { QueryTable } from '../QueryTable/QueryTable.js'
import { SummaryStrip } from '../SummaryStrip/SummaryStrip.js'

export function UnitReport({ id, view, query }: { id: string; view: QueryView; query: number | null }) {
  const { api } = useServices()
  const [state] = useFetch(`unit:${id}`, () => api.unit(id))
  if (state.status === 'loading') return <section class="page page--loading" data-testid="unit-loading">Loading unit…</section>
  if (state.status === 'error') {
    return (
      <section class="page page--error" data-testid="unit-error">
        <p>{state.error}</p>
        <p><a class="link" href={listHref()}>← back to the list</a></p>
      </section>
    )
  }
  return <Report unit={state.data} view={view} query={query} />
}

function Report({ unit, view, query }: { unit: Unit; view: QueryView; query: number | null }) {
  const links = useMemo(() => findingsByQuery(unit.findings), [unit])
  const groups = useMemo(() => groupByFingerprint(unit.queries, unit.fingerprints), [unit])
  const findings = useMemo(() => orderFindings(unit.findings), [unit])
  const dbTotal = useMemo(() => totalDbTime(unit.queries), [unit])
  const [groupSelected, setGroupSelected] = useState<number | null>(null)
  const [flash, setFlash] = useState<number | null>(null)
  const selectedQuery = query !== null && query < unit.queries.length ? query : null
  const queriesSection = useRef<HTMLElement>(null)

  // A query selected from afar (a finding's "query #5", j/k, a link to ?query=5) is shown where the list is: the
  // page scrolls to the queries when they are out of sight, and the list to the row (VirtualList).
  useEffect(() => {
    const section = queriesSection.current
    if (selectedQuery === null || !section) return
    const { top, bottom } = section.getBoundingClientRect()
    if (top > window.innerHeight - 160 || bottom < 160) section.scrollIntoView({ block: 'start' })
  }, [selectedQuery])

  const go = (patch: { view?: QueryView; query?: number | null }) => replaceHash(unitHref(unit.id, { view, query: selectedQuery, ...patch }))
  const selectQuery = (index: number) => go({ view: 'queries', query: index })

  const openFinding = (finding: number) => {
    setFlash(finding)
    document.getElementById(`finding-${finding}`)?.scrollIntoView({ behavior: 'smooth', block: 'center' })
  }
  useEffect(() => {
    if (flash === null) return
    const timer = setTimeout(() => setFlash(null), 1600)
    return () => clearTimeout(timer)
  }, [flash])

  useKeys((event) => {
    if (event.key === 'g') {
      go({ view: view === 'groups' ? 'queries' : 'groups' })
      return true
    }
    if (event.key === 'Escape' || event.key === 'u') {
      location.hash = listHref()
      return true
    }
    return false
  })

  const title = unit.kind === 'request' ? unitLabel(unit) : unit.name
  return (
    <section class="page page--report" data-testid="unit-report" data-unit-id={unit.id}>
      <header class="report-head">
        <a class="report-head__back link" href={listHref()} title="back to the list (Esc)">← Units</a>
        <span class={`kind kind--${unit.kind}`}>{unit.kind}</span>
        {unit.method ? <span class="mono report-head__method">{unit.method}</span> : null}
        <h2 class="report-head__title" data-testid="unit-title">{title}</h2>
        {unit.status !== null ? <span class={`mono report-head__status ${statusClass(unit.status)}`}>{unit.status}</span> : null}
        <span class="report-head__spacer" />
        {unit.route ? <a class="link mono" href={listHref({ route: unit.route })} title="every unit of this route">route {unit.route}</a> : null}
        {unit.view ? <span class="muted mono" title="view">{unit.view}</span> : null}
        <span class="muted">{unit.app}{unit.framework ? ` · ${unit.framework}` : ''}</span>
      </header>
      {typeof unit.meta.error === 'string' ? (
        // What the app raised: a request's 500, a capture() block that ended in an exception.
        <p class="report-error" data-testid="unit-raised">raised <span class="mono">{unit.meta.error}</span></p>
      ) : null}
      <SummaryStrip unit={unit} />

      {findings.length ? (
        <section class="findings" aria-label="Findings" data-testid="findings">
          <h2 class="section-title">Findings <span class="muted">{findings.length}</span></h2>
          {findings.map(({ finding, index }) => (
            <FindingCard finding={finding} index={index} queries={unit.queries} onSelectQuery={selectQuery} highlighted={flash === index} />
          ))}
        </section>
      ) : (
        typeof unit.meta.error === 'string' ? (
          // Not a green all-clear beside what the unit raised: its queries stopped there.
          <p class="muted" data-testid="no-findings">No N+1, duplicate, repeated write or slow query in the queries it ran before it raised.</p>
        ) : (
          <p class="all-clear" data-testid="no-findings">✓ No N+1, duplicate, repeated write or slow query in this unit.</p>
        )
      )}

      <section class="queries" aria-label="Queries" ref={queriesSection}>
        <div class="queries__bar">
          <h2 class="section-title">
            {view === 'groups' ? `${plural(groups.length, 'fingerprint')}` : plural(unit.queries.length, 'query', 'queries')}
            <span class="muted"> · {formatDuration(dbTotal)} in the database</span>
          </h2>
          <span class="segmented" role="group" aria-label="Query view">
            <button type="button" aria-pressed={view === 'queries'} data-testid="view-queries" onClick={() => go({ view: 'queries' })}>All queries</button>
            <button type="button" aria-pressed={view === 'groups'} data-testid="toggle-group" onClick={() => go({ view: 'groups' })} title="group by fingerprint (g)">
              Group by fingerprint <span class="muted">{formatCount(groups.length)}</span>
            </button>
          </span>
        </div>
        <div class="split">
          {view === 'groups' ? (
            <GroupTable groups={groups} totalMs={dbTotal} selected={groupSelected} onSelect={setGroupSelected} />
          ) : (
            <QueryTable queries={unit.queries} unitDurationMs={unit.duration_ms} links={links} selected={selectedQuery} onSelect={selectQuery} onOpenFinding={openFinding} />
          )}
          {view === 'groups' && groupSelected !== null && groups[groupSelected] ? (
            <GroupDetail group={groups[groupSelected]} queries={unit.queries} onSelectQuery={selectQuery} />
          ) : view === 'queries' && selectedQuery !== null ? (
            <QueryDetail index={selectedQuery} query={unit.queries[selectedQuery]} links={links.get(selectedQuery)} onOpenFinding={openFinding} />
          ) : (
            <aside class="detail detail--hint">
              <p>Select a {view === 'groups' ? 'fingerprint' : 'query'} (click, or <kbd>j</kbd>/<kbd>k</kbd>) to see its SQL formatted{view === 'groups' ? ' and every query of it' : ', its parameters and its stack'}.</p>
              <p><kbd>g</kbd> switches between all queries and groups; <kbd>Esc</kbd> goes back to the list.</p>
            </aside>
          )}
        </div>
      </section>
    </section>
  )
}
