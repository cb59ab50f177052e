/** The overlay's view: the badge with its controls, and the panel with this page's unit and its fetch/XHR calls. */
import { templateText, type Finding } from '../../../server/src/protocol.js'
import { orderFindings } from '../lib/queries.js'
import {
  badgeText, callLabel, callsText, callTarget, rowText, FINDING_TITLES, frameLabel, reportUrl, statusTone, stoppedShort, toneOf, worstSeverity, type OlderCalls,
  type OverlayUnit, type Prefs, type Tone,
} from './overlay-model.js'

export interface UnitSlot {
  id: string
  unit: OverlayUnit | null
  /** The server never produced it within the retries. */
  missing: boolean
}

export interface OverlayState {
  base: string
  page: UnitSlot
  /** The page's later calls, oldest first: the most recent ones (see `older`). */
  calls: UnitSlot[]
  older: OlderCalls
  prefs: Prefs
  open: boolean
}

export interface OverlayActions {
  toggleOpen: () => void
  toggleCollapsed: () => void
  move: () => void
}

const slotTone = (slot: UnitSlot): Tone => toneOf(slot.unit?.summary.severity, slot.unit !== null, stoppedShort(slot.unit))

const countsOf = (slot: UnitSlot) => {
  if (slot.unit) return rowText(slot.unit.summary, slot.unit.findings)
  return slot.missing ? 'not found on the querysight server' : 'loading…'
}

const countAttrs = (slot: UnitSlot) =>
  slot.unit
    ? {
        'data-queries': slot.unit.summary.queries,
        'data-n-plus-one': slot.unit.summary.n_plus_one,
        'data-duplicates': slot.unit.summary.duplicates,
        'data-severity': slot.unit.summary.severity ?? 'none',
      }
    : { 'data-state': slot.missing ? 'missing' : 'loading' }

const shorten = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text)

function FindingItem({ finding }: { finding: Finding }) {
  const site = frameLabel(finding.callsite)
  return (
    <article class={`qs-finding qs-tone-${finding.severity}`} data-testid="qs-finding" data-kind={finding.kind}>
      <header>
        <span class="qs-pill">{FINDING_TITLES[finding.kind] ?? finding.kind}</span>
        <span>×{finding.count}</span>
        {finding.wasted_ms >= 0.5 && <span class="qs-muted">{Math.round(finding.wasted_ms)} ms wasted</span>}
      </header>
      <code class="qs-sql">{shorten(finding.sql, 160)}</code>
      <p class="qs-fix">{finding.suggestion.text}</p>
      {finding.suggestion.code && <pre class="qs-code">{finding.suggestion.code}</pre>}
      {site && <div class="qs-site">{site}</div>}
      {finding.template && (
        <div class="qs-site">template {templateText(finding.template)}</div>
      )}
    </article>
  )
}

function Status({ status }: { status: number | null | undefined }) {
  if (status === null || status === undefined) return null
  return <span class={`qs-status qs-status--${statusTone(status)}`} data-testid="qs-status">{status}</span>
}

function PageUnit({ slot, base }: { slot: UnitSlot; base: string }) {
  const unit = slot.unit
  return (
    <section class="qs-section" data-testid="qs-page-unit">
      <a class="qs-row" href={reportUrl(base, slot.id)} target="_blank" rel="noopener noreferrer" data-testid="qs-page-row" {...countAttrs(slot)}>
        <span class={`qs-dot qs-tone-${slotTone(slot)}`} />
        <span class="qs-label">{unit ? callTarget(unit) : 'This page'}</span>
        {unit ? <Status status={unit.status} /> : null}
        <span class="qs-counts">{countsOf(slot)}</span>
        <span class="qs-open">↗</span>
      </a>
      {unit && unit.findings.length === 0 && (
        <p class="qs-muted qs-pad" data-testid="qs-no-findings">
          {stoppedShort(unit) ? 'No N+1, duplicate or other waste in the queries it ran before it stopped.' : 'No N+1, duplicate or other waste found.'}
        </p>
      )}
      {unit && orderFindings(unit.findings).map(({ finding, index }) => <FindingItem key={index} finding={finding} />)}
    </section>
  )
}

/** The findings of a call, one line each: what, how many, where. */
function CallFindings({ unit }: { unit: OverlayUnit }) {
  return (
    <>
      {orderFindings(unit.findings).slice(0, 3).map(({ finding, index }) => (
        <div key={index} class="qs-sub" data-testid="qs-call-finding">
          <span>{FINDING_TITLES[finding.kind] ?? finding.kind} ×{finding.count}</span>
          {finding.callsite && <span class="qs-site">{frameLabel(finding.callsite)}</span>}
        </div>
      ))}
      {unit.findings.length > 3 && <div class="qs-sub qs-muted">and {unit.findings.length - 3} more in the full report</div>}
    </>
  )
}

