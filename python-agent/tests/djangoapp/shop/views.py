"""Views exercising what the agent must see: loops in templates, async ORM calls, raw SQL, other databases."""

import datetime
import decimal

from asgiref.sync import sync_to_async
from django.db import connection, connections
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.gzip import gzip_page

from .models import Author, Book, Category, Comment


def book_list(request):
    books = Book.objects.order_by("id")
    return render(request, "shop/book_list.html", {"books": books})


def book_detail(request, pk):
    book = Book.objects.get(pk=pk)
    return JsonResponse({"title": book.title, "reviews": [r.stars for r in book.reviews.all()]})


def authors_twice(request):
    names = [a.name for a in Author.objects.filter(pk=1)]
    names += [a.name for a in Author.objects.filter(pk=1)]
    return JsonResponse({"names": names})


def many_queries(request, n):
    for i in range(n):
        Author.objects.filter(pk=i).exists()
    return JsonResponse({"done": n})


def broken_query(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM no_such_table WHERE id = %s", [1])
    return HttpResponse("unreachable")


def odd_params(request):
    values = [
        datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc),
        decimal.Decimal("12.50"),
        b"\x00\xffbytes",
        "x" * 5000,
        None,
        True,
        1.5,
    ]
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s, %s, %s, %s, %s, %s, %s", values)
    return JsonResponse({"ok": True})


def write_many(request):
    with connection.cursor() as cursor:
        cursor.executemany("INSERT INTO shop_tag (name) VALUES (%s)", ((f"bulk-{i}",) for i in range(150)))
    return JsonResponse({"ok": True})


def other_db(request):
    return JsonResponse({"default": Book.objects.count(), "other": Book.objects.using("other").count()})


def on_each_alias(request):
    counts = {}
    for alias in connections:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            counts[alias] = cursor.fetchone()[0]
    return JsonResponse(counts)


def streaming_html(request):
    def body():
        yield "<html><body><p>stream</p>"
        yield "</body></html>"

    return StreamingHttpResponse(body(), content_type="text/html")


@gzip_page
def gzipped_html(request):
    return HttpResponse("<html><body>" + "<p>padding</p>" * 50 + "</body></html>")


def html_without_body(request):
    return HttpResponse("<p>fragment</p>")


def html_two_bodies(request):
    return HttpResponse("<html><body><pre>&lt;/body&gt; </body> text</pre></BODY></html>")


def plain_text(request):
    return HttpResponse("</body>", content_type="text/plain")


def static_file(request, name):
    Author.objects.count()
    return HttpResponse("static", content_type="text/plain")


async def async_books(request):
    titles = [book.title async for book in Book.objects.order_by("id")]
    author = await Author.objects.aget(pk=1)
    return JsonResponse({"titles": titles, "author": author.name})


def _count_books_sync():
    return Book.objects.count()


async def async_helper(request):
    count = await sync_to_async(_count_books_sync)()
    return JsonResponse({"count": count})


async def _author_name(pk):
    author = await Author.objects.aget(pk=pk)
    return author.name


async def _book_count():
    return await Book.objects.acount()


async def async_tasks(request):
    """Queries awaited in tasks of their own: asyncio.gather's, and one made with create_task that runs while the
    view awaits something else (an Event the task sets once its query is done), before the view awaits the task."""
    import asyncio

    name, count = await asyncio.gather(_author_name(1), _book_count())
    task = asyncio.create_task(_author_name_then_set(1, queried := asyncio.Event()))
    await queried.wait()
    return JsonResponse({"name": name, "count": count, "again": await task})


def no_queries(request):
    return HttpResponse("<html><body>nothing</body></html>")


def in_a_new_thread(request):
    """Queries from a thread started mid-request (a brand-new connection object) with the request's context."""
    import contextvars
    import threading

    result = {}

    def work():
        result["count"] = Book.objects.count()
        connections.close_all()

    context = contextvars.copy_context()
    thread = threading.Thread(target=context.run, args=(work,))
    thread.start()
    thread.join()
    return JsonResponse(result)


def author_list(request):
    return render(request, "shop/authors.html", {"authors": Author.objects.order_by("id")})


def books_csv(request):
    """A streamed export whose queries (one author per row: an N+1) run after the view has returned."""

    def rows():
        yield "title,author\n"
        for book in Book.objects.order_by("id"):
            yield f"{book.title},{book.author.name}\n"

    return StreamingHttpResponse(rows(), content_type="text/csv")


async def books_csv_async(request):
    async def rows():
        yield "title,author\n"
        async for book in Book.objects.order_by("id"):
            author = await Author.objects.aget(pk=book.author_id)
            yield f"{book.title},{author.name}\n"

    return StreamingHttpResponse(rows(), content_type="text/csv")


def composed_sql(request):
    """A statement built with psycopg's sql module (PostgreSQL only), as a raw cursor runs it."""
    from psycopg import sql

    statement = sql.SQL("SELECT {} FROM {} WHERE {} = %s").format(
        sql.Identifier("name"), sql.Identifier(Author._meta.db_table), sql.Identifier("id")
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [1])
        (name,) = cursor.fetchone()
    return HttpResponse(name, content_type="text/plain")


async def async_gathered_orm(request):
    """ORM calls gathered directly (their tasks' await chains hold library frames only), then one under wait_for."""
    import asyncio

    books, authors = await asyncio.gather(Book.objects.acount(), Author.objects.acount())
    first = await asyncio.wait_for(Author.objects.aget(pk=1), 5)
    return JsonResponse({"books": books, "authors": authors, "first": first.name})


