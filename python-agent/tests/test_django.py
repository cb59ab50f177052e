"""The Django middleware against the real test project on SQLite."""

from __future__ import annotations

import asyncio
import gc
import gzip
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import OperationalError
from django.test import AsyncClient, Client, override_settings

import querysight
from helpers import read_ndjson
from querysight import config, transport
from querysight.recorder import Unit, current_unit


def app_frames(query):
    return [(f["file"], f["function"]) for f in query["stack"]]


def test_records_one_unit_per_request_with_route_view_and_status(client, recorded):
    response = client.get("/books/1/?page=2")
    assert response.status_code == 200
    unit = recorded.unit()
    assert unit["kind"] == "request"
    assert unit["name"] == "GET /books/1/"
    assert unit["method"] == "GET"
    assert unit["path"] == "/books/1/?page=2"
    assert unit["route"] == "books/<int:pk>/"
    assert unit["view"] == "djangoapp.shop.views.book_detail"
    assert unit["status"] == 200
    assert unit["duration_ms"] > 0
    assert response["X-QuerySight-Unit"] == unit["id"]
    sqls = [q["sql"] for q in unit["queries"]]
    assert len(sqls) == 2
    assert '"shop_book"' in sqls[0] and '"shop_review"' in sqls[1]


def test_gives_each_query_the_call_site_in_the_view(client, recorded):
    client.get("/books/1/")
    first = recorded.unit()["queries"][0]
    assert first["callsite"] == first["stack"][0]
    assert first["callsite"]["file"] == "djangoapp/shop/views.py"
    assert first["callsite"]["function"] == "book_detail"
    assert first["db"] == "default" and first["vendor"] == "sqlite"
    assert first["params"] == [1, 21] or first["params"][0] == 1
    assert all(not f["file"].startswith(("django/", "querysight/")) for f in first["stack"])


def test_marks_the_template_line_of_queries_made_while_rendering(client, recorded):
    response = client.get("/books/")
    assert response.status_code == 200
    queries = recorded.unit()["queries"]
    assert len(queries) == 7  # the books, then one author per book: an N+1 made in the template
    assert "template" not in queries[0] or queries[0]["template"]["name"] == "shop/book_list.html"
    for query in queries[1:]:
        assert query["template"] == {"name": "shop/book_list.html", "line": 8}
        assert query["callsite"]["function"] == "book_list"


@pytest.mark.parametrize("engine", ["django", "jinja"])
def test_tells_a_partial_included_at_two_places_apart_by_where_it_was_included(client, recorded, engine):
    # A partial included twice on a page, for a book each time, made two queries from one template line and one
    # stack: an N+1 of 2 that is no loop. And two loops including it were one loop. Where the partial was included
    # (not the base template's {% block %} or the {% extends %}: the same for every query of the page) tells them apart.
    suffix = "jinja" if engine == "jinja" else "html"
    assert client.get(f"/partial-twice/?engine={engine}").status_code == 200
    queries = recorded.unit()["queries"]
    authors = [q["template"] for q in queries if '"shop_author"' in q["sql"]]
    partial = {"name": f"shop/_book_author.{suffix}", "line": 1}
    page = f"shop/partial_twice.{suffix}"
    assert authors == [
        {**partial, "included_from": [{"name": page, "line": 3}]},
        {**partial, "included_from": [{"name": page, "line": 4}]},
        *[{**partial, "included_from": [{"name": page, "line": 5}]}] * 3,
        *[{**partial, "included_from": [{"name": page, "line": 6}]}] * 3,
    ]
    assert [q.get("template") for q in queries if '"shop_book"' in q["sql"]] == [
        None,  # first and second, in the view
        {"name": page, "line": 5},
        {"name": page, "line": 6},
    ]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        # {{ block.super }} renders the base template's block in the child's: inheritance, not an include.
        ("block-super", [("shop/_book_author.html", 1, [("shop/base_side.html", 3)])]),
        # Blocks inside an {% if %} of the base and a {% with %} of the middle template of three.
        (
            "wrapped-blocks",
            [("shop/leaf_wrapped.html", 3, []), ("shop/_book_author.html", 1, [("shop/leaf_wrapped.html", 4)])],
        ),
        # Two templates including each other (a tree): every depth has the same positions, one loop.
        ("tree", [("shop/_tree_node.html", 1, [("shop/_tree.html", 1), ("shop/tree_page.html", 1)])] * 3),
        # A template including itself; a Jinja loop calling itself ({% for ... recursive %}).
        ("self-tree", [("shop/_self_tree.html", 1, [("shop/self_tree_page.html", 1)])] * 3),
        ("jinja-tree", [("shop/tree.jinja", 1, [])] * 3),
        # A template including itself from its base template; in its block (Jinja); two macros calling each other.
        ("base-tree", [("shop/bd_node.html", 2, [("shop/bd_page.html", 1)])] * 3),
        ("jinja-block-tree", [("shop/jnode.jinja", 2, [("shop/jnode_page.jinja", 1)])] * 3),
        ("jinja-mutual", [("shop/mutual.jinja", 1, [("shop/mutual.jinja", 5)])] * 3),
        # A macro of the page called at two places, then in a loop: three places.
        (
            "jinja-macro",
            [("shop/local_macro.jinja", 1, [("shop/local_macro.jinja", line)]) for line in (2, 3, 4, 4, 4)],
        ),
        # A Jinja template made from a string has no name: "<template>", as Jinja's tracebacks say.
        ("jinja-string", [("<template>", 2, [])] * 3),
    ],
)
def test_gives_template_positions_through_inheritance_recursion_macros_and_unnamed_templates(
    client, recorded, case, expected
):
    assert client.get(f"/template-places/{case}/").status_code == 200
    authors = [q["template"] for q in recorded.unit()["queries"] if '"shop_author"' in q["sql"]]
    positions = [(t["name"], t["line"], [(o["name"], o["line"]) for o in t.get("included_from", [])]) for t in authors]
    assert positions == expected
    # The depth of a recursion of templates (a tree's levels, which the server tells from a loop's turns).
    depths = [t.get("recursion_depth", 0) for t in authors]
    assert depths == ([0, 1, 2] if case in TREES else [0] * len(authors))