function CallRow({ slot, base }: { slot: UnitSlot; base: string }) {
  return (
    <>
      <a class="qs-row" href={reportUrl(base, slot.id)} target="_blank" rel="noopener noreferrer" data-testid="qs-call" data-unit={slot.id} {...countAttrs(slot)}>
        <span class={`qs-dot qs-tone-${slotTone(slot)}`} />
        <span class="qs-label" title={slot.unit ? callLabel(slot.unit) : slot.id}>{slot.unit ? callTarget(slot.unit) : slot.id}</span>
        {slot.unit ? <Status status={slot.unit.status} /> : null}
        <span class="qs-counts">{countsOf(slot)}</span>
        <span class="qs-open">↗</span>
      </a>
      {slot.unit && <CallFindings unit={slot.unit} />}
    </>
  )
}

export function OverlayView({ state, actions }: { state: OverlayState; actions: OverlayActions }) {
  const { page, calls, older, prefs, open, base } = state
  const loaded = calls.filter((call) => call.unit)
  const stopped = stoppedShort(page.unit) || loaded.some((call) => stoppedShort(call.unit)) || older.stopped
  const severities = [page.unit?.summary.severity, older.severity, ...loaded.map((call) => call.unit?.summary.severity)]
  const tone = toneOf(worstSeverity(severities), page.unit !== null, stopped)
  const callCount = calls.length + older.count
  const text = page.unit ? badgeText(page.unit.summary) : page.missing ? 'querysight: unit not found' : 'querysight…'
  const title = 'querysight: this page’s database queries (click for details)'

  if (prefs.collapsed) {
    return (
      <div class={`qs qs--${prefs.corner}`} data-testid="qs-overlay" data-corner={prefs.corner} data-collapsed="true">
        <button type="button" class={`qs-badge qs-badge--small qs-tone-${tone}`} data-testid="qs-badge" data-tone={tone} title={`${text} (click to expand)`}
          onClick={actions.toggleCollapsed} {...countAttrs(page)}>
          {page.unit ? page.unit.summary.queries : 'qs'}
        </button>
      </div>
    )
  }
  return (
    <div class={`qs qs--${prefs.corner}`} data-testid="qs-overlay" data-corner={prefs.corner} data-collapsed="false">
      {open && (
        <div class="qs-panel" data-testid="qs-panel" role="dialog" aria-label="querysight">
          <div class="qs-head">
            <strong>querysight</strong>
            <span class="qs-muted">this page</span>
          </div>
          <PageUnit slot={page} base={base} />
          <div class="qs-head">
            <strong>fetch / XHR</strong>
            <span class="qs-muted">{callCount === 0 ? 'none yet' : `${callCount} ${callCount === 1 ? 'call' : 'calls'}`}</span>
          </div>
          <section class="qs-section" data-testid="qs-calls">
            {calls.length === 0 && <p class="qs-muted qs-pad">Calls this page makes with fetch() or XMLHttpRequest appear here.</p>}
            {older.count > 0 && (
              <p class="qs-muted qs-pad" data-testid="qs-older-calls">
                {older.count} older {older.count === 1 ? 'call' : 'calls'} not listed (the {calls.length} most recent are)
                {older.flagged > 0 ? `, ${older.flagged} with findings` : ''}
              </p>
            )}
            {calls.map((slot) => <CallRow key={slot.id} slot={slot} base={base} />)}
          </section>
        </div>
      )}
      <div class="qs-bar">
        <button type="button" class={`qs-badge qs-tone-${tone}`} data-testid="qs-badge" data-tone={tone} title={title} aria-expanded={open}
          onClick={actions.toggleOpen} {...countAttrs(page)}>
          <span data-testid="qs-badge-text">{text}</span>
          {callCount > 0 && <span class="qs-extra" data-testid="qs-badge-calls">{callsText(calls, older)}</span>}
        </button>
        <button type="button" class="qs-tool" data-testid="qs-move" title="Move to the next corner" aria-label="Move to the next corner" onClick={actions.move}>⤢</button>
        <button type="button" class="qs-tool" data-testid="qs-collapse" title="Collapse" aria-label="Collapse" onClick={actions.toggleCollapsed}>–</button>
      </div>
    </div>
  )
}
