/**
 * What a fix's code needs imported, said at the end of its text: `Count(...)` pasted into a view without
 * `from django.db.models import Count` is a NameError on the next request.
 * @module
 */
import type { Finding } from '../protocol.js'
import type { Orm } from './detect-context.js'

/** module -> the names it gives that fixes use, by ORM. */
const MODULES: Record<Orm, [string, string[]][]> = {
  django: [
    ['django.db.models', ['Avg', 'Count', 'Exists', 'F', 'Max', 'Min', 'OuterRef', 'Prefetch', 'Q', 'Subquery', 'Sum']],
    ['django.contrib.contenttypes.prefetch', ['GenericPrefetch']],
    ['functools', ['reduce']],
    ['operator', ['or_']],
  ],
  sqlalchemy: [
    ['sqlalchemy', ['and_', 'func', 'or_', 'select', 'update', 'insert', 'delete', 'tuple_']],
    ['sqlalchemy.orm', ['contains_eager', 'joinedload', 'selectinload', 'undefer']],
  ],
}

/** `from django.db.models import Count, Prefetch`, one line per module, for the names `code` uses; null for none. */
export function importsOf(code: string, orm: Orm): string | null {
  const names = code.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'/g, '""') // not the values (filter(grade="F"))
  const lines = (MODULES[orm] ?? []).flatMap(([module, given]) => {
    const used = given.filter((name) => new RegExp(`(?<![\\w.])${name}\\b(?!\\s*=)`).test(names))
    return used.length ? [`from ${module} import ${used.join(', ')}`] : []
  })
  return lines.length ? lines.join('; ') : null
}

/** The findings, each fix's text ending with the imports its code needs. */
export function withImports(findings: Finding[], orm: Orm): Finding[] {
  return findings.map((finding) => {
    const imports = finding.suggestion.code === null ? null : importsOf(finding.suggestion.code, orm)
    if (imports === null) return finding
    return { ...finding, suggestion: { ...finding.suggestion, text: `${finding.suggestion.text.replace(/\.$/, '')} (needs ${imports})` } }
  })
}