TREES = ("tree", "self-tree", "base-tree", "poly-tree", "jinja-tree", "jinja-mutual", "jinja-block-tree")
PLACES = ("block-super", "wrapped-blocks", "jinja-macro", "jinja-string", *TREES)


def test_the_walks_it_skips_give_every_template_query_the_place_a_full_walk_gives(client, recorded, monkeypatch):
    # The memo that skips the walk for a template loop is keyed by the template nodes on the way: a key that missed
    # one (a base template's {% extends %} of two node templates) gave queries another depth and place (a review).
    def places():
        for case in PLACES:
            assert client.get(f"/template-places/{case}/").status_code == 200
        return [[q.get("template") for q in unit["queries"]] for unit in recorded.units()[-len(PLACES) :]]

    skipping = places()
    capture = querysight._stack.capture
    monkeypatch.setattr(querysight._stack, "capture", lambda *args, **kwargs: (capture(*args, **kwargs)[0], None))
    assert places() == skipping


def test_ends_a_requests_stacks_at_the_request_not_at_the_test_that_made_it(client, recorded):
    # Django's ListView and a template: no frame of the app's below the request. Before, each query had the test's
    # line as its call site, and a fix said "the queryset iterated at tests/test_django.py:..." of the test.
    assert client.get("/generic/books/").status_code == 200
    queries = recorded.unit()["queries"]
    assert [(q["callsite"], q["stack"]) for q in queries] == [(None, [])] * len(queries)
    assert {q["template"]["name"] for q in queries[1:]} == {"shop/generic_books.html"}
    # In an async test too (the middleware's coroutine ends the await chain).
    assert asyncio.run(AsyncClient().get("/async/books/")).status_code == 200
    stacks = [[f["function"] for f in q["stack"]] for q in recorded.units()[-1]["queries"]]
    assert stacks and all(stack[-1] == "async_books" for stack in stacks), stacks


def test_a_projects_own_middleware_is_not_the_call_site_of_a_views_queries(client, recorded):
    # Django renders a ListView's TemplateResponse below the middleware chain: a project's middleware calling
    # get_response was the only application frame of the template loop's queries, and the fix said "the queryset
    # iterated at djangoapp/shop/middleware.py:12" (its get_response line). The middleware's own query keeps its line.
    with override_settings(MIDDLEWARE=[*settings.MIDDLEWARE, "djangoapp.shop.middleware.AuthorCountMiddleware"]):
        assert client.get("/generic/books/").status_code == 200
        assert client.get("/books/").status_code == 200
        assert asyncio.run(AsyncClient().get("/generic/books/")).status_code == 200  # under ASGI
    generic, books, generic_asgi = recorded.units()
    assert [(q["callsite"], q["stack"]) for q in generic_asgi["queries"][1:]] == [(None, [])] * 7
    count, *listed = generic["queries"]
    assert count["callsite"] == {"file": "djangoapp/shop/middleware.py", "line": 11, "function": "__call__"}
    assert len(listed) == 7
    assert [(q["callsite"], q["stack"]) for q in listed] == [(None, [])] * len(listed)
    # A function view's queries: its own frames, not the middleware's after them.
    assert {tuple(f["function"] for f in q["stack"]) for q in books["queries"][1:]} == {("book_list",)}


def test_a_tests_requests_without_querysights_middleware_keep_the_tests_lines(client, recorded):
    # The queries of requests a test makes with the test client, querysight's middleware not installed, are the
    # test's: the lines of the test that made them tell two requests apart (the same view's query from two lines of a
    # test is no loop), so their stacks go on past Django's handler.
    plain = [m for m in settings.MIDDLEWARE if "querysight" not in m]
    with override_settings(MIDDLEWARE=plain), querysight.capture("tests/test_x.py::test_two_books", kind="test"):
        client.get("/books/1/")
        client.get("/books/2/")
    book_queries = [q for q in recorded.unit()["queries"] if '"shop_book"' in q["sql"].split("FROM")[1]]
    first, second = (query["stack"] for query in book_queries)
    assert first[0] == second[0]  # the view's line
    assert (first[-1]["file"], second[-1]["file"]) == ("test_django.py", "test_django.py")
    assert first[-1]["line"] + 1 == second[-1]["line"]


