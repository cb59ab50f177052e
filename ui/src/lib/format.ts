/** Human-readable numbers for durations, sizes, counts and times. Pure; no DOM. @module */

/** `0.08` → `80 µs`, `3.456` → `3.46 ms`, `35.2` → `35.2 ms`, `1534` → `1.53 s`, `125000` → `2 min 5 s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–'
  if (ms === 0) return '0 ms'
  if (ms < 1) return `${Math.max(1, Math.round(ms * 1000))} µs`
  if (ms < 10) return `${trim(ms.toFixed(2))} ms`
  if (ms < 100) return `${trim(ms.toFixed(1))} ms`
  if (ms < 1000) return `${Math.round(ms)} ms`
  if (ms < 10_000) return `${trim((ms / 1000).toFixed(2))} s`
  if (ms < 60_000) return `${trim((ms / 1000).toFixed(1))} s`
  const minutes = Math.floor(ms / 60_000)
  const seconds = Math.round((ms % 60_000) / 1000)
  return seconds === 0 ? `${minutes} min` : `${minutes} min ${seconds} s`
}

/** A start offset inside a unit, always in milliseconds so a column of them lines up: `+12.40 ms`. */
export function formatOffset(ms: number): string {
  if (!Number.isFinite(ms)) return '–'
  return `+${ms.toFixed(ms < 1000 ? 2 : 0)} ms`
}

/** `512` → `512 B`, `2048` → `2 KB`, `1572864` → `1.5 MB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '–'
  if (bytes < 1024) return `${bytes} B`
  const units = ['KB', 'MB', 'GB']
  let value = bytes / 1024
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit += 1
  }
  return `${trim(value.toFixed(value < 10 ? 1 : 0))} ${units[unit]}`
}

/** `12345` → `12,345`. */
export function formatCount(n: number): string {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–'
}

/** `1 query`, `2 queries`. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`
}

/** Wall-clock time of day with milliseconds, in the browser's time zone: `14:03:07.123`. */
export function formatClock(epochMs: number): string {
  const d = new Date(epochMs)
  const pad = (n: number, w = 2) => String(n).padStart(w, '0')
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
}

/** How long ago, coarse: `just now`, `42 s ago`, `5 min ago`, `3 h ago`, `2 d ago`. */
export function formatAgo(epochMs: number, now: number): string {
  const seconds = Math.max(0, Math.round((now - epochMs) / 1000))
  if (seconds < 5) return 'just now'
  if (seconds < 60) return `${seconds} s ago`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes} min ago`
  const hours = Math.floor(minutes / 60)
  if (hours < 48) return `${hours} h ago`
  return `${Math.floor(hours / 24)} d ago`
}

/** A parameter value as a Python developer reads it in a log: strings quoted, the rest as JSON. */
export function formatParam(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`
  if (value === null || value === undefined) return 'None'
  if (value === true) return 'True'
  if (value === false) return 'False'
  if (Array.isArray(value)) return `[${value.map(formatParam).join(', ')}]`
  if (typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `'${k}': ${formatParam(v)}`).join(', ')}}`
  }
  return String(value)
}

/** A query's whole parameter list on one line: `(3, 'x')`, `{'id': 3}`, or `—` when capture was off. */
export function formatParams(params: unknown): string {
  if (params === null || params === undefined) return '—'
  if (Array.isArray(params)) return `(${params.map(formatParam).join(', ')}${params.length === 1 ? ',' : ''})`
  return formatParam(params)
}

/** `file.py:42`, with the function when known: `file.py:42 in book_list`. */
export function formatFrame(frame: { file: string; line: number; function?: string } | null | undefined): string {
  if (!frame) return 'unknown call site'
  return frame.function ? `${frame.file}:${frame.line} in ${frame.function}` : `${frame.file}:${frame.line}`
}

function trim(fixed: string): string {
  return fixed.includes('.') ? fixed.replace(/\.?0+$/, '') : fixed
}
