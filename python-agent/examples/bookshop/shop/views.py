"""The shop's pages. Each view serves the broken version of its page, or the fixed twin under ``?fixed=1``.

The two versions differ only in how they load data: the page looks the same, querysight's findings do not.
"""

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from .demo import is_fixed
from .models import Author, Book, Customer, Order, OrderItem, Publisher, Review
from .scenarios import SCENARIOS, scenario

PAGE_SIZE = 50


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "shop/home.html", {"scenarios": SCENARIOS})


def book_list(request: HttpRequest) -> HttpResponse:
    books = Book.objects.all()
    if is_fixed(request):
        books = books.select_related("author", "publisher")
    page = Paginator(books, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "shop/book_list.html", {"page": page, "scenario": scenario("book_list")})


def book_detail(request: HttpRequest, pk: int) -> HttpResponse:
    if is_fixed(request):
        reviews = Prefetch("reviews", queryset=Review.objects.select_related("customer__profile"))
        book = get_object_or_404(
            Book.objects.select_related("author", "publisher").prefetch_related("tags", reviews), pk=pk
        )
        more_by_author = book.author.books.exclude(pk=pk).prefetch_related("reviews")
    else:
        book = get_object_or_404(Book, pk=pk)
        more_by_author = book.author.books.exclude(pk=pk)
    return render(
        request,
        "shop/book_detail.html",
        {"book": book, "more_by_author": more_by_author, "scenario": scenario("book_detail")},
    )


def author_list(request: HttpRequest) -> HttpResponse:
    if is_fixed(request):
        # An aggregate drops Meta.ordering, so the order is spelled out for both versions.
        authors = Author.objects.annotate(
            book_count=Count("books", distinct=True), review_count=Count("books__reviews")
        ).order_by("name", "id")
        rows = [(author, author.book_count, author.review_count) for author in authors]
    else:
        rows = [
            (author, author.books.count(), Review.objects.filter(book__author=author).count())
            for author in Author.objects.order_by("name", "id")
        ]
    return render(request, "shop/author_list.html", {"rows": rows, "scenario": scenario("authors")})


def account(request: HttpRequest) -> HttpResponse:
    customer = get_object_or_404(Customer.objects.select_related("profile"), pk=settings.BOOKSHOP_CUSTOMER_ID)
    orders = customer.orders.exclude(status=Order.Status.CART)
    if is_fixed(request):
        orders = orders.prefetch_related(Prefetch("items", queryset=OrderItem.objects.select_related("book")))
    return render(
        request, "shop/account.html", {"customer": customer, "orders": orders, "scenario": scenario("account")}
    )


def cart(request: HttpRequest) -> HttpResponse:
    items = OrderItem.objects.filter(
        order__customer_id=settings.BOOKSHOP_CUSTOMER_ID, order__status=Order.Status.CART
    ).select_related("book__author")
    items = list(items)
    total = sum((item.price * item.quantity for item in items), start=0)
    return render(request, "shop/cart.html", {"items": items, "total": total, "scenario": scenario("cart")})


def publisher_list(request: HttpRequest) -> HttpResponse:
    publishers = Publisher.objects.annotate(book_count=Count("books"))
    return render(request, "shop/publisher_list.html", {"publishers": publishers})


def publisher_detail(request: HttpRequest, pk: int) -> HttpResponse:
    publisher = get_object_or_404(Publisher, pk=pk)
    books = publisher.books.select_related("author")
    return render(
        request,
        "shop/publisher_detail.html",
        {"publisher": publisher, "books": books, "scenario": scenario("restock")},
    )