def test_gives_queries_made_while_a_jinja2_template_renders_its_template_position_at_the_templates_own_lines(
    client, recorded
):
    """shop/jinja2/shop/book_list.jinja through Django's Jinja2 backend: its loop is on line 4, the author on line 5
    (not the lines of the Python Jinja compiled it to), rendered from views.py:236, as for a Django template."""
    response = client.get("/jinja/books/")
    assert response.status_code == 200
    books, *authors = recorded.unit()["queries"]
    assert len(authors) == 6
    assert books["template"] == {"name": "shop/book_list.jinja", "line": 4}
    assert books["callsite"] == {"file": "djangoapp/shop/views.py", "line": 236, "function": "jinja_book_list"}
    for query in authors:
        assert query["template"] == {"name": "shop/book_list.jinja", "line": 5}
        assert query["callsite"] == books["callsite"]
        assert all(not f["file"].endswith(".jinja") for f in query["stack"])


def test_records_a_failing_query_and_lets_the_apps_exception_through(client, recorded):
    with pytest.raises(OperationalError, match="no such table: no_such_table"):
        client.get("/broken/")
    unit = recorded.unit()
    assert unit["status"] == 500
    (query,) = unit["queries"]
    assert query["error"].startswith("OperationalError: no such table")
    assert query["params"] == [1]
    assert unit["meta"]["error"].startswith("OperationalError: no such table: no_such_table")


def test_notes_the_exception_django_turned_into_a_500_of_a_sync_or_an_async_view(recorded):
    from django.test import Client

    client = Client(raise_request_exception=False)  # as a server does: the 500 page, not the exception
    assert client.get("/broken/").status_code == 500
    assert client.get("/async/broken/").status_code == 500
    assert client.get("/authors/twice/").status_code == 200
    # Django's ASGI handler: the 500 is made in an executor thread, where asgiref raises the exception again.
    from django.test import AsyncClient

    async_client = AsyncClient(raise_request_exception=False)
    assert asyncio.run(async_client.get("/async/broken/")).status_code == 500
    broken, async_broken, fine, under_asgi = recorded.units()
    assert broken["meta"]["error"].startswith("OperationalError: no such table: no_such_table")
    assert (async_broken["status"], async_broken["meta"]["error"]) == (500, "ValueError: no stock for book 7")
    assert "error" not in fine["meta"]
    assert (under_asgi["status"], under_asgi["meta"]["error"]) == (500, "ValueError: no stock for book 7")


def test_makes_params_json_safe_and_truncates_long_values(client, recorded):
    client.get("/params/")
    (query,) = recorded.unit()["queries"]
    when, price, raw, long, none, flag, number = query["params"]
    assert when.startswith("2024-05-06")
    assert price == "12.50"
    assert raw == "base64:AP9ieXRlcw=="
    assert len(long) == 257 and long.endswith("…")
    assert (none, flag, number) == (None, True, 1.5)


def test_records_executemany_as_one_query_with_the_first_hundred_rows(client, recorded):
    from djangoapp.shop.models import Tag

    try:
        client.get("/write-many/")
        assert Tag.objects.filter(name__startswith="bulk-").count() == 150
    finally:
        Tag.objects.filter(name__startswith="bulk-").delete()
    (query,) = recorded.unit()["queries"]
    assert query["many"] is True
    assert len(query["params"]) == 100
    assert query["params"][:2] == [["bulk-0"], ["bulk-1"]]


def test_sends_no_params_when_capture_is_off(client, recorded):
    querysight.configure(capture_params=False)
    client.get("/books/1/")
    assert all(q["params"] is None for q in recorded.unit()["queries"])


def test_skips_ignored_paths(client, recorded):
    response = client.get("/static/app.css")
    assert response.status_code == 200
    assert "X-QuerySight-Unit" not in response
    querysight.configure(ignore_paths=["/book*"])
    client.get("/books/1/")
    client.get("/authors/twice/")
    assert [u["name"] for u in recorded.units()] == ["GET /authors/twice/"]


def test_ignore_paths_mixes_prefixes_and_whole_path_globs(client, recorded):
    querysight.configure(ignore_paths=["/static/", "/[ab]?oks/*", "/authors/?"])
    for path in ("/books/1/", "/authors/twice/", "/authors/"):
        client.get(path)
    # "/authors/?" is one character after the slash, the whole path: not a prefix of /authors/twice/
    assert [u["name"] for u in recorded.units()] == ["GET /authors/twice/", "GET /authors/"]


def test_stops_recording_past_max_queries_and_counts_the_rest(client, recorded):
    querysight.configure(max_queries=5)
    client.get("/many/12/")
    unit = recorded.unit()
    assert len(unit["queries"]) == 5
    assert unit["dropped_queries"] == 7


def test_records_queries_on_every_database_alias(client, recorded):
    response = client.get("/other-db/")
    assert response.json() == {"default": 6, "other": 6}
    assert [q["db"] for q in recorded.unit()["queries"]] == ["default", "other"]


