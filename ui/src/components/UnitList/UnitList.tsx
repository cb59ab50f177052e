/** The live list (`#/`): every unit as it arrives, newest first, with filters, pause and clear. */
import type { UnitKind, UnitSummary } from '../../../../server/src/protocol.js'
import { UNIT_KINDS } from '../../../../server/src/protocol.js'
import { useEffect, useMemo, useState } from 'preact/hooks'
import { useServices } from '../../context.js'
import { replaceHash } from '../../hooks/use-route.js'
import { formatClock, formatCount, formatDuration, plural } from '../../lib/format.js'
import { listHref, unitHref } from '../../lib/hash-route.js'
import { filterUnits, routeChoice, routeChoiceOf, routeChoiceValue, routesOf, statusClass, unitLabel, type UnitFilter } from '../../lib/units.js'
import { useStore } from '../../store.js'
import { Badge } from '../Badge/Badge.js'
import { VirtualList } from '../VirtualList/VirtualList.js'

const ROW_HEIGHT = 30
const CLEAR_CONFIRM_MS = 5000

// The unit last opened from the list, selected again when the list comes back (Esc from its report), so the reader
// keeps their place.
let lastOpened: string | null = null

export function UnitList({ filter }: { filter: UnitFilter }) {
  const { live } = useServices()
  const units = useStore(live.store, (s) => s.units)
  const paused = useStore(live.store, (s) => s.paused)
  const held = useStore(live.store, (s) => s.held.length)
  const next = useStore(live.store, (s) => s.next)
  const loading = useStore(live.store, (s) => s.loading)
  const [text, setText] = useState(filter.q)
  const [selectedId, setSelectedId] = useState<string | null>(lastOpened)
  // Clear deletes every stored unit, for good: a first click asks, a second one within a few seconds deletes.
  const [confirmingClear, setConfirmingClear] = useState(false)
  useEffect(() => {
    if (!confirmingClear) return
    const timer = setTimeout(() => setConfirmingClear(false), CLEAR_CONFIRM_MS)
    return () => clearTimeout(timer)
  }, [confirmingClear])

  // The text box updates the URL after a short pause in typing; the URL is the filter's source of truth.
  useEffect(() => setText(filter.q), [filter.q])
  useEffect(() => {
    if (text === filter.q) return
    const timer = setTimeout(() => setFilter({ q: text }), 150)
    return () => clearTimeout(timer)
  }, [text])

  const filterKey = `${filter.q}\0${filter.kind}\0${filter.route}\0${filter.method}\0${filter.findings}`
  useEffect(() => {
    void live.load(filter)
  }, [filterKey])

  const shown = useMemo(() => filterUnits(units, filter), [units, filterKey])
  const routes = useMemo(() => {
    const list = routesOf(units)
    const chosen = list.some((choice) => choice.route === filter.route && choice.method === filter.method)
    if ((!filter.route && !filter.method) || chosen) return list
    return [routeChoice(filter.route, filter.method), ...list]
  }, [units, filter.route, filter.method])
  const selected = selectedId === null ? null : shown.findIndex((u) => u.id === selectedId)

  function setFilter(patch: Partial<UnitFilter>) {
    replaceHash(listHref({ ...filter, q: text, ...patch }))
  }

  return (
    <section class="page page--list" data-testid="unit-list-page">
      <div class="toolbar" role="toolbar" aria-label="Filter units">
        <input
          class="toolbar__search"
          type="search"
          placeholder="Filter by path, name, route, status  ( / )"
          aria-label="Filter text"
          data-testid="filter-text"
          value={text}
          onInput={(event) => setText((event.currentTarget as HTMLInputElement).value)}
        />
        <select aria-label="Kind" data-testid="filter-kind" value={filter.kind} onChange={(event) => setFilter({ kind: (event.currentTarget as HTMLSelectElement).value as UnitKind | '' })}>
          <option value="">All kinds</option>
          {UNIT_KINDS.map((kind) => <option value={kind}>{kind}</option>)}
        </select>
        <select aria-label="Route" data-testid="filter-route" value={routeChoiceValue(filter)} onChange={(event) => setFilter(routeChoiceOf((event.currentTarget as HTMLSelectElement).value))}>
          <option value="">All routes</option>
          {routes.map((choice) => <option value={routeChoiceValue(choice)}>{choice.label}</option>)}
        </select>
        <label class="toolbar__check">
          <input type="checkbox" data-testid="filter-findings" checked={filter.findings} onChange={(event) => setFilter({ findings: (event.currentTarget as HTMLInputElement).checked })} />
          with findings only
        </label>
        <span class="toolbar__spacer" />
        <span class="toolbar__count" data-testid="unit-count">
          {/* With older units not loaded yet ("Load older units"), the count is of the loaded ones: N+ */}
          {shown.length === units.length
            ? `${formatCount(units.length)}${next ? '+' : ''} ${units.length === 1 && !next ? 'unit' : 'units'}`
            : `${formatCount(shown.length)} of ${formatCount(units.length)}${next ? '+' : ''} units`}
        </span>
        <button type="button" class={`button${paused ? ' button--active' : ''}`} data-testid="pause" aria-pressed={paused} onClick={() => (paused ? live.resume() : live.pause())} title="Pause the live list (p)">
          {paused ? `▶ Resume${held ? ` (${formatCount(held)} new)` : ''}` : '❚❚ Pause'}
        </button>
        <button
          type="button"
          class={`button button--danger${confirmingClear ? ' button--active' : ''}`}
          data-testid="clear"
          data-confirming={confirmingClear}
          onClick={() => {
            if (!confirmingClear) return setConfirmingClear(true)
            setConfirmingClear(false)
            void live.clear()
          }}
          onBlur={() => setConfirmingClear(false)}
          title="Delete every recorded unit from the server (asks first)"
        >
          {confirmingClear ? 'Delete every stored unit? Click again' : 'Clear'}
        </button>
      </div>
      <div class="grid-head unit-cols" role="presentation">
        <span>Time</span><span>Kind</span><span>Method</span><span>Path / name</span><span class="num">Status</span>
        <span class="num">Duration</span><span class="num">Queries</span><span class="num">DB time</span><span>Findings</span>
      </div>
      <VirtualList
        label="Units"
        testid="unit-list"
        class="unit-list"
        count={shown.length}
        rowHeight={ROW_HEIGHT}
        rowKey={(i) => shown[i].id}
        selected={selected === -1 ? null : selected}
        onSelect={(i) => setSelectedId(shown[i].id)}
        onActivate={(i) => {
          lastOpened = shown[i].id
          location.hash = unitHref(shown[i].id)
        }}
        keyboard
        renderRow={(i) => <UnitRow unit={shown[i]} />}
        empty={<EmptyList filtered={units.length > 0 || filtering(filter)} loading={loading} />}
      />
      {next ? (
        <div class="list-foot">
          <button type="button" class="button" data-testid="load-older" disabled={loading} onClick={() => void live.loadOlder(filter)}>Load older units</button>
        </div>
      ) : null}
    </section>
  )
}

