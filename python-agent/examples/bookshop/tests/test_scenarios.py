"""Each broken page really makes its loop of queries; each fixed twin makes a few, however much data it shows."""

import pytest
from django.conf import settings
from shop.models import Author, Book, Order, OrderItem, Publisher
from shop.scenarios import SCENARIOS
from shop.views import PAGE_SIZE
from shop_queries import record

AUTHOR_BY_ID = r'FROM "shop_author" WHERE "shop_author"."id" = '
PUBLISHER_BY_ID = r'FROM "shop_publisher" WHERE "shop_publisher"."id" = '
BOOK_BY_ID = r'FROM "shop_book" WHERE "shop_book"."id" = '
CUSTOMER_BY_ID = r'FROM "shop_customer" WHERE "shop_customer"."id" = '
PROFILE_OF_CUSTOMER = r'FROM "shop_profile" WHERE "shop_profile"."customer_id" = '
REVIEWS_OF_BOOK = r'FROM "shop_review" WHERE "shop_review"."book_id" = '
TAGS_OF_BOOK = r'WHERE "shop_book_tags"."book_id" = '
BOOKS_OF_AUTHOR_COUNT = r'SELECT COUNT\(\*\) AS "__count" FROM "shop_book" WHERE "shop_book"."author_id" = '
REVIEWS_OF_AUTHOR_COUNT = r'SELECT COUNT\(\*\) .*FROM "shop_review" INNER JOIN "shop_book"'
ITEMS_OF_ORDER = r'FROM "shop_orderitem" WHERE "shop_orderitem"."order_id" = '
SHOP_SETTINGS = r'FROM "shop_shopsettings" WHERE "shop_shopsettings"."id" = 1'
BOOK_UPDATE = r'^UPDATE "shop_book"'

HTML_PAGES = [s.via or s.path for s in SCENARIOS if not (s.via or s.path).startswith("/api/")]


def test_home_page_links_every_scenario_in_both_versions(client):
    html = client.get("/").content.decode()
    for scenario in SCENARIOS:
        page = scenario.via or scenario.path
        assert f'href="{page}"' in html
        assert f'href="{page}?fixed=1"' in html
        assert scenario.finding in html


@pytest.mark.parametrize("path", HTML_PAGES)
def test_each_page_says_what_querysight_should_find_and_links_to_its_fixed_twin(client, path):
    broken = client.get(path).content.decode()
    assert "Broken version" in broken
    assert f'href="{path}?fixed=1"' in broken
    fixed = client.get(f"{path}?fixed=1").content.decode()
    assert "Fixed version" in fixed
    assert f'href="{path}"' in fixed


def test_the_toggle_keeps_the_other_query_parameters(client):
    html = client.get("/books/?page=3").content.decode()
    assert 'href="/books/?page=3&amp;fixed=1"' in html


def test_book_list_loads_the_author_and_the_publisher_once_per_book(client):
    page = record(client, "/books/")
    assert page.count(AUTHOR_BY_ID) == PAGE_SIZE
    assert page.count(PUBLISHER_BY_ID) == PAGE_SIZE
    assert len(page.sql) >= 2 * PAGE_SIZE + 1


def test_fixed_book_list_makes_the_same_few_queries_on_every_page(client):
    pages = Book.objects.count() // PAGE_SIZE
    first, last = record(client, "/books/?fixed=1"), record(client, f"/books/?fixed=1&page={pages}")
    assert len(first.sql) == len(last.sql) <= 4
    assert first.count(AUTHOR_BY_ID) == first.count(PUBLISHER_BY_ID) == 0


def test_book_detail_loads_each_reviewer_their_profile_and_the_reviews_of_each_other_book(client):
    book = Book.objects.get(pk=1)
    reviews = book.reviews.count()
    other_books = book.author.books.exclude(pk=book.pk).count()
    assert reviews >= 10
    assert other_books >= 2

    page = record(client, "/books/1/")

    assert page.count(CUSTOMER_BY_ID) == reviews
    assert page.count(PROFILE_OF_CUSTOMER) == reviews
    assert page.count(REVIEWS_OF_BOOK) == 1 + other_books
    assert len(page.sql) >= 2 * reviews + other_books + 1


def test_fixed_book_detail_makes_the_same_few_queries_for_any_book(client):
    busy, other = record(client, "/books/1/?fixed=1"), record(client, "/books/2/?fixed=1")
    assert len(busy.sql) == len(other.sql) <= 7
    assert busy.count(CUSTOMER_BY_ID) == busy.count(PROFILE_OF_CUSTOMER) == busy.count(REVIEWS_OF_BOOK) == 0


def test_books_api_loads_the_tags_of_each_book_with_its_own_query(client):
    page = record(client, "/api/books/")
    assert len(page.response.json()["books"]) == PAGE_SIZE
    assert page.count(TAGS_OF_BOOK) == PAGE_SIZE


