/** Window math for virtual lists of fixed-height rows: which rows to draw, and how to keep one in view. @module */

export interface WindowInput {
  scrollTop: number
  viewportHeight: number
  rowHeight: number
  count: number
  /** Extra rows drawn above and below the viewport so fast scrolling does not show blanks. */
  overscan?: number
}

export interface WindowRange {
  /** First row to draw. */
  start: number
  /** One past the last row to draw. */
  end: number
  /** Offset in pixels of the first drawn row. */
  top: number
  /** Height in pixels of the whole list. */
  height: number
}

export function visibleRange({ scrollTop, viewportHeight, rowHeight, count, overscan = 6 }: WindowInput): WindowRange {
  const height = count * rowHeight
  if (count === 0 || rowHeight <= 0) return { start: 0, end: 0, top: 0, height: Math.max(0, height) }
  const firstVisible = Math.floor(Math.max(0, scrollTop) / rowHeight)
  const visibleCount = Math.ceil(Math.max(viewportHeight, rowHeight) / rowHeight) + 1
  const start = Math.max(0, Math.min(count - 1, firstVisible - overscan))
  const end = Math.min(count, firstVisible + visibleCount + overscan)
  return { start, end, top: start * rowHeight, height }
}

/** The scrollTop that brings row `index` fully into view with the least movement, or null when it is already visible. */
export function scrollToReveal(index: number, { scrollTop, viewportHeight, rowHeight }: Pick<WindowInput, 'scrollTop' | 'viewportHeight' | 'rowHeight'>): number | null {
  const rowTop = index * rowHeight
  const rowBottom = rowTop + rowHeight
  if (rowTop < scrollTop) return rowTop
  if (rowBottom > scrollTop + viewportHeight) return Math.max(0, rowBottom - viewportHeight)
  return null
}

/** Moves a selection by `delta` rows, clamped to the list; from no selection, down selects the first row. */
export function moveSelection(current: number | null, delta: number, count: number): number | null {
  if (count === 0) return null
  if (current === null) return delta >= 0 ? 0 : count - 1
  return Math.max(0, Math.min(count - 1, current + delta))
}