async def async_for_while_the_loop_is_busy(request):
    """An async for whose query runs while another task holds the event loop (it must not lend that task's frames)."""
    import asyncio
    import time

    async def hog():
        time.sleep(0.3)  # blocks the loop's thread: the running task is this one meanwhile

    sleeper = asyncio.create_task(sync_to_async(time.sleep)(0.1))  # keeps the request's sync thread busy a while
    await asyncio.sleep(0)
    hogging = asyncio.create_task(hog())
    titles = [book.title async for book in Book.objects.order_by("id")]
    await hogging
    await sleeper
    return JsonResponse({"titles": titles})


async def _author_name_then_set(pk, event):
    name = await _author_name(pk)
    event.set()
    return name


def jinja_book_list(request):
    books = Book.objects.order_by("id")
    return render(request, "shop/book_list.jinja", {"books": books})


def comment_targets(request):
    """What each comment is about (a GenericForeignKey) read per row; ``?fixed=1`` prefetches it as querysight says."""
    comments = Comment.objects.order_by("id")
    if request.GET.get("fixed"):
        comments = comments.prefetch_related("target")
    return JsonResponse({"comments": [[c.body, type(c.target).__name__, c.target.pk] for c in comments]})


def in_a_thread_pool(request):
    """Queries run by a ThreadPoolExecutor, which gives its threads no context of the request's."""
    from concurrent.futures import ThreadPoolExecutor

    def title_of(pk):
        try:
            return Book.objects.get(pk=pk).title
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=2) as pool:
        titles = list(pool.map(title_of, [1, 2]))
    return JsonResponse({"titles": titles})


def authors_by_name(request):
    """Each author found by its name in other letters (``name__iexact``), one query per name; ``?fixed=1`` reads them
    all at once as querysight says, and matches each to its name case-insensitively."""
    from functools import reduce
    from operator import or_

    from django.db.models import Q

    names = ["AUTHOR 0", "author 1", "Author 2"]
    if request.GET.get("fixed"):
        values = names
        found = {a.name.upper(): a for a in Author.objects.filter(reduce(or_, [Q(name__iexact=v) for v in values]))}
        ids = [found[name.upper()].pk for name in names]
    else:
        ids = [Author.objects.filter(name__iexact=name).first().pk for name in names]
    return JsonResponse({"ids": ids})


async def async_broken(request):
    await Author.objects.acount()
    raise ValueError("no stock for book 7")


def books_csv_prepared(request):
    """An export whose rows are read before the view returns (one author per row: an N+1), sent as a stream."""
    lines = [f"{book.title},{book.author.name}\n" for book in Book.objects.order_by("id")]
    return StreamingHttpResponse(iter(lines), content_type="text/csv")


def partial_twice(request):
    """A partial included at two places of a page, each time for a book of its own (not a loop), then in two loops;
    in a page that extends a base template. ``?engine=jinja`` renders the Jinja2 twin."""
    first, second = Book.objects.order_by("id")[:2]
    books, again = Book.objects.order_by("id")[:3], Book.objects.order_by("id")[:3]
    name = "shop/partial_twice.jinja" if request.GET.get("engine") == "jinja" else "shop/partial_twice.html"
    return render(request, name, {"first": first, "second": second, "books": books, "again": again})


def book_rows(request):
    """Rows of values(), no model objects, with each author looked up by its key: an N+1 whose fix is no eager load."""
    rows = Book.objects.order_by("id").values("title", "author_id")
    return JsonResponse({"books": [[row["title"], Author.objects.get(pk=row["author_id"]).name] for row in rows]})


TREE_PAGES = {
    "tree": "shop/tree_page.html",  # two templates including each other
    "self-tree": "shop/self_tree_page.html",  # a template including itself
    "base-tree": "shop/bd_page.html",  # a template including itself through its base template
    "poly-tree": "shop/poly_page.html",  # each node's own template, both extending one base
    "jinja-tree": "shop/tree.jinja",  # {% for ... recursive %}
    "jinja-mutual": "shop/mutual.jinja",  # two macros calling each other
    "jinja-block-tree": "shop/jnode_page.jinja",  # a Jinja template including itself in its block
}


def template_places(request, case):
    """Where a template's query ran, case by case: {{ block.super }}, and blocks inside an {% if %} and a {% with %} of
    three templates extending each other (inheritance, not includes); trees (TREE_PAGES); a Jinja macro of the page
    called at two places and in a loop; a Jinja template made from a string (no name)."""
    first, second = Book.objects.order_by("id")[:2]
    books = Book.objects.order_by("id")[2:5]
    if case == "block-super":
        return render(request, "shop/super_child.html", {"first": first})
    if case == "wrapped-blocks":
        return render(request, "shop/leaf_wrapped.html", {"first": first, "second": second, "show": True})
    if case in TREE_PAGES:
        leaf = {"book": books[0], "children": [], "tpl": "shop/file.html"}
        children = [{"book": second, "children": [leaf], "tpl": "shop/folder.html"}]
        if case == "poly-tree":  # a folder and a file side by side: one depth, two templates
            children.append({"book": books[1], "children": [], "tpl": "shop/file.html"})
        roots = [{"book": first, "children": children, "tpl": "shop/folder.html"}]
        return render(request, TREE_PAGES[case], {"roots": roots})
    if case == "jinja-macro":
        return render(request, "shop/local_macro.jinja", {"first": first, "second": second, "books": books})
    import jinja2

    page = jinja2.Environment().from_string("<p>\n{% for b in books %}{{ b.author.name }}{% endfor %}</p>")
    return HttpResponse(page.render(books=books))


def category_tree(request):
    """A tree a template renders by including itself: a query per node for its children, at every depth."""
    return render(request, "shop/category_tree.html", {"roots": Category.objects.filter(parent=None).order_by("id")})