def test_fixed_books_api_answers_the_same_books_with_tags_in_three_queries(client):
    broken, fixed = record(client, "/api/books/?page=2"), record(client, "/api/books/?page=2&fixed=1")
    assert fixed.response.json() == broken.response.json()
    assert len(fixed.sql) == 3
    assert fixed.count(TAGS_OF_BOOK) == 0


def test_author_list_counts_books_and_reviews_with_two_queries_per_author(client):
    authors = Author.objects.count()
    page = record(client, "/authors/")
    assert page.count(BOOKS_OF_AUTHOR_COUNT) == authors
    assert page.count(REVIEWS_OF_AUTHOR_COUNT) == authors


def test_fixed_author_list_shows_the_same_counts_from_one_annotated_query(client):
    broken, fixed = record(client, "/authors/"), record(client, "/authors/?fixed=1")
    assert rows_of(fixed) == rows_of(broken)
    assert len(fixed.sql) == 3
    assert fixed.count(BOOKS_OF_AUTHOR_COUNT) == fixed.count(REVIEWS_OF_AUTHOR_COUNT) == 0


def test_account_loads_the_items_of_each_order_and_the_book_of_each_item(client):
    past_orders = Order.objects.filter(customer_id=settings.BOOKSHOP_CUSTOMER_ID).exclude(status=Order.Status.CART)
    items = OrderItem.objects.filter(order__in=past_orders).count()
    assert past_orders.count() >= 10

    page = record(client, "/account/")

    assert page.count(ITEMS_OF_ORDER) == past_orders.count()
    assert page.count(BOOK_BY_ID) == items


def test_fixed_account_loads_orders_items_and_books_in_a_constant_number_of_queries(client):
    page = record(client, "/account/?fixed=1")
    assert len(page.sql) <= 5
    assert page.count(ITEMS_OF_ORDER) == page.count(BOOK_BY_ID) == 0


@pytest.mark.parametrize("path", ["/", "/cart/", "/books/1/"])
def test_the_context_processors_load_the_same_shop_settings_twice_per_page(client, path):
    page = record(client, path)
    settings_queries = [sql for sql in page.sql if SHOP_SETTINGS in sql]
    assert len(settings_queries) == 2
    assert settings_queries[0] == settings_queries[1]


@pytest.mark.parametrize("path", ["/", "/cart/", "/books/1/"])
def test_fixed_pages_load_the_shop_settings_once(client, path):
    assert record(client, f"{path}?fixed=1").count(SHOP_SETTINGS) == 1


def test_cart_page_shows_the_cart_in_one_query_besides_the_context_processors(client):
    page = record(client, "/cart/?fixed=1")
    assert len(page.sql) == 3
    assert "Your cart" in page.response.content.decode()


def test_restock_saves_each_book_of_the_publisher_one_by_one(client):
    publisher = Publisher.objects.get(pk=1)
    before = stocks_of(publisher)
    assert len(before) >= 2

    result = restock(client, publisher, quantity=3)

    assert result.count(BOOK_UPDATE) == len(before)
    assert stocks_of(publisher) == {pk: stock + 3 for pk, stock in before.items()}
    assert result.response.json()["restocked"] == len(before)


def test_fixed_restock_updates_every_book_of_the_publisher_in_one_statement(client):
    publisher = Publisher.objects.get(pk=2)
    before = stocks_of(publisher)

    result = restock(client, publisher, quantity=4, fixed=True)

    assert result.count(BOOK_UPDATE) == 1
    assert len(result.sql) == 3
    assert stocks_of(publisher) == {pk: stock + 4 for pk, stock in before.items()}
    assert {book["id"]: book["stock"] for book in result.response.json()["books"]} == stocks_of(publisher)


@pytest.mark.parametrize("body", ['{"quantity": 0}', '{"quantity": "many"}', "not json", '{"quantity": 1000}'])
def test_restock_refuses_a_quantity_it_cannot_use(client, body):
    response = client.post("/api/publishers/1/restock/", data=body, content_type="application/json")
    assert response.status_code == 400
    assert "quantity" in response.json()["error"]


def test_restock_is_post_only(client):
    assert client.get("/api/publishers/1/restock/").status_code == 405


def restock(client, publisher: Publisher, quantity: int, fixed: bool = False):
    path = f"/api/publishers/{publisher.pk}/restock/" + ("?fixed=1" if fixed else "")
    return record(client, path, "post", data={"quantity": quantity}, content_type="application/json")


def stocks_of(publisher: Publisher) -> dict[int, int]:
    return dict(publisher.books.values_list("id", "stock"))


def rows_of(page) -> list[tuple[int, int, int]]:
    return [(author.pk, books, reviews) for author, books, reviews in page.response.context["rows"]]
