"""ModelAdmins with the N+1s real changelists have (settings_admin only). ``ADMIN_FIXES`` (JSON: ModelAdmin name ->
code snippets) pastes querysight's fixes into their class bodies as they are given, as a developer would."""

import json
import os
import textwrap

from django.contrib import admin
from django.db.models import Count, Prefetch  # noqa: F401 - names the pasted fixes use

from .models import Author, Book, Review


class BookColumns(admin.ModelAdmin):
    list_display = ("title", "author_name", "review_count", "tag_names")

    def author_name(self, obj):
        return obj.author.name

    def review_count(self, obj):
        # As the fix's text says: read the annotation when get_queryset() makes one.
        return obj.reviews_count if hasattr(obj, "reviews_count") else obj.reviews.count()

    def tag_names(self, obj):
        return ", ".join(tag.name for tag in obj.tags.all())


class ReviewColumns(admin.ModelAdmin):
    list_display = ("id", "stars", "book_title", "book_author")
    list_select_related = ("book",)

    def book_title(self, obj):
        return obj.book.title

    def book_author(self, obj):
        return obj.book.author.name


class BookRows(admin.TabularInline):
    model = Book
    fields = ("title", "tag_names")
    readonly_fields = ("tag_names",)
    extra = 0

    def tag_names(self, obj):
        return ", ".join(tag.name for tag in obj.tags.all())


class AuthorPage(admin.ModelAdmin):
    inlines = ()  # set below, with the inline's fixes


def with_fixes(base: type[admin.ModelAdmin]) -> type[admin.ModelAdmin]:
    """A subclass of ``base`` whose body is the fixes, as written into a class statement."""
    fixes = json.loads(os.environ.get("ADMIN_FIXES", "{}")).get(base.__name__, [])
    lines = [f"class Fixed({base.__name__}):", *(textwrap.indent(code, "    ") for code in fixes), "    pass"]
    namespace: dict[str, object] = {}
    exec("\n".join(lines), globals(), namespace)  # the test's own fixes, pasted
    return namespace["Fixed"]  # type: ignore[return-value]


admin.site.register(Book, with_fixes(BookColumns))
admin.site.register(Review, with_fixes(ReviewColumns))
AuthorPage.inlines = (with_fixes(BookRows),)
admin.site.register(Author, AuthorPage)
