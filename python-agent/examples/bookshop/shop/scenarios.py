"""The demo's scenarios: each page with a classic query mistake, what querysight should find there, and the fix.

Plain data, without Django, so that ``demo_traffic.py`` can read it too. Every page serves its fixed twin under
``?fixed=1``.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    path: str
    finding: str
    fix: str
    method: str = "GET"
    via: str = ""


SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        key="book_list",
        title="Book list",
        path="/books/",
        finding="N+1 on foreign keys: one author query and one publisher query per book on the page",
        fix='Book.objects.select_related("author", "publisher")',
    ),
    Scenario(
        key="book_detail",
        title="Book detail",
        path="/books/1/",
        finding=(
            "N+1s in the template: each reviewer (FK) and their profile (reverse one-to-one), "
            "and the reviews of each other book by the author (reverse FK)"
        ),
        fix='prefetch_related(Prefetch("reviews", queryset=Review.objects.select_related("customer__profile")))',
    ),
    Scenario(
        key="api_books",
        title="Books API (JSON)",
        path="/api/books/",
        finding="N+1 on a many-to-many: one tags query per book in the JSON",
        fix='Book.objects.prefetch_related("tags")',
    ),
    Scenario(
        key="authors",
        title="Authors with book counts",
        path="/authors/",
        finding="N+1 of COUNT queries: author.books.count() once per author",
        fix='Author.objects.annotate(book_count=Count("books", distinct=True))',
    ),
    Scenario(
        key="account",
        title="Your orders",
        path="/account/",
        finding="Nested N+1: the items of each order (reverse FK), then the book of each item (FK)",
        fix='prefetch_related(Prefetch("items", queryset=OrderItem.objects.select_related("book")))',
    ),
    Scenario(
        key="cart",
        title="Cart (context processors)",
        path="/cart/",
        finding="Duplicate: two context processors load the same shop settings row on every page",
        fix="load the settings once per request and keep them on the request",
    ),
    Scenario(
        key="restock",
        title="Restock a publisher (fetch button)",
        path="/api/publishers/1/restock/",
        method="POST",
        via="/publishers/1/",
        finding="Repeated write: one UPDATE per book, from book.save() in a loop",
        fix='publisher.books.update(stock=F("stock") + quantity)',
    ),
)


def scenario(key: str) -> Scenario:
    """The scenario named ``key``."""
    return next(s for s in SCENARIOS if s.key == key)
