import { expect, it } from 'vitest'
import { reconnectDelay } from './backoff.js'

const middle = () => 0.5

it('doubles the reconnect delay on every failed attempt', () => {
  expect([0, 1, 2, 3].map((n) => reconnectDelay(n, { random: middle }))).toEqual([250, 500, 1000, 2000])
})

it('never waits longer than the cap', () => {
  expect(reconnectDelay(30, { random: middle })).toBe(10_000)
  expect(reconnectDelay(30, { random: () => 1 })).toBe(10_000)
})

it('spreads retries by the jitter', () => {
  expect(reconnectDelay(2, { random: () => 0 })).toBe(800)
  expect(reconnectDelay(2, { random: () => 1 })).toBe(1200)
})