function UnitRow({ unit }: { unit: UnitSummary }) {
  const s = unit.summary
  return (
    <a
      class="unit-cols unit-row"
      href={unitHref(unit.id)}
      tabIndex={-1} // the list takes the focus and Enter opens its selected row, not a row link focused apart from it
      onClick={() => (lastOpened = unit.id)}
      data-testid="unit-row"
      data-unit-id={unit.id}
      data-severity={s.severity ?? 'none'}
    >
      <span class="muted mono">{formatClock(unit.started_at)}</span>
      <span><span class={`kind kind--${unit.kind}`}>{unit.kind}</span></span>
      <span class="mono">{unit.method ?? ''}</span>
      <span class="unit-row__label" title={unit.route ? `${unit.name}\nroute: ${unit.route}` : unit.name}>{unitLabel(unit)}</span>
      <span class={`num mono ${statusClass(unit.status)}`}>{unit.status ?? ''}</span>
      <span class="num mono">{formatDuration(unit.duration_ms)}</span>
      <span class={`num mono${s.queries >= 50 ? ' warn-text' : ''}`} data-testid="unit-queries">{formatCount(s.queries)}</span>
      <span class="num mono">{formatDuration(s.db_ms)}</span>
      <span class="badges">
        {s.n_plus_one > 0 ? <Badge tone={s.severity === 'error' ? 'error' : 'warning'} testid="badge-n-plus-one" title="N+1 query patterns">{s.n_plus_one} N+1</Badge> : null}
        {s.duplicates > 0 ? <Badge tone="warning" testid="badge-duplicates" title="duplicated queries">{s.duplicates} dup</Badge> : null}
        {s.kinds ? (
          <>
            {s.kinds.includes('repeated_write') ? <Badge tone="warning" testid="badge-writes" title="the same INSERT, UPDATE or DELETE repeated">writes</Badge> : null}
            {s.kinds.includes('slow_query') ? <Badge tone="warning" testid="badge-slow" title="slow queries">slow</Badge> : null}
          </>
        ) : s.findings > 0 && s.n_plus_one === 0 && s.duplicates === 0 ? (
          // (A unit stored by an older server does not say the kinds of its findings.)
          <Badge tone={s.severity ?? 'neutral'} testid="badge-findings" title="repeated writes or slow queries">{plural(s.findings, 'finding')}</Badge>
        ) : null}
      </span>
    </a>
  )
}

/** Whether the list is narrowed: an empty one then says nothing matched, not that nothing was recorded yet. */
const filtering = (filter: UnitFilter): boolean => filter.q !== '' || filter.kind !== '' || filter.route !== '' || filter.method !== '' || filter.findings

function EmptyList({ filtered, loading }: { filtered: boolean; loading: boolean }) {
  if (loading) return <p>Loading…</p>
  if (filtered) return <p>No unit matches this filter.</p>
  return (
    <div class="empty">
      <p class="empty__title">Waiting for units…</p>
      <p>Add <code>"querysight.django.QuerySightMiddleware"</code> first in <code>MIDDLEWARE</code> and load a page; every request appears here as it happens.</p>
      <p>Agents find this server through <code>QUERYSIGHT_URL={location.origin}</code>.</p>
    </div>
  )
}
