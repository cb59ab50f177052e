import { expect, it, vi } from 'vitest'
import { createStore } from './store.js'

it('merges updates and tells subscribers about the new state', () => {
  const store = createStore({ count: 0, label: 'a' })
  const seen: number[] = []
  store.subscribe((state) => seen.push(state.count))
  store.set({ count: 1 })
  store.set((state) => ({ count: state.count + 1 }))
  expect(store.get()).toEqual({ count: 2, label: 'a' })
  expect(seen).toEqual([1, 2])
})

it('does not notify when an update changes nothing', () => {
  const store = createStore({ count: 0 })
  const listener = vi.fn()
  store.subscribe(listener)
  store.set({ count: 0 })
  expect(listener).not.toHaveBeenCalled()
})

it('stops notifying after unsubscribe', () => {
  const store = createStore({ count: 0 })
  const listener = vi.fn()
  const unsubscribe = store.subscribe(listener)
  unsubscribe()
  store.set({ count: 1 })
  expect(listener).not.toHaveBeenCalled()
})
