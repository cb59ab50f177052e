/** A scrolling list of fixed-height rows that only draws the rows in view, so 10,000 rows open instantly. */
import type { ComponentChildren } from 'preact'
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks'
import { useKeys } from '../../hooks/use-keys.js'
import { moveSelection, scrollToReveal, visibleRange } from '../../lib/virtual-window.js'

export interface VirtualListProps {
  count: number
  rowHeight: number
  renderRow: (index: number, selected: boolean) => ComponentChildren
  /** A stable key per row (defaults to the index). */
  rowKey?: (index: number) => string | number
  selected?: number | null
  onSelect?: (index: number) => void
  onActivate?: (index: number) => void
  /** j/k/Enter page-wide, and ↑/↓/Page Up/Page Down/Home/End while the list has the focus (it can take it), move and
   * open the selection. */
  keyboard?: boolean
  /** Height of the scroll viewport in pixels; by default it fills its flex parent. (Not a max-height: the list is
   * size-contained, so it has no height of its own to be capped, and would collapse.) */
  height?: number
  class?: string
  testid?: string
  label: string
  empty?: ComponentChildren
}

const SCROLL_KEYS = new Set(['ArrowDown', 'ArrowUp', 'PageDown', 'PageUp', 'Home', 'End'])

export function VirtualList({
  count, rowHeight, renderRow, rowKey = (i) => i, selected = null, onSelect, onActivate, keyboard = false, height,
  class: className = '', testid, label, empty,
}: VirtualListProps) {
  const viewport = useRef<HTMLDivElement>(null)
  const [scrollTop, setScrollTop] = useState(0)
  const [viewportHeight, setViewportHeight] = useState(height ?? 600)

  useLayoutEffect(() => {
    const element = viewport.current
    if (!element) return
    setViewportHeight(element.clientHeight || height || 600)
    if (typeof ResizeObserver === 'undefined') return
    const observer = new ResizeObserver(() => setViewportHeight(element.clientHeight || height || 600))
    observer.observe(element)
    return () => observer.disconnect()
  }, [height])

  // Keep the selected row in view when it changes (keyboard, deep link, click on a badge elsewhere).
  useEffect(() => {
    const element = viewport.current
    if (!element || selected === null || selected >= count) return
    const target = scrollToReveal(selected, { scrollTop: element.scrollTop, viewportHeight: element.clientHeight || viewportHeight, rowHeight })
    if (target !== null) {
      element.scrollTop = target
      setScrollTop(target)
    }
  }, [selected, count, rowHeight])

  useKeys((event) => {
    if (!onSelect || count === 0) return false
    // The arrows, Page Up/Down and Home/End move the selection while the list has the focus; elsewhere they scroll the
    // page (a report's findings above its query table). j, k and Enter work page-wide.
    const inList = event.target instanceof Node && viewport.current?.contains(event.target) === true
    if (!inList && SCROLL_KEYS.has(event.key)) return false
    switch (event.key) {
      case 'j':
      case 'ArrowDown':
        onSelect(moveSelection(selected, 1, count)!)
        return true
      case 'k':
      case 'ArrowUp':
        onSelect(moveSelection(selected, -1, count)!)
        return true
      case 'PageDown':
        onSelect(moveSelection(selected, Math.max(1, Math.floor(viewportHeight / rowHeight) - 1), count)!)
        return true
      case 'PageUp':
        onSelect(moveSelection(selected, -Math.max(1, Math.floor(viewportHeight / rowHeight) - 1), count)!)
        return true
      case 'Home':
        onSelect(0)
        return true
      case 'End':
        onSelect(count - 1)
        return true
      case 'Enter':
      case 'o':
        if (selected === null || !onActivate) return false
        onActivate(selected)
        return true
      default:
        return false
    }
  }, keyboard)

  const range = visibleRange({ scrollTop, viewportHeight, rowHeight, count })
  const rows = []
  for (let index = range.start; index < range.end; index++) {
    const isSelected = index === selected
    rows.push(
      <div
        key={rowKey(index)}
        class={`vrow${isSelected ? ' vrow--selected' : ''}`}
        style={{ height: `${rowHeight}px` }}
        role="row"
        aria-rowindex={index + 1}
        aria-selected={isSelected}
        data-index={index}
        onClick={onSelect ? () => onSelect(index) : undefined}
        onDblClick={onActivate ? () => onActivate(index) : undefined}
      >
        {renderRow(index, isSelected)}
      </div>,
    )
  }

  return (
    <div
      ref={viewport}
      class={`vlist ${className}`}
      style={height ? { height: `${height}px` } : undefined}
      role="grid"
      tabIndex={keyboard ? 0 : undefined}
      aria-label={label}
      aria-rowcount={count}
      data-testid={testid}
      data-count={count}
      onScroll={(event) => setScrollTop((event.currentTarget as HTMLDivElement).scrollTop)}
    >
      {count === 0 && empty ? <div class="vlist__empty">{empty}</div> : null}
      <div class="vlist__spacer" style={{ height: `${range.height}px` }}>
        <div class="vlist__window" style={{ transform: `translateY(${range.top}px)` }}>
          {rows}
        </div>
      </div>
    </div>
  )
}
