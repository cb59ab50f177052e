"""``manage.py seed``: fill the shop with enough rows to make query loops hurt.

Deterministic (one seeded random generator, explicit primary keys, fixed dates) and idempotent: it does nothing when
the shop already has books, unless ``--reset`` empties it first.
"""

import random
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction

from shop.models import Author, Book, Customer, Order, OrderItem, Profile, Publisher, Review, ShopSettings, Tag

SEED = 20251122
COUNTS = {"authors": 60, "publishers": 20, "tags": 30, "books": 300, "customers": 100, "reviews": 1500}
EPOCH = datetime(2026, 1, 1, tzinfo=dt_timezone.utc)


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FIRST = words("Ada Alan Grace Edsger Barbara Donald Frances Ken Radia Niklaus Margaret Dennis Sophie Tim Karen Guido")
LAST = words(
    "Lovelace Turing Hopper Dijkstra Liskov Knuth Allen Thompson Perlman Wirth Hamilton Ritchie Wilson Berners-Lee \
Jones Rossum Okafor Nakamura Silva Novak"
)
CITIES = words("Lisbon Leeds Lyon Ghent Bologna Porto Utrecht Bergen Kraków Tartu Cork Graz")
ADJECTIVES = words("Silent Crimson Hidden Last Winter Paper Northern Quiet Burning Glass Salt Hollow Distant Iron")
NOUNS = words("Garden Harbour Library Orchard Lighthouse Archive Cartographer Compass Tide Meridian Lantern Atlas")
PATTERNS = ("The {adj} {noun}", "{noun} of {city}", "A {adj} {noun}", "The {noun}'s Daughter", "After the {noun}")
TAGS = words("""fiction poetry history science travel cooking crime fantasy biography essays philosophy art music nature
children classics drama humour memoir politics economics mathematics computing design architecture film
photography sport languages religion""")
PRAISE = (
    "Could not put it down.",
    "Beautifully written, if a little slow in the middle.",
    "The ending surprised me.",
    "A gift for my sister; she loved it.",
    "Solid, but the earlier books were better.",
    "Dense and rewarding.",
    "I have read it twice already.",
    "Not for me, but well made.",
)


class Command(BaseCommand):
    help = "Fill the bookshop with deterministic demo data (skips when data exists; --reset starts over)."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="delete every row of the shop first, then seed")

    def handle(self, *args, reset: bool = False, **options):
        if reset:
            delete_everything()
        elif Book.objects.exists():
            self.stdout.write(
                f"The shop already has {Book.objects.count()} books; nothing to do (--reset to start over)."
            )
            return
        with transaction.atomic():
            counts = seed(random.Random(SEED))
        self.stdout.write(self.style.SUCCESS("Seeded " + ", ".join(f"{n} {name}" for name, n in counts.items())))


def delete_everything() -> None:
    with transaction.atomic():
        for model in (OrderItem, Order, Review, Profile, Customer, Book.tags.through, Book, Tag, Publisher, Author):
            model.objects.all().delete()
        ShopSettings.objects.all().delete()


def seed(rng: random.Random) -> dict[str, int]:
    ShopSettings.objects.create(pk=1, name="Marginalia Books", currency="EUR", banner="Free shipping over 40 EUR")
    authors = Author.objects.bulk_create(
        Author(pk=i, name=f"{rng.choice(FIRST)} {rng.choice(LAST)}", born=rng.randint(1900, 1995), bio="")
        for i in range(1, COUNTS["authors"] + 1)
    )
    publishers = Publisher.objects.bulk_create(
        Publisher(pk=i, name=f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} Press", city=rng.choice(CITIES))
        for i in range(1, COUNTS["publishers"] + 1)
    )
    tags = Tag.objects.bulk_create(Tag(pk=i, name=name) for i, name in enumerate(TAGS[: COUNTS["tags"]], start=1))
    books = Book.objects.bulk_create(make_book(rng, i, authors, publishers) for i in range(1, COUNTS["books"] + 1))
    book_tags = [(book, tag) for book in books for tag in rng.sample(tags, rng.randint(1, 4))]
    Book.tags.through.objects.bulk_create(
        Book.tags.through(pk=i, book_id=book.pk, tag_id=tag.pk) for i, (book, tag) in enumerate(book_tags, start=1)
    )
    customers = Customer.objects.bulk_create(
        Customer(
            pk=i,
            name=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            email=f"reader{i}@example.com",
            joined=date(2020, 1, 1) + timedelta(days=rng.randrange(2000)),
        )
        for i in range(1, COUNTS["customers"] + 1)
    )
    Profile.objects.bulk_create(
        Profile(
            pk=c.pk, customer=c, city=rng.choice(CITIES), favourite_tag=rng.choice(tags), newsletter=rng.random() < 0.4
        )
        for c in customers
    )
    # A few bestsellers collect most reviews, as in a real shop; book 1 is one of them.
    weights = [8 if book.pk <= 10 else 1 for book in books]
    Review.objects.bulk_create(
        Review(
            pk=i,
            book=rng.choices(books, weights)[0],
            customer=rng.choice(customers),
            rating=rng.choices((1, 2, 3, 4, 5), (1, 2, 4, 6, 5))[0],
            body=" ".join(rng.sample(PRAISE, 2)),
            created=EPOCH - timedelta(minutes=rng.randrange(500_000)),
        )
        for i in range(1, COUNTS["reviews"] + 1)
    )
    orders, items = make_orders(rng, customers, books)
    Order.objects.bulk_create(orders)
    OrderItem.objects.bulk_create(items)
    return {**COUNTS, "orders": len(orders), "order items": len(items)}


def make_book(rng: random.Random, i: int, authors: list[Author], publishers: list[Publisher]) -> Book:
    title = rng.choice(PATTERNS).format(adj=rng.choice(ADJECTIVES), noun=rng.choice(NOUNS), city=rng.choice(CITIES))
    return Book(
        pk=i,
        title=title if i % 7 else f"{title}, Volume {i % 5 + 2}",
        author=rng.choice(authors),
        publisher=rng.choice(publishers),
        isbn=f"978-0-{i:05d}-{rng.randrange(100):02d}-{i % 10}",
        price=Decimal(rng.randrange(799, 3999)) / 100,
        stock=rng.randrange(0, 40),
        published=date(1990, 1, 1) + timedelta(days=rng.randrange(12_000)),
    )


def make_orders(rng: random.Random, customers: list[Customer], books: list[Book]) -> tuple[list, list]:
    """Past orders for everyone (a dozen for customer 1, who browses the demo) and a cart for customer 1."""
    orders, items = [], []
    for customer in customers:
        past = 12 if customer.pk == 1 else rng.randint(0, 4)
        statuses = [rng.choice((Order.Status.PAID, Order.Status.SHIPPED)) for _ in range(past)]
        if customer.pk == 1:
            statuses.append(Order.Status.CART)
        for status in statuses:
            order = Order(
                pk=len(orders) + 1,
                customer=customer,
                status=status,
                created=EPOCH - timedelta(hours=rng.randrange(20_000)),
            )
            orders.append(order)
            for book in rng.sample(books, rng.randint(1, 4)):
                items.append(
                    OrderItem(pk=len(items) + 1, order=order, book=book, quantity=rng.randint(1, 3), price=book.price)
                )
    return orders, items
