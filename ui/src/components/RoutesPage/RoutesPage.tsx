/** Routes (`#/routes`): per route pattern, units, query-count percentiles, findings, last seen, and a small chart;
 * filtered by words and by kind. */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import { UNIT_KINDS, type FindingKind, type RouteStats, type UnitKind } from '../../../../server/src/protocol.js'
import { useServices } from '../../context.js'
import { useFetch } from '../../hooks/use-fetch.js'
import { useNow } from '../../hooks/use-now.js'
import { formatAgo, formatCount, plural } from '../../lib/format.js'
import { listHref } from '../../lib/hash-route.js'
import { useStore } from '../../store.js'
import { Badge } from '../Badge/Badge.js'
import { Sparkline } from '../Sparkline/Sparkline.js'
import { VirtualList } from '../VirtualList/VirtualList.js'

export function RoutesPage() {
  const { api, live } = useServices()
  // Refresh when new units arrive (at most every two seconds), so the page is live like the list.
  const version = useThrottled(useStore(live.store, (s) => s.units[0]?.id ?? ''), 2000)
  const [state] = useFetch(`routes:${version}`, () => api.routes())
  const [selected, setSelected] = useState<number | null>(null)
  const now = useNow()
  const [text, setText] = useState('')
  const [kind, setKind] = useState<UnitKind | ''>('')
  const all = useMemo(() => (state.status === 'ok' ? [...state.data].sort((a, b) => b.last_seen - a.last_seen) : []), [state])
  const routes = useMemo(() => all.filter((route) => routeMatches(route, text, kind)), [all, text, kind])

  if (state.status === 'loading') return <section class="page">Loading routes…</section>
  if (state.status === 'error') return <section class="page page--error"><p>{state.error}</p></section>
  return (
    <section class="page page--routes" data-testid="routes-page">
      <div class="toolbar" role="toolbar" aria-label="Filter routes">
        <h2 class="section-title">
          Routes <span class="muted" data-testid="route-count">{routes.length === all.length ? routes.length : `${routes.length} of ${all.length}`}</span>
        </h2>
        <input
          class="toolbar__search"
          type="search"
          placeholder="Filter by route, method, kind"
          aria-label="Filter routes"
          data-testid="routes-filter-text"
          value={text}
          onInput={(event) => setText((event.currentTarget as HTMLInputElement).value)}
        />
        <select aria-label="Kind" data-testid="routes-filter-kind" value={kind} onChange={(event) => setKind((event.currentTarget as HTMLSelectElement).value as UnitKind | '')}>
          <option value="">All kinds</option>
          {UNIT_KINDS.map((option) => <option value={option}>{option}</option>)}
        </select>
      </div>
      <div class="grid-head route-cols" role="presentation">
        <span>Route</span><span class="num">Units</span><span class="num">p50</span><span class="num">p95</span><span class="num">max</span>
        <span title="how many of the route's units had each kind of finding">Findings</span><span>Queries per unit</span><span class="num">Last seen</span>
      </div>
      <VirtualList
        label="Routes"
        testid="route-list"
        count={routes.length}
        rowHeight={40}
        rowKey={(i) => keyOf(routes[i])}
        selected={selected}
        onSelect={setSelected}
        onActivate={(i) => (location.hash = hrefOf(routes[i], all))}
        keyboard
        renderRow={(i) => <RouteRow route={routes[i]} now={now} href={hrefOf(routes[i], all)} />}
        empty={
          all.length === 0 ? (
            <p class="empty">No routes yet: routes appear once units with a route pattern are recorded.</p>
          ) : (
            <p class="empty">No route matches this filter.</p>
          )
        }
      />
    </section>
  )
}

function RouteRow({ route, now, href }: { route: RouteStats; now: number; href: string }) {
  return (
    <div class="route-cols route-row" data-testid="route-row" data-route={route.route}>
      <span class="route-row__name">
        {/* A request without a URL pattern is listed by its name, which starts with its method already. */}
        {route.method && !route.route.startsWith(`${route.method} `) ? <span class="mono muted">{route.method} </span> : null}
        <a class="link mono" href={href} data-testid="route-link" title="every unit of this route">{route.route}</a>
        {route.kind !== 'request' ? <span class={`kind kind--${route.kind}`}>{route.kind}</span> : null}
      </span>
      <span class="num mono">{formatCount(route.units)}</span>
      <span class="num mono">{formatCount(route.queries_p50)}</span>
      <span class="num mono">{formatCount(route.queries_p95)}</span>
      <span class="num mono">{formatCount(route.queries_max)}</span>
      <span class="badges">
        {FINDING_BADGES.map(({ kind, tone, label, what }) =>
          route.units_with[kind] > 0 ? (
            <Badge tone={tone} title={`${what} in ${route.units_with[kind]} of ${plural(route.units, 'unit')}`}>
              {formatCount(route.units_with[kind])}/{formatCount(route.units)} {label}
            </Badge>
          ) : null,
        )}
        {isClean(route) ? <Badge tone="ok">clean</Badge> : null}
      </span>
      <Sparkline samples={route.recent} label={`queries per unit of ${route.route}`} />
      <span class="num muted">{formatAgo(route.last_seen, now)}</span>
    </div>
  )
}

function keyOf(route: RouteStats): string {
  return `${route.kind}\0${route.method ?? ''}\0${route.route}`
}

/** The list of the route's units: of its method when another row has the same route with another method (its GET and
 * HEAD units), else of the route, as the list's route filter offers it. */
function hrefOf(route: RouteStats, all: readonly RouteStats[]): string {
  const shared = all.some((other) => other !== route && other.kind === route.kind && other.route === route.route)
  return listHref({ route: route.route, kind: route.kind, method: shared ? (route.method ?? '') : '' })
}

/** Every word of `text` in the route's pattern, method or kind; and its kind, when one is chosen. */
function routeMatches(route: RouteStats, text: string, kind: UnitKind | ''): boolean {
  if (kind && route.kind !== kind) return false
  const haystack = `${route.method ?? ''} ${route.route} ${route.kind}`.toLowerCase()
  return text.trim().toLowerCase().split(/\s+/).every((word) => haystack.includes(word))
}

/** The route's findings, each counted in units, as a share of them ("3/7 N+1"): one measure for every kind. */
const FINDING_BADGES: { kind: FindingKind; tone: 'error' | 'warning'; label: string; what: string }[] = [
  { kind: 'n_plus_one', tone: 'error', label: 'N+1', what: 'an N+1' },
  { kind: 'duplicate', tone: 'warning', label: 'dup', what: 'duplicate queries' },
  { kind: 'repeated_write', tone: 'warning', label: 'writes', what: 'repeated writes' },
  { kind: 'slow_query', tone: 'warning', label: 'slow', what: 'a slow query' },
]

/** `value`, but changing at most once per `ms` (the latest value wins). */
function useThrottled<T>(value: T, ms: number): T {
  const [shown, setShown] = useState(value)
  const last = useRef(0)
  useEffect(() => {
    const wait = last.current + ms - Date.now()
    const timer = setTimeout(() => {
      last.current = Date.now()
      setShown(value)
    }, Math.max(0, wait))
    return () => clearTimeout(timer)
  }, [value])
  return shown
}

/** No unit of the route had a finding of any kind. */
const isClean = (route: RouteStats): boolean => FINDING_BADGES.every(({ kind }) => route.units_with[kind] === 0)
