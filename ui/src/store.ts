/** A tiny observable store and the hook that reads it (no signals library: a value, a setter, subscribers). @module */
import { useEffect, useRef, useState } from 'preact/hooks'

export interface Store<T extends object> {
  get(): T
  /** Merges a partial state (or the result of a function of the current state) and notifies subscribers. */
  set(update: Partial<T> | ((state: T) => Partial<T>)): void
  subscribe(listener: (state: T) => void): () => void
}

export function createStore<T extends object>(initial: T): Store<T> {
  let state = initial
  const listeners = new Set<(state: T) => void>()
  return {
    get: () => state,
    set(update) {
      const patch = typeof update === 'function' ? update(state) : update
      let changed = false
      for (const key of Object.keys(patch) as (keyof T)[]) {
        if (!Object.is(state[key], patch[key])) changed = true
      }
      if (!changed) return
      state = { ...state, ...patch }
      for (const listener of [...listeners]) listener(state)
    },
    subscribe(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}

/** The selected slice of a store; the component re-renders only when the slice changes (Object.is). */
export function useStore<T extends object, S>(store: Store<T>, select: (state: T) => S): S {
  const [, force] = useState(0)
  const selectRef = useRef(select)
  selectRef.current = select
  const value = select(store.get())
  const valueRef = useRef(value)
  valueRef.current = value
  useEffect(() => {
    const check = (state: T) => {
      if (!Object.is(selectRef.current(state), valueRef.current)) force((n) => n + 1)
    }
    const unsubscribe = store.subscribe(check)
    check(store.get())
    return unsubscribe
  }, [store])
  return value
}
