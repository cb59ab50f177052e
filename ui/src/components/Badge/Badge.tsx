/** Small coloured labels: finding badges (by severity), kinds, HTTP statuses. */
import type { ComponentChildren } from 'preact'
import type { Severity } from '../../../../server/src/protocol.js'

export interface BadgeProps {
  tone: Severity | 'neutral' | 'ok' | 'accent'
  children: ComponentChildren
  title?: string
  href?: string
  testid?: string
  onClick?: (event: MouseEvent) => void
}

export function Badge({ tone, children, title, href, testid, onClick }: BadgeProps) {
  const cls = `badge badge--${tone}`
  if (href || onClick) {
    return (
      <a class={`${cls} badge--link`} href={href ?? '#'} title={title} data-testid={testid}
        onClick={onClick ? (event) => { event.preventDefault(); event.stopPropagation(); onClick(event) } : (event) => event.stopPropagation()}>
        {children}
      </a>
    )
  }
  return <span class={cls} title={title} data-testid={testid}>{children}</span>
}
