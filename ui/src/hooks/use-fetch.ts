/** Loads data for a page and re-loads when its key changes; stale answers are dropped. @module */
import { useEffect, useState } from 'preact/hooks'

export type FetchState<T> = { status: 'loading' } | { status: 'error'; error: string } | { status: 'ok'; data: T }

export function useFetch<T>(key: string, load: () => Promise<T>): [FetchState<T>, () => void] {
  const [state, setState] = useState<FetchState<T>>({ status: 'loading' })
  const [generation, setGeneration] = useState(0)
  useEffect(() => {
    let current = true
    setState((previous) => (previous.status === 'ok' && generation > 0 ? previous : { status: 'loading' }))
    load().then(
      (data) => current && setState({ status: 'ok', data }),
      (error: unknown) => current && setState({ status: 'error', error: error instanceof Error ? error.message : String(error) }),
    )
    return () => {
      current = false
    }
  }, [key, generation])
  return [state, () => setGeneration((n) => n + 1)]
}
