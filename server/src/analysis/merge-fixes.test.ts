import { describe, expect, it } from 'vitest'
import type { Finding } from '../protocol.js'
import { mergeFixes } from './merge-fixes.js'

const loop = (code: string, queries: number[]): Finding => ({
  kind: 'n_plus_one',
  severity: 'warning',
  fingerprint: `fp${queries[0]}`,
  sql: 'select ...',
  count: queries.length,
  wasted_ms: 1,
  query_indexes: queries,
  callsite: null,
  template: null,
  trigger_index: 0,
  suggestion: { text: 'Add it.', code },
})

describe('merging the fixes of N+1s over the same rows', () => {
  it('pools SQLAlchemy loader options, dropping one another extends', () => {
    const merged = mergeFixes([
      loop('select(Author).options(selectinload(Author.books))', [1, 2]),
      loop('select(Author).options(selectinload(Author.books).selectinload(Book.tags), undefer(Author.bio))', [3, 4]),
    ])
    const pooled = 'select(Author).options(selectinload(Author.books).selectinload(Book.tags), undefer(Author.bio))'
    expect(merged.map((f) => f.suggestion.code)).toEqual([pooled, pooled])
  })

  it('prefetches a nested path inside the Prefetch that keeps every row, not in one with a to_attr of its own', () => {
    const cut = 'Author.objects.prefetch_related(Prefetch("books", queryset=Book.objects.order_by("-published")[:1], to_attr="books_by_published_desc"))'
    const merged = mergeFixes([
      loop(cut, [1, 2]),
      loop('Author.objects.prefetch_related(Prefetch("books", queryset=Book.objects.annotate(n=Count("reviews"))))', [3, 4]),
      loop('Author.objects.prefetch_related("books__tags")', [5, 6]),
    ])
    const expected =
      'Author.objects.prefetch_related(Prefetch("books", queryset=Book.objects.order_by("-published")[:1], to_attr="books_by_published_desc")).prefetch_related(Prefetch("books", queryset=Book.objects.annotate(n=Count("reviews")).prefetch_related("tags")))'
    expect(merged.map((f) => f.suggestion.code)).toEqual([expected, expected, expected])
  })

  it("pools the options of a session.get() too", () => {
    const merged = mergeFixes([
      loop('session.get(User, id, options=[selectinload(User.posts).selectinload(Post.comments)])', [1, 2]),
      loop('session.get(User, id, options=[selectinload(User.posts).selectinload(Post.likes)])', [3, 4]),
    ])
    const pooled = 'session.get(User, id, options=[selectinload(User.posts).selectinload(Post.comments), selectinload(User.posts).selectinload(Post.likes)])'
    expect(merged.map((f) => f.suggestion.code)).toEqual([pooled, pooled])
    expect(merged[0].suggestion.text).toContain(`One session.get() loads what this N+1 and the other one over the same rows need: ${pooled}`)
  })

  it('keeps apart fixes loading one relationship with two strategies: which one to keep is the code', () => {
    const fixes = ['select(Book).options(joinedload(Book.author))', 'select(Book).options(selectinload(Book.author).selectinload(Author.profile))']
    const merged = mergeFixes([loop(fixes[0], [1, 2]), loop(fixes[1], [3, 4])])
    expect(merged.map((f) => f.suggestion.code)).toEqual(fixes)
  })
})
