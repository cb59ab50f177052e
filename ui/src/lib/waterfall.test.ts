import { describe, expect, it } from 'vitest'
import { barOf, niceStep, ticksOf, timelineSpan } from './waterfall.js'

describe('timelineSpan', () => {
  it('is the unit duration when every query ends within it', () => {
    expect(timelineSpan(40, [{ start_ms: 1, duration_ms: 2 }])).toBe(40)
  })
  it('stretches to the end of a query that outlasts the unit', () => {
    expect(timelineSpan(10, [{ start_ms: 9, duration_ms: 3 }])).toBe(12)
  })
  it('is never zero, so bars can be divided by it', () => {
    expect(timelineSpan(0, [])).toBe(1)
  })
})

describe('barOf', () => {
  it('places a bar at its start offset with its share of the span', () => {
    expect(barOf({ start_ms: 25, duration_ms: 50 }, 100)).toEqual({ left: 25, width: 50 })
  })
  it('keeps instant queries visible with a minimum width', () => {
    expect(barOf({ start_ms: 10, duration_ms: 0 }, 100, 0.5)).toEqual({ left: 10, width: 0.5 })
  })
  it('never lets a bar run past the end of the track', () => {
    const bar = barOf({ start_ms: 100, duration_ms: 0 }, 100, 1)
    expect(bar.left + bar.width).toBeLessThanOrEqual(100)
    expect(bar.width).toBe(1)
  })
})

describe('ticks', () => {
  it('picks round steps', () => {
    expect([0.7, 3, 7, 12, 450].map(niceStep)).toEqual([1, 5, 10, 20, 500])
  })
  it('spreads ticks from zero across the span', () => {
    expect(ticksOf(100).map((t) => t.ms)).toEqual([0, 50, 100])
    expect(ticksOf(35.2).map((t) => t.ms)).toEqual([0, 10, 20, 30])
    expect(ticksOf(100)[1].at).toBe(50)
  })
})