def test_is_off_without_debug_or_an_explicit_url(recorded):
    config.reset()
    with override_settings(DEBUG=False, QUERYSIGHT={}):
        response = Client().get("/books/1/")
    assert response.status_code == 200
    assert "X-QuerySight-Unit" not in response
    assert recorded.units() == []


def test_is_on_without_debug_when_a_url_is_set(receiver):
    with override_settings(DEBUG=False, QUERYSIGHT={"URL": receiver.url}):
        response = Client().get("/books/1/")
    assert "X-QuerySight-Unit" in response


def test_a_setting_that_cannot_be_used_stops_startup_naming_it(receiver):
    from django.core.exceptions import ImproperlyConfigured

    from querysight.django import QuerySightAppConfig

    bad = {"URL": receiver.url, "MAX_QUERIES": "many"}
    with override_settings(DEBUG=True, QUERYSIGHT=bad), pytest.raises(ImproperlyConfigured) as raised:
        Client().get("/books/1/")  # the handler builds its middleware chain on its first request
    assert str(raised.value) == "QUERYSIGHT: querysight setting MAX_QUERIES='many' is not an integer"
    with override_settings(QUERYSIGHT={"MAX_QUERY": 5}), pytest.raises(ImproperlyConfigured, match="'MAX_QUERY'"):
        QuerySightAppConfig.ready(None)  # type: ignore[arg-type]
    with override_settings(QUERYSIGHT=receiver.url), pytest.raises(ImproperlyConfigured, match="must be a dict"):
        QuerySightAppConfig.ready(None)  # type: ignore[arg-type]
    config.reset()
    with override_settings(QUERYSIGHT={"URL": receiver.url}):
        assert Client().get("/books/1/").status_code == 200


def assert_called_from_async_books(queries):
    """`async for` (line 108, inside an async comprehension) then `aget` (line 109) of views.async_books."""
    assert len(queries) == 2
    for query in queries:
        assert query["callsite"]["file"] == "djangoapp/shop/views.py"
        assert "async_books" in [f["function"] for f in query["stack"][:2]]
    assert [q["callsite"]["line"] for q in queries] == [108, 109]


def test_records_async_views_with_async_for_and_aget_and_their_call_sites(recorded):
    async def fetch():
        return await AsyncClient().get("/async/books/")

    response = asyncio.run(fetch())
    assert response.status_code == 200
    unit = recorded.unit()
    assert unit["route"] == "async/books/"
    assert unit["view"] == "djangoapp.shop.views.async_books"
    queries = unit["queries"]
    assert len(queries) == 2
    assert_called_from_async_books(queries)


def test_gives_sync_to_async_queries_the_sync_frames_then_the_awaiting_coroutine(recorded):
    async def fetch():
        return await AsyncClient().get("/async/helper/")

    asyncio.run(fetch())
    (query,) = recorded.unit()["queries"]
    assert [f["function"] for f in query["stack"]][:2] == ["_count_books_sync", "async_helper"]


def test_gives_queries_awaited_in_tasks_of_their_own_the_call_site_of_their_coroutine(recorded):
    """views.async_tasks: asyncio.gather (line 136) of _author_name (aget, line 123) and _book_count (acount, line
    128), then a create_task of _author_name_then_set whose query runs while the view awaits something else: the view
    does not await that task then, so its frame is not one of the query's callers."""

    async def fetch():
        return await AsyncClient().get("/async/tasks/")

    assert asyncio.run(fetch()).status_code == 200
    stacks = sorted([(f["function"], f["line"]) for f in q["stack"]] for q in recorded.unit()["queries"])
    # Up to the view: the code that made the request (here, fetch() with the test client) is not the queries' caller.
    assert stacks == [
        [("_author_name", 123), ("_author_name_then_set", 229)],
        [("_author_name", 123), ("async_tasks", 136)],
        [("_book_count", 128), ("async_tasks", 136)],
    ]


def test_gives_queries_awaited_in_tasks_of_their_own_their_coroutine_also_when_wsgi_runs_the_async_view(recorded):
    """views.async_tasks under the sync test client (WSGI: async_to_sync runs the view on a loop of its own, and the
    ORM calls come back to this thread): the same call sites as under ASGI."""

    def fetch():
        return Client().get("/async/tasks/")

    assert fetch().status_code == 200
    stacks = sorted([(f["function"], f["line"]) for f in q["stack"]] for q in recorded.unit()["queries"])
    assert stacks == [  # up to the view, as under ASGI: not the test's frames, which made the request
        [("_author_name", 123), ("_author_name_then_set", 229)],  # left to run: its own chain only
        [("_author_name", 123), ("async_tasks", 136)],
        [("_book_count", 128), ("async_tasks", 136)],
    ]


def test_gives_orm_calls_gathered_directly_the_line_that_gathered_them(recorded):
    """views.async_gathered_orm: their tasks' await chains hold only library frames, so the view's line is next."""

    async def fetch():
        return await AsyncClient().get("/async/gathered-orm/")

    assert asyncio.run(fetch()).status_code == 200
    lines = sorted(q["callsite"]["line"] for q in recorded.unit()["queries"])
    assert lines == [206, 206, 207]


