/** Routes (`#/routes`): per route pattern, units, query-count percentiles, findings, last seen, and a small chart. */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks'
import type { RouteStats } from '../../../../server/src/protocol.js'
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
  const routes = useMemo(() => (state.status === 'ok' ? [...state.data].sort((a, b) => b.last_seen - a.last_seen) : []), [state])

  if (state.status === 'loading') return <section class="page">Loading routes…</section>
  if (state.status === 'error') return <section class="page page--error"><p>{state.error}</p></section>
  return (
    <section class="page page--routes" data-testid="routes-page">
      <div class="toolbar"><h2 class="section-title">Routes <span class="muted">{routes.length}</span></h2></div>
      <div class="grid-head route-cols" role="presentation">
        <span>Route</span><span class="num">Units</span><span class="num">p50</span><span class="num">p95</span><span class="num">max</span>
        <span>Findings</span><span>Queries per unit</span><span class="num">Last seen</span>
      </div>
      <VirtualList
        label="Routes"
        testid="route-list"
        count={routes.length}
        rowHeight={40}
        rowKey={(i) => keyOf(routes[i])}
        selected={selected}
        onSelect={setSelected}
        onActivate={(i) => (location.hash = hrefOf(routes[i]))}
        keyboard
        renderRow={(i) => <RouteRow route={routes[i]} now={now} />}
        empty={<p class="empty">No routes yet: routes appear once units with a route pattern are recorded.</p>}
      />
    </section>
  )
}

function RouteRow({ route, now }: { route: RouteStats; now: number }) {
  return (
    <div class="route-cols route-row" data-testid="route-row" data-route={route.route}>
      <span class="route-row__name">
        {/* A request without a URL pattern is listed by its name, which starts with its method already. */}
        {route.method && !route.route.startsWith(`${route.method} `) ? <span class="mono muted">{route.method} </span> : null}
        <a class="link mono" href={hrefOf(route)} data-testid="route-link" title="every unit of this route">{route.route}</a>
        {route.kind !== 'request' ? <span class={`kind kind--${route.kind}`}>{route.kind}</span> : null}
      </span>
      <span class="num mono">{formatCount(route.units)}</span>
      <span class="num mono">{formatCount(route.queries_p50)}</span>
      <span class="num mono">{formatCount(route.queries_p95)}</span>
      <span class="num mono">{formatCount(route.queries_max)}</span>
      <span class="badges">
        {route.n_plus_one > 0 ? <Badge tone="error" title="N+1 findings in the units of this route">{formatCount(route.n_plus_one)} N+1</Badge> : null}
        {route.duplicates > 0 ? <Badge tone="warning" title="queries that repeat an earlier one exactly, in the units of this route">{formatCount(route.duplicates)} dup</Badge> : null}
        {route.repeated_writes > 0 ? (
          <Badge tone="warning" title="units with repeated writes">
            {plural(route.repeated_writes, 'write')}
          </Badge>
        ) : null}
        {route.slow_queries > 0 ? <Badge tone="warning" title="units with a slow query">{formatCount(route.slow_queries)} slow</Badge> : null}
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

function hrefOf(route: RouteStats): string {
  return listHref({ route: route.route, kind: route.kind })
}

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
const isClean = (route: RouteStats): boolean =>
  route.n_plus_one === 0 && route.duplicates === 0 && route.repeated_writes === 0 && route.slow_queries === 0
