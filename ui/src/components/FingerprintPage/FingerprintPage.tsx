/** A fingerprint (`#/fingerprints/<id>`): its normalized SQL and everywhere it has been seen. */
import { useServices } from '../../context.js'
import { useFetch } from '../../hooks/use-fetch.js'
import { useNow } from '../../hooks/use-now.js'
import { formatAgo, formatCount } from '../../lib/format.js'
import { listHref } from '../../lib/hash-route.js'
import { Callsite } from '../Callsite/Callsite.js'
import { Sql } from '../Sql/Sql.js'

export function FingerprintPage({ id }: { id: string }) {
  const { api } = useServices()
  const [state] = useFetch(`fingerprint:${id}`, () => api.fingerprint(id))
  const now = useNow()
  if (state.status === 'loading') return <section class="page">Loading fingerprint…</section>
  if (state.status === 'error') return <section class="page page--error" data-testid="fingerprint-error"><p>{state.error}</p></section>
  const info = state.data
  const cut = info.places > info.seen.length // (the server lists the most recent places only)
  return (
    <section class="page page--fingerprint" data-testid="fingerprint-page">
      <header class="report-head">
        <a class="report-head__back link" href={listHref()}>← Units</a>
        <h2 class="report-head__title">Fingerprint <span class="mono">{info.id}</span></h2>
        <span class="report-head__spacer" />
        <span class="muted" data-testid="fingerprint-total">
          {formatCount(info.queries)} queries seen{cut ? `, in ${formatCount(info.places)} places: the ${formatCount(info.seen.length)} most recent below` : ''}
        </span>
      </header>
      <Sql sql={info.sql} vendor="ansi" format class="fingerprint-sql" testid="fingerprint-sql" />
      <h2 class="section-title">Where it runs</h2>
      <table class="table" data-testid="fingerprint-seen">
        <thead>
          <tr><th>Unit</th><th>Call site</th><th class="num">Units</th><th class="num">Queries</th><th class="num">Last seen</th></tr>
        </thead>
        <tbody>
          {info.seen.map((seen) => (
            <tr>
              <td>
                <a class="link" href={seen.route ? listHref({ route: seen.route }) : listHref({ q: seen.unit_name })}>{seen.unit_name}</a>
                {seen.route ? <span class="muted mono"> {seen.route}</span> : null}
              </td>
              <td><Callsite site={seen.callsite} /></td>
              <td class="num mono">{formatCount(seen.units)}</td>
              <td class="num mono">{formatCount(seen.queries)}</td>
              <td class="num muted">{formatAgo(seen.last_seen, now)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  )
}