def test_does_not_lend_a_query_the_frames_of_another_task_running_on_the_loop(recorded):
    """views.async_for_while_the_loop_is_busy: the async for's query (line 222) runs while another task blocks the
    loop."""

    async def fetch():
        return await AsyncClient().get("/async/busy-loop/")

    assert asyncio.run(fetch()).status_code == 200
    (query,) = [q for q in recorded.unit()["queries"] if "shop_book" in q["sql"]]
    assert (query["callsite"]["line"], [f["function"] for f in query["stack"]][:2]) == (
        222,
        ["<listcomp>", "async_for_while_the_loop_is_busy"],
    )


def test_gives_sync_to_async_queries_of_an_async_view_under_the_sync_handler_each_frame_once(client, recorded):
    assert client.get("/async/helper/").status_code == 200
    (query,) = recorded.unit()["queries"]
    functions = [f["function"] for f in query["stack"]]
    assert functions[:2] == ["_count_books_sync", "async_helper"]
    assert functions.count("async_helper") == 1


def test_records_async_views_served_through_the_sync_handler(client, recorded):
    response = client.get("/async/books/")
    assert response.status_code == 200
    assert_called_from_async_books(recorded.unit()["queries"])


class TestOverlay:
    def test_inserts_the_script_before_the_last_body_tag_and_fixes_content_length(self, client, receiver):
        response = client.get("/two-bodies/")
        unit_id = response["X-QuerySight-Unit"]
        tag = f'<script src="{receiver.url}/overlay.js" data-unit="{unit_id}" async></script>'
        assert response.content.decode() == (f"<html><body><pre>&lt;/body&gt; </body> text</pre>{tag}</BODY></html>")
        if response.has_header("Content-Length"):
            assert int(response["Content-Length"]) == len(response.content)

    def test_fixes_content_length_when_the_app_set_it(self, client, receiver):
        with override_settings(MIDDLEWARE=[*__import__("django.conf").conf.settings.MIDDLEWARE]):
            pass
        from django.http import HttpResponse

        from querysight.django import inject_overlay

        response = HttpResponse("<html><body>x</body></html>")
        response["Content-Length"] = str(len(response.content))
        assert inject_overlay(response, "abc", receiver.url)
        assert int(response["Content-Length"]) == len(response.content)

    def test_does_not_insert_the_script_into_a_comment_after_the_page(self, receiver):
        # A template ending "</html><!-- </body> -->" got the tag inside the comment: no overlay, silently (a probe).
        from django.http import HttpResponse

        from querysight.django import inject_overlay

        response = HttpResponse("<html><body>x</body></html><!-- </body> -->")
        assert inject_overlay(response, "abc", receiver.url)
        page = response.content.decode()
        assert page.index("overlay.js") < page.index("</body></html><!-- </body> -->")
        # Only a commented </body>: nothing to insert before.
        assert not inject_overlay(HttpResponse("<html><p>x</p><!-- </body> --></html>"), "abc", receiver.url)

    def test_leaves_html_pages_larger_than_5_mib_alone_like_the_other_integrations(self, receiver):
        from django.http import HttpResponse

        from querysight import _web
        from querysight.django import inject_overlay

        page = b"<html><body>" + b"x" * _web.MAX_INJECT_BYTES + b"</body></html>"
        response = HttpResponse(page)
        assert not inject_overlay(response, "abc", receiver.url)
        assert response.content == page
        assert inject_overlay(HttpResponse("<html><body>x</body></html>"), "abc", receiver.url)

    def test_leaves_streaming_gzipped_non_html_and_bodyless_responses_alone(self, client, receiver):
        stream = client.get("/stream/")
        assert b"".join(stream.streaming_content) == b"<html><body><p>stream</p></body></html>"
        gz = client.get("/gzip/", headers={"accept-encoding": "gzip"})
        assert gz["Content-Encoding"] == "gzip"
        assert b"overlay.js" not in gzip.decompress(gz.content)
        assert client.get("/text/").content == b"</body>"
        assert client.get("/fragment/").content == b"<p>fragment</p>"
        for response in (stream, gz):
            assert "X-QuerySight-Unit" in response

    def test_is_left_out_while_the_server_does_not_answer_and_comes_back_with_it(self, client, receiver):
        # A page's browser could not load the script from a server that is down: each page would log the failure.
        receiver.mode = "error"
        first = client.get("/empty/")
        assert b"overlay.js" in first.content  # nothing was sent yet: the server may well be there
        assert not transport.flush(0.3)
        assert transport.transport.unreachable()
        down = client.get("/empty/")
        assert down.content == b"<html><body>nothing</body></html>"
        assert "X-QuerySight-Unit" in down
        receiver.mode = "ok"
        assert transport.flush(5.0)  # the retry delivers everything: the server is back
        back = client.get("/empty/")
        assert f'data-unit="{back["X-QuerySight-Unit"]}"'.encode() in back.content

    def test_is_off_when_overlay_is_disabled(self, client, receiver):
        querysight.configure(overlay=False)
        response = client.get("/empty/")
        assert response.content == b"<html><body>nothing</body></html>"
        assert "X-QuerySight-Unit" in response


