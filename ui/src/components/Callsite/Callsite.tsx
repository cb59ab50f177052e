/** Where a query came from: `file.py:42 in view`, and the template position when it ran while rendering one. */
import type { Frame, TemplatePosition } from '../../../../server/src/protocol.js'

export interface CallsiteProps {
  site: Frame | null
  template?: TemplatePosition | null
  compact?: boolean
}

export function Callsite({ site, template, compact = false }: CallsiteProps) {
  return (
    <span class={`callsite${compact ? ' callsite--compact' : ''}`} data-testid="callsite">
      {site ? (
        <span class="callsite__frame" title={`${site.file}:${site.line} in ${site.function}`}>
          <span class="callsite__file">{site.file}</span>
          <span class="callsite__line">:{site.line}</span>
          {!compact && site.function ? <span class="callsite__fn"> in {site.function}</span> : null}
        </span>
      ) : (
        <span class="callsite__unknown">unknown call site</span>
      )}
      {template ? (
        <span class="callsite__template" title="template being rendered">
          {' '}⟨{template.name}:{template.line}⟩
          {template.included_from?.map((position) => (
            <span class="callsite__included" title="the tag that included the template above">
              {' '}included at {position.name}:{position.line}
            </span>
          ))}
        </span>
      ) : null}
    </span>
  )
}
