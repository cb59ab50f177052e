"""``manage.py seed`` makes the same shop every time, and never doubles it."""

import hashlib
from io import StringIO

from django.apps import apps
from django.core.management import call_command
from shop.models import Author, Book, Customer, Order, Publisher, Review, Tag


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed", *args, stdout=out)
    return out.getvalue()


def digest_of_the_shop() -> str:
    """A hash of every row of every table of the shop, in primary-key order."""
    digest = hashlib.sha256()
    for model in apps.get_app_config("shop").get_models(include_auto_created=True):
        for row in model.objects.order_by("pk").values_list():
            digest.update(repr(row).encode())
    return digest.hexdigest()


def test_seed_creates_hundreds_of_rows_to_make_loops_hurt():
    seed("--reset")
    assert Author.objects.count() == 60
    assert Publisher.objects.count() == 20
    assert Tag.objects.count() == 30
    assert Book.objects.count() == 300
    assert Review.objects.count() == 1500
    assert Customer.objects.count() == 100
    assert Order.objects.count() >= 100
    assert Book.objects.get(pk=1).reviews.count() >= 10


def test_seed_with_reset_makes_the_same_shop_every_time():
    seed("--reset")
    first = digest_of_the_shop()
    seed("--reset")
    assert digest_of_the_shop() == first


def test_seed_leaves_an_existing_shop_as_it_is_and_says_so():
    seed("--reset")
    before = digest_of_the_shop()
    out = seed()
    assert "nothing to do" in out
    assert digest_of_the_shop() == before
