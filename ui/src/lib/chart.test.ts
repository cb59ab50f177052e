import { describe, expect, it } from 'vitest'
import { roundUp, scaleChart } from './chart.js'

const box = { width: 106, height: 26, pad: 3 }

describe('scaleChart', () => {
  it('places samples by time left to right and by count bottom to top', () => {
    const chart = scaleChart([
      { id: 'a', started_at: 1000, queries: 0 },
      { id: 'c', started_at: 3000, queries: 10 },
      { id: 'b', started_at: 2000, queries: 5 },
    ], box)
    expect(chart.max).toBe(10)
    expect(chart.points.map((p) => [p.id, p.x, p.y])).toEqual([['a', 3, 23], ['b', 53, 13], ['c', 103, 3]])
    expect(chart.line).toBe('M3 23 L53 13 L103 3')
    expect(chart.area).toBe('M3 23 L53 13 L103 3 L103 23 L3 23 Z')
  })
  it('spreads samples taken at the same instant evenly', () => {
    const chart = scaleChart([{ id: 'a', started_at: 5, queries: 1 }, { id: 'b', started_at: 5, queries: 1 }], box)
    expect(chart.points.map((p) => p.x)).toEqual([3, 103])
  })
  it('puts a lone sample at the right edge', () => {
    expect(scaleChart([{ id: 'a', started_at: 5, queries: 3 }], box).points[0].x).toBe(103)
  })
  it('draws nothing without samples', () => {
    expect(scaleChart([], box)).toEqual({ points: [], line: '', area: '', max: 1 })
  })
})

it('rounds the chart top up to a readable number', () => {
  expect([0, 3, 7, 12, 23, 51, 180, 1000].map(roundUp)).toEqual([1, 3, 10, 20, 50, 100, 200, 1000])
})
