/** The shell: header with navigation and live status, and the page the hash route names. */
import { useEffect } from 'preact/hooks'
import { Services, type AppServices } from '../../context.js'
import { useKeys } from '../../hooks/use-keys.js'
import { useRoute } from '../../hooks/use-route.js'
import { listHref } from '../../lib/hash-route.js'
import { useStore } from '../../store.js'
import { FingerprintPage } from '../FingerprintPage/FingerprintPage.js'
import { RoutesPage } from '../RoutesPage/RoutesPage.js'
import { UnitList } from '../UnitList/UnitList.js'
import { UnitReport } from '../UnitReport/UnitReport.js'

export function App({ services }: { services: AppServices }) {
  const route = useRoute()
  useEffect(() => {
    services.live.start()
    return () => services.live.stop()
  }, [services])

  useKeys((event) => {
    if (event.key === '/') {
      const search = document.querySelector<HTMLInputElement>('[data-testid="filter-text"]')
      if (!search) return false
      search.focus()
      return true
    }
    if (event.key === 'p' && route.page === 'list') {
      const { paused } = services.live.store.get()
      if (paused) services.live.resume()
      else services.live.pause()
      return true
    }
    return false
  })

  return (
    <Services.Provider value={services}>
      <div class="shell">
        <header class="topbar">
          <a class="brand" href={listHref()}>
            <span class="brand__mark" aria-hidden="true">◆</span> querysight
          </a>
          <nav class="nav">
            <a href={listHref()} class={route.page === 'list' || route.page === 'unit' ? 'nav__item nav__item--active' : 'nav__item'} data-testid="nav-units">Units</a>
            <a href="#/routes" class={route.page === 'routes' ? 'nav__item nav__item--active' : 'nav__item'} data-testid="nav-routes">Routes</a>
          </nav>
          <span class="topbar__spacer" />
          <LiveStatus services={services} />
        </header>
        <main class="main">
          {route.page === 'list' ? <UnitList filter={route.filter} /> : null}
          {route.page === 'unit' ? <UnitReport key={route.id} id={route.id} view={route.view} query={route.query} /> : null}
          {route.page === 'routes' ? <RoutesPage /> : null}
          {route.page === 'fingerprint' ? <FingerprintPage key={route.id} id={route.id} /> : null}
          {route.page === 'not-found' ? (
            <section class="page page--error"><p>Nothing at <code>{route.path}</code>. <a class="link" href={listHref()}>Go to the live list</a>.</p></section>
          ) : null}
        </main>
      </div>
    </Services.Provider>
  )
}

function LiveStatus({ services }: { services: AppServices }) {
  const status = useStore(services.live.store, (s) => s.status)
  const paused = useStore(services.live.store, (s) => s.paused)
  const error = useStore(services.live.store, (s) => s.error)
  const shown = paused ? 'paused' : status
  const label = { live: 'live', connecting: 'connecting…', reconnecting: 'reconnecting…', paused: 'paused' }[shown]
  return (
    <span class={`live live--${shown}`} data-testid="live-status" data-status={shown} title={error ?? undefined}>
      <span class="live__dot" aria-hidden="true" />
      {label}
      {error ? <span class="live__error"> · {error}</span> : null}
    </span>
  )
}