def test_prints_the_console_line_with_duplicates_and_the_link(client, receiver, capsys):
    querysight.configure(console=True)
    response = client.get("/authors/twice/")
    err = capsys.readouterr().err
    unit_id = response["X-QuerySight-Unit"]
    assert err.startswith("[querysight] GET /authors/twice/ 200 ")
    assert "ms · 2 queries · 1 duplicated → " in err
    assert err.strip().endswith(f"{receiver.url}/#/units/{unit_id}")


def test_the_console_line_says_where_the_partial_of_its_biggest_loop_was_included(client, receiver, capsys):
    querysight.configure(console=True)
    client.get("/partial-twice/")
    err = capsys.readouterr().err
    assert " · 3 from one line (shop/_book_author.html:1, included at shop/partial_twice.html:5) · " in err, err
    client.get("/template-places/tree/")
    err = capsys.readouterr().err
    assert "(shop/_tree_node.html:1, included at shop/_tree.html:1, at shop/tree_page.html:1)" in err, err


def test_the_console_line_says_when_its_link_cannot_open_yet(client, receiver, capsys):
    querysight.configure(console=True)
    receiver.mode = "error"
    client.get("/empty/")
    assert not transport.flush(0.3)
    capsys.readouterr()
    client.get("/empty/")
    assert capsys.readouterr().err.strip().endswith(" (the querysight server does not answer: sent when it does)")
    receiver.mode = "ok"
    assert transport.flush(5.0)
    client.get("/empty/")
    assert "does not answer" not in capsys.readouterr().err


def test_the_console_line_says_what_a_request_that_failed_raised(receiver, capsys):
    from django.test import Client

    querysight.configure(console=True)
    assert Client(raise_request_exception=False).get("/async/broken/").status_code == 500
    err = capsys.readouterr().err
    assert err.startswith("[querysight] GET /async/broken/ 500 ")
    assert " · raised ValueError: no stock for book 7 → " in err


def test_the_console_line_shows_the_query_string_and_cuts_a_long_one(client, receiver, capsys):
    querysight.configure(console=True)
    client.get("/authors/twice/?fixed=1")
    assert capsys.readouterr().err.startswith("[querysight] GET /authors/twice/?fixed=1 200 ")
    client.get("/authors/twice/?q=" + "x" * 500)
    line = capsys.readouterr().err
    shown = line.removeprefix("[querysight] ").split(" 200 ")[0]
    assert shown.startswith("GET /authors/twice/?q=xxx") and shown.endswith("…")
    assert len(shown) == querysight._web.CONSOLE_PATH_LENGTH


def test_reports_the_origin_the_pages_are_served_from(client, receiver):
    client.get("/books/1/")
    querysight.flush(5)
    assert receiver.requests[0].body["app"]["origin"] == "http://testserver"
    assert receiver.requests[0].body["app"]["name"] == "shoptests"
    assert receiver.requests[0].body["app"]["framework"] == "django"
    client.get("/books/1/", headers={"host": "localhost:8000"})
    querysight.flush(5)
    assert receiver.requests[-1].body["app"]["origin"] == "http://localhost:8000"


@override_settings(ALLOWED_HOSTS=["*", ".example.org", "myapp.test"])
def test_reports_only_an_origin_whose_host_is_loopback_or_named_in_allowed_hosts(client, receiver):
    reported = []
    for host in ["evil.example:8000", "myapp.test:8000", "shop.example.org", "127.0.0.1:8000", "elsewhere.test"]:
        client.get("/books/1/", headers={"host": host})
        querysight.flush(5)
        reported.append(receiver.requests[-1].body["app"]["origin"])
    # A host only "*" or ".example.org" lets through keeps the origin reported before: the server would allow it
    # for CORS, and such a Host header can be forged.
    assert reported == [
        None,
        "http://myapp.test:8000",
        "http://myapp.test:8000",
        "http://127.0.0.1:8000",
        "http://127.0.0.1:8000",
    ]


def test_records_queries_on_connections_opened_mid_request_in_other_threads(client, recorded):
    response = client.get("/thread/")
    assert response.json() == {"count": 6}
    (query,) = recorded.unit()["queries"]
    assert query["callsite"]["function"] == "work"


def test_records_the_queries_a_thread_pool_runs_for_the_request_and_nothing_else_of_its_context(client, recorded):
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    response = client.get("/thread-pool/")
    assert len(response.json()["titles"]) == 2
    queries = recorded.unit()["queries"]
    assert [q["callsite"]["function"] for q in queries] == ["title_of", "title_of"]
    # Only the unit goes along: the app's own context variables stay as the pool's thread has them.
    theirs = contextvars.ContextVar("theirs", default="unset")
    unit = Unit("block", "pool")

    def in_the_pool():
        return current_unit.get(), theirs.get()

    def submitted_in_a_unit():
        current_unit.set(unit)
        theirs.set("request")
        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(in_the_pool).result()

    assert contextvars.copy_context().run(submitted_in_a_unit) == (unit, "unset")
    # Work that starts after its unit ended (a pool that outlives the request) belongs to no unit.
    unit.finish()
    assert contextvars.copy_context().run(submitted_in_a_unit)[0] is None


