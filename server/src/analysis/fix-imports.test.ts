import { describe, expect, it } from 'vitest'
import { importsOf } from './fix-imports.js'

describe('the imports a fix needs', () => {
  it('names each module once with the names the Django code uses', () => {
    expect(importsOf('Book.objects.annotate(reviews_count=Count("reviews", distinct=True))', 'django')).toBe('from django.db.models import Count')
    expect(importsOf('Tag.objects.filter(reduce(or_, [Q(name__iexact=v) for v in values]))', 'django')).toBe(
      'from django.db.models import Q; from functools import reduce; from operator import or_',
    )
    expect(importsOf('Comment.objects.prefetch_related(GenericPrefetch("target", [Book.objects.prefetch_related(Prefetch("reviews", queryset=Review.objects.all()))]))', 'django')).toBe(
      'from django.db.models import Prefetch; from django.contrib.contenttypes.prefetch import GenericPrefetch',
    )
  })

  it('names those of SQLAlchemy code', () => {
    expect(importsOf('select(Author).options(selectinload(Author.books), joinedload(Book.author))', 'sqlalchemy')).toBe(
      'from sqlalchemy import select; from sqlalchemy.orm import joinedload, selectinload',
    )
  })

  it('does not take methods, keyword arguments or names inside other names for the names it imports', () => {
    expect(importsOf('Book.objects.select_related("author").prefetch_related("tags")', 'django')).toBeNull()
    expect(importsOf('Book.objects.filter(pk__in=ids).update(stock=0)', 'sqlalchemy')).toBeNull()
    expect(importsOf('list_select_related = ["author"]', 'django')).toBeNull()
    // nor a value: filter(grade="F") is no F().
    expect(importsOf('Student.objects.filter(grade="F", title=\'Q\').annotate(n=Count("books"))', 'django')).toBe('from django.db.models import Count')
  })
})
