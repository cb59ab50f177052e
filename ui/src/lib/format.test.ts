import { describe, expect, it } from 'vitest'
import { formatAgo, formatBytes, formatCount, formatDuration, formatFrame, formatOffset, formatParams, plural } from './format.js'

describe('formatDuration', () => {
  it('shows sub-millisecond times in microseconds', () => {
    expect(formatDuration(0.08)).toBe('80 µs')
    expect(formatDuration(0.0001)).toBe('1 µs')
  })
  it('keeps two significant decimals for short times and drops trailing zeros', () => {
    expect(formatDuration(3.456)).toBe('3.46 ms')
    expect(formatDuration(35.2)).toBe('35.2 ms')
    expect(formatDuration(5)).toBe('5 ms')
    expect(formatDuration(250.4)).toBe('250 ms')
  })
  it('switches to seconds and minutes for long units', () => {
    expect(formatDuration(1534)).toBe('1.53 s')
    expect(formatDuration(42_000)).toBe('42 s')
    expect(formatDuration(125_000)).toBe('2 min 5 s')
    expect(formatDuration(120_000)).toBe('2 min')
  })
  it('shows a dash for values that are not durations', () => {
    expect(formatDuration(Number.NaN)).toBe('–')
    expect(formatDuration(-1)).toBe('–')
  })
})

describe('other formats', () => {
  it('prints offsets with a plus sign and fixed decimals so they line up', () => {
    expect(formatOffset(1.25)).toBe('+1.25 ms')
    expect(formatOffset(0)).toBe('+0.00 ms')
  })
  it('prints byte sizes in binary units', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(2048)).toBe('2 KB')
    expect(formatBytes(1.5 * 1024 * 1024)).toBe('1.5 MB')
  })
  it('groups thousands and pluralises', () => {
    expect(formatCount(12345)).toBe('12,345')
    expect(plural(1, 'query', 'queries')).toBe('1 query')
    expect(plural(10000, 'query', 'queries')).toBe('10,000 queries')
  })
  it('says how long ago something happened', () => {
    const now = 1_000_000_000
    expect(formatAgo(now - 1000, now)).toBe('just now')
    expect(formatAgo(now - 42_000, now)).toBe('42 s ago')
    expect(formatAgo(now - 5 * 60_000, now)).toBe('5 min ago')
    expect(formatAgo(now - 3 * 3_600_000, now)).toBe('3 h ago')
    expect(formatAgo(now - 72 * 3_600_000, now)).toBe('3 d ago')
  })
  it('writes parameters the way Python prints them', () => {
    expect(formatParams([3])).toBe('(3,)')
    expect(formatParams([3, 'x', null, true])).toBe("(3, 'x', None, True)")
    expect(formatParams({ id: 3 })).toBe("{'id': 3}")
    expect(formatParams(null)).toBe('—')
  })
  it('writes a call site as file:line in function', () => {
    expect(formatFrame({ file: 'shop/views.py', line: 42, function: 'book_list' })).toBe('shop/views.py:42 in book_list')
    expect(formatFrame(null)).toBe('unknown call site')
  })
})
