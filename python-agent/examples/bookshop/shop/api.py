"""The shop's JSON API. Like the pages, each endpoint serves its fixed twin under ``?fixed=1``."""

import json

from django.core.paginator import Paginator
from django.db.models import F
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET, require_POST

from .demo import is_fixed
from .models import Book, Publisher
from .views import PAGE_SIZE

MAX_RESTOCK = 100


@require_GET
def books(request: HttpRequest) -> JsonResponse:
    books = Book.objects.select_related("author")
    if is_fixed(request):
        books = books.prefetch_related("tags")
    page = Paginator(books, PAGE_SIZE).get_page(request.GET.get("page"))
    return JsonResponse(
        {
            "page": page.number,
            "pages": page.paginator.num_pages,
            "count": page.paginator.count,
            "books": [
                {
                    "id": book.pk,
                    "title": book.title,
                    "author": book.author.name,
                    "price": str(book.price),
                    "stock": book.stock,
                    "tags": [tag.name for tag in book.tags.all()],
                }
                for book in page
            ],
        }
    )


@require_POST
def restock(request: HttpRequest, pk: int) -> JsonResponse:
    """Add ``quantity`` (JSON body, default 5) to the stock of every book of a publisher."""
    try:
        quantity = int(json.loads(request.body or b"{}").get("quantity", 5))
    except (ValueError, TypeError, AttributeError):
        return JsonResponse({"error": 'send a JSON body like {"quantity": 5}'}, status=400)
    if not 1 <= quantity <= MAX_RESTOCK:
        return JsonResponse({"error": f"quantity must be between 1 and {MAX_RESTOCK}"}, status=400)
    publisher = get_object_or_404(Publisher, pk=pk)
    if is_fixed(request):
        publisher.books.update(stock=F("stock") + quantity)
        stocks = list(publisher.books.values("id", "stock"))
    else:
        stocks = []
        for book in publisher.books.all():
            book.stock += quantity
            book.save()
            stocks.append({"id": book.pk, "stock": book.stock})
    return JsonResponse({"publisher": publisher.name, "quantity": quantity, "restocked": len(stocks), "books": stocks})
