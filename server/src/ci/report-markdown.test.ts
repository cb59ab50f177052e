import { describe, expect, it } from 'vitest'
import { cleanResult, eventfulResult } from '../../../test/ci/results.js'
import { AUTHOR_BY_ID } from '../../../test/ci/units.js'
import { code, escapeText, markdownReport } from './report-markdown.js'

describe('the Markdown report', () => {
  it('heads with the verdict and tabulates the units', () => {
    const md = markdownReport(eventfulResult())
    expect(md.split('\n')[0]).toBe('### ❌ querysight FAILED: 3 violations in 2 of 3 units, 1 warning')
    expect(md).toContain('| | unit | queries | limit | N+1 | duplicates |\n|---|---|---:|---:|---:|---:|\n| ❌ | `GET books/` | 5 | 3 | 1 | 0 |')
    expect(markdownReport(cleanResult()).split('\n')[0]).toBe('### ✅ querysight passed: 1 unit, 1 query')
  })

  it('shows each violation with its SQL and fix in fenced blocks, and a baseline diff as a diff block', () => {
    const md = markdownReport(eventfulResult())
    expect(md).toContain(`  \`\`\`sql\n  ${AUTHOR_BY_ID}\n  \`\`\`\n  **Fix:** Add .select\\_related("author")`)
    expect(md).toContain('  ```python\n  Book.objects.select_related("author")\n  ```')
    expect(md).toMatch(/more queries than the baseline\*\*: 4 queries, 2 more than the baseline's 2\n {2}```diff\n {2}\+ 1× select/)
  })

  it('escapes what Markdown or HTML would read as markup', () => {
    expect(escapeText('a <b> | *c* [d]')).toBe('a \\<b\\> \\| \\*c\\* \\[d\\]')
    expect(code('a`b')).toBe('``a`b``')
    expect(code('`x')).toBe('`` `x ``')
    const md = markdownReport(eventfulResult())
    expect(md).toContain('reason: reviews are paged \\<10\\> & cached')
    const outsideCode = md.replace(/ {2}```[a-z]*\n[\s\S]*?\n {2}```/g, '').replace(/(`+).*?\1/g, '')
    expect(outsideCode).not.toMatch(/[^\\]</)
  })
})