def test_installs_the_hook_once_per_connection_and_keeps_the_apps_own_wrappers_working(client, recorded):
    from django.db import connection

    from querysight.django import is_query_hook

    seen = []

    def app_wrapper(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(app_wrapper):
        client.get("/books/1/")
        client.get("/books/1/")
    assert len(seen) == 4
    (hook,) = connection.execute_wrappers
    assert is_query_hook(hook)
    assert len(recorded.units()) == 2


def test_keeps_the_template_line_for_queries_made_by_model_methods_called_from_a_template(client, recorded):
    response = client.get("/authors/")
    assert b"2: Book 0.0, Book 0.1" in response.content
    _authors, *per_author = recorded.unit()["queries"]
    assert len(per_author) == 6
    for count, titles in zip(per_author[::2], per_author[1::2], strict=True):
        assert count["template"] == titles["template"] == {"name": "shop/authors.html", "line": 4}
        assert [f["function"] for f in count["stack"][:2]] == ["titles", "author_list"]
        assert titles["callsite"]["function"] in ("titles", "<listcomp>")
        assert count["callsite"]["line"] != titles["callsite"]["line"]


def test_also_ignores_the_projects_static_and_media_urls(recorded):
    with override_settings(STATIC_URL="/assets/", MEDIA_URL="/uploads/"):
        client = Client()
        client.get("/assets/app.css")
        client.get("/books/1/")
    assert [u["name"] for u in recorded.units()] == ["GET /books/1/"]


def test_records_the_queries_a_streamed_response_makes_after_the_view_returned(client, recorded):
    response = client.get("/books.csv")
    body = b"".join(response.streaming_content)
    response.close()
    assert body.startswith(b"title,author\nBook 0.0,Author 0\n")
    unit = recorded.unit()
    assert unit["id"] == response["X-QuerySight-Unit"]
    assert (unit["route"], unit["status"]) == ("books.csv", 200)
    queries = unit["queries"]
    assert len(queries) == 7
    assert {q["callsite"]["function"] for q in queries} == {"rows"}


def test_records_the_queries_of_an_async_streamed_response(recorded):
    async def fetch():
        response = await AsyncClient().get("/async/books.csv")
        body = b"".join([chunk async for chunk in response.streaming_content])
        return response, body

    response, body = asyncio.run(fetch())
    assert body.count(b"\n") == 7
    unit = recorded.unit()
    assert unit["id"] == response["X-QuerySight-Unit"]
    queries = unit["queries"]
    assert len(queries) == 7
    assert all(q["callsite"]["file"] == "djangoapp/shop/views.py" for q in queries)


def test_finishes_a_streamed_unit_that_the_client_abandons(client, recorded):
    response = client.get("/books.csv")
    next(iter(response.streaming_content))
    response.close()
    unit = recorded.unit()
    assert unit["status"] == 200
    assert len(unit["queries"]) <= 1


def test_a_streamed_response_the_test_never_reads_is_still_recorded(client, recorded):
    # Django's test client closes a stream only once it is read to its end: a test that checked the status alone
    # lost the unit, and with it the N+1 the view made before returning (the CI gate said nothing was recorded).
    before = time.perf_counter()
    response = client.get("/books-prepared.csv")
    returned = time.perf_counter()
    assert response.status_code == 200
    del response
    gc.collect()  # the test client's response refers to itself (response.json): the collector frees it
    unit = recorded.unit()
    assert (unit["route"], unit["status"]) == ("books-prepared.csv", 200)
    assert len(unit["queries"]) == 7  # the books, then each book's author
    assert unit["duration_ms"] <= (returned - before) * 1000  # the request's: not until the collector came by


UNREAD_STREAM_AT_EXIT = """
import os, sys
sys.path.insert(0, sys.argv[1])
os.environ["DJANGO_SETTINGS_MODULE"] = "djangoapp.settings"
import django
django.setup()
from django.test import Client
from django.test.utils import setup_databases
from djangoapp.shop.seed import seed
setup_databases(verbosity=0, interactive=False, aliases={"default"})
seed()
KEPT = Client().get("/books-prepared.csv")  # held until the process exits, never read
print(KEPT.status_code, flush=True)
"""


def test_a_streamed_response_still_held_unread_at_exit_is_recorded(tmp_path):
    out = tmp_path / "exit.ndjson"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUERYSIGHT_", "DJANGO_"))}
    env["QUERYSIGHT_OUTPUT"] = str(out)
    tests = str(Path(__file__).parent)
    result = subprocess.run(
        [sys.executable, "-c", UNREAD_STREAM_AT_EXIT, tests], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "200\n"
    units = [u for batch in read_ndjson(out) for u in batch["units"]]
    assert [(u["name"], u["status"], len(u["queries"])) for u in units] == [("GET /books-prepared.csv", 200, 7)]


def test_the_queries_of_a_stream_read_in_two_steps_have_one_stack(client, recorded):
    # The stack of a query made while the stream is read ends at the stream: the lines of the code reading it (two
    # lines of this test) made two stacks of one loop, which the server then did not see as one.
    response = client.get("/books.csv")
    chunks = iter(response.streaming_content)
    head = [next(chunks), next(chunks)]  # the header and the first row (the books, and the first author)
    rest = list(chunks)
    response.close()
    assert len(head + rest) == 7
    queries = recorded.unit()["queries"]
    stacks = {tuple((frame["file"], frame["line"]) for frame in query["stack"]) for query in queries[1:]}
    assert len(queries) == 7
    assert len(stacks) == 1, stacks
    assert [file for file, _line in stacks.pop()] == ["djangoapp/shop/views.py"]


def test_records_a_connection_that_a_thread_opened_before_querysight_was_set_up(client, recorded):
    import threading

    from django.db import connection

    client.get("/books/1/")  # the middleware is set up here, on this thread
    seen = {}

    def serve() -> None:
        connection.ensure_connection()
        connection.execute_wrappers.clear()  # as if opened before querysight connected its signal
        seen["status"] = client.get("/books/1/").status_code
        connection.close()

    thread = threading.Thread(target=serve)
    thread.start()
    thread.join()
    assert seen["status"] == 200
    first, second = recorded.units()
    assert len(second["queries"]) == len(first["queries"]) > 0


def test_records_a_query_from_a_thread_with_a_shorter_stack_than_the_loop_before_it():
    import contextvars
    import threading

    from django.db import connection

    from djangoapp.shop.models import Book

    def raw_query() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    def loop_then_thread() -> None:
        for _ in range(3):  # a loop of ORM queries: the memo learns how deep this call site's first app frame is
            list(Book.objects.all()[:1])
        # Same unit (its context), same connection object, a stack of a few frames only.
        thread = threading.Thread(target=contextvars.copy_context().run, args=(raw_query,))
        thread.start()
        thread.join()

    sites = sites_of(loop_then_thread)
    assert [site[0] for site in sites][-1] == "SELECT 1"  # the site's SQL
    assert len(sites) == 4


def sites_of(run: Any) -> list[Any]:
    """The sites of the queries ``run()`` makes, recorded in a unit of their own by the hook on a real connection."""
    from django.db import connection

    from querysight.django import instrument
    from querysight.recorder import Unit, current_unit

    instrument()
    connection.ensure_connection()
    instrument()  # the hook goes on connections that exist
    unit = Unit("block", "sites")
    token = current_unit.set(unit)
    try:
        run()
    finally:
        current_unit.reset(token)
    return [q[0] for q in unit.queries]


def rendered_sites(source: str, **context: Any) -> list[Any]:
    from django.template import Context, Template

    template = Template(source)
    return sites_of(lambda: template.render(Context(context)))


def author_name_of(book):
    return book.author.name  # a query per call: the author is not loaded with the book


def test_an_n_plus_one_in_a_helper_is_recorded_at_the_helpers_line_without_a_walk_per_query():
    from djangoapp.shop.models import Book

    books = list(Book.objects.all()[:4])
    assert len(books) == 4
    sites = sites_of(lambda: [author_name_of(book) for book in books])
    assert len(sites) == 4
    assert {site[1][0][2] for site in sites} == {"author_name_of"}  # the innermost application frame
    assert sites[1] is sites[2] is sites[3]  # the walk of the second query, reused


def test_a_template_loop_skips_the_walk_and_gives_each_node_its_own_line():
    from djangoapp.shop.models import Book

    source = "{% for book in books %}\n{{ book.reviews.count }}\n{{ book.reviews.count }}\n{% endfor %}"
    sites = rendered_sites(source, books=list(Book.objects.all()[:3]))
    assert [site[2][1] for site in sites] == [2, 3] * 3  # the same SQL from two nodes: each keeps its own line
    # From the fourth query on, the site of an earlier walk through the same node (the same Site object): no walk.
    assert sites[1] is sites[3] is sites[5] and sites[2] is sites[4]


def test_a_model_method_called_from_a_template_loop_skips_the_walk_from_the_third_turn():
    from djangoapp.shop.models import Author

    authors = list(Author.objects.all()) * 2  # each author twice: four turns or more
    assert len(authors) >= 4
    sites = rendered_sites("{% for author in authors %}\n{{ author.titles }}\n{% endfor %}", authors=authors)
    assert len(sites) == 2 * len(authors)  # Author.titles makes two queries: a count, then the titles
    assert {site[2] for site in sites} == {("<unknown source>", 2)}
    counts = sites[::2]
    assert {site[1][0][2] for site in counts} == {"titles"}
    assert all(site is counts[1] for site in counts[2:])  # the count's path through the template node, reused


def test_a_template_loop_with_nodes_at_two_depths_skips_the_walk_for_both():
    from djangoapp.shop.models import Book

    books = list(Book.objects.all()[:4])
    assert len(books) == 4
    sites = rendered_sites(
        "{% for book in books %}{{ book.author.name }} {{ book.reviews.count }}{% endfor %}", books=books
    )
    assert len(sites) == 8  # an author and a count per book
    authors, counts = sites[::2], sites[1::2]
    assert all(site is authors[1] for site in authors[2:]) and all(site is counts[1] for site in counts[2:])
