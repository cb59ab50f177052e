/** The current time, refreshed every `intervalMs`, for "5 s ago" labels. @module */
import { useEffect, useState } from 'preact/hooks'

export function useNow(intervalMs = 5000): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), intervalMs)
    return () => clearInterval(timer)
  }, [intervalMs])
  return now
}
