/**
 * Globs for budget keys and allow entries: `*` matches any run of characters except `/`, `**` any run including `/`,
 * `?` one character except `/`; everything else matches itself. After a `::` (the test part of a pytest node id,
 * whose parameters may hold a `/`: `test_page[/books/]`) `*` and `?` match `/` too. A pattern matches a whole name,
 * never a part of it.
 * @module
 */

const cache = new Map<string, RegExp>()

export function hasWildcard(pattern: string): boolean {
  return pattern.includes('*') || pattern.includes('?')
}

export function globToRegExp(pattern: string): RegExp {
  const cached = cache.get(pattern)
  if (cached) return cached
  let source = ''
  const testPart = pattern.indexOf('::')
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]
    const anyChar = testPart >= 0 && i > testPart ? '.' : '[^/]'
    if (char === '*' && pattern[i + 1] === '*') {
      source += '.*'
      i++
    } else if (char === '*') {
      source += `${anyChar}*`
    } else if (char === '?') {
      source += anyChar
    } else {
      source += char.replace(/[.+^${}()|[\]\\]/g, '\\$&')
    }
  }
  const regexp = new RegExp(`^${source}$`, 's')
  cache.set(pattern, regexp)
  return regexp
}

export function globMatch(pattern: string, name: string): boolean {
  return hasWildcard(pattern) ? globToRegExp(pattern).test(name) : pattern === name
}

/**
 * How specific a pattern is, to pick the winner when several budget keys match one unit: an exact name beats every
 * glob; among globs, the one with more literal characters wins.
 */
export function specificity(pattern: string): number {
  return hasWildcard(pattern) ? pattern.replace(/[*?]/g, '').length : Number.MAX_SAFE_INTEGER
}
