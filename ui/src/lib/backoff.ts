/** Reconnect delays for the live socket: exponential with jitter, capped. Pure. @module */

export interface BackoffOptions {
  baseMs?: number
  maxMs?: number
  /** Fraction of the delay randomised (0.2 → ±20 %), so many tabs do not reconnect in lockstep. */
  jitter?: number
  random?: () => number
}

/** Delay before reconnect attempt `attempt` (0 for the first retry). */
export function reconnectDelay(attempt: number, { baseMs = 250, maxMs = 10_000, jitter = 0.2, random = Math.random }: BackoffOptions = {}): number {
  const exponential = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt))
  const spread = exponential * jitter * (random() * 2 - 1)
  return Math.round(Math.min(maxMs, Math.max(baseMs / 2, exponential + spread)))
}
