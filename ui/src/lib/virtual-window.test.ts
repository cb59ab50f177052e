import { describe, expect, it } from 'vitest'
import { moveSelection, scrollToReveal, visibleRange } from './virtual-window.js'

describe('visibleRange', () => {
  it('draws only the rows in view plus the overscan', () => {
    const range = visibleRange({ scrollTop: 2800, viewportHeight: 600, rowHeight: 28, count: 10_000, overscan: 5 })
    expect(range.start).toBe(95)
    expect(range.end).toBe(100 + 23 + 5)
    expect(range.top).toBe(95 * 28)
    expect(range.height).toBe(280_000)
  })
  it('reaches the last row when scrolled to the bottom', () => {
    const range = visibleRange({ scrollTop: 280_000 - 600, viewportHeight: 600, rowHeight: 28, count: 10_000 })
    expect(range.end).toBe(10_000)
  })
  it('draws every row of a short list', () => {
    expect(visibleRange({ scrollTop: 0, viewportHeight: 600, rowHeight: 28, count: 3 })).toEqual({ start: 0, end: 3, top: 0, height: 84 })
  })
  it('draws nothing for an empty list', () => {
    expect(visibleRange({ scrollTop: 0, viewportHeight: 600, rowHeight: 28, count: 0 })).toEqual({ start: 0, end: 0, top: 0, height: 0 })
  })
  it('survives a scroll position past the end after the list shrank', () => {
    const range = visibleRange({ scrollTop: 10_000, viewportHeight: 300, rowHeight: 20, count: 10 })
    expect(range.start).toBeLessThan(range.end)
    expect(range.end).toBe(10)
  })
})

describe('scrollToReveal', () => {
  const view = { viewportHeight: 100, rowHeight: 20 }
  it('leaves the scroll alone when the row is visible', () => {
    expect(scrollToReveal(2, { ...view, scrollTop: 0 })).toBeNull()
  })
  it('scrolls up to a row above the view and down to a row below it', () => {
    expect(scrollToReveal(1, { ...view, scrollTop: 100 })).toBe(20)
    expect(scrollToReveal(10, { ...view, scrollTop: 0 })).toBe(120)
  })
})

describe('moveSelection', () => {
  it('moves and clamps to the list', () => {
    expect(moveSelection(0, -1, 5)).toBe(0)
    expect(moveSelection(3, 1, 5)).toBe(4)
    expect(moveSelection(4, 1, 5)).toBe(4)
  })
  it('starts at the first row going down and the last going up', () => {
    expect(moveSelection(null, 1, 5)).toBe(0)
    expect(moveSelection(null, -1, 5)).toBe(4)
    expect(moveSelection(null, 1, 0)).toBeNull()
  })
})
