"""querysight.wsgi.QuerySightMiddleware on a real Flask app with SQLAlchemy on SQLite: one unit per request, the
header, the overlay rules, errors passing through, and an N+1 read back from the real server."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

import flask_shop
import sa_models
from conftest import Recorded
from helpers import Receiver, until
from querysight import _guard, config, transport
from querysight.sqlalchemy import instrument
from querysight.wsgi import QuerySightMiddleware
from sa_support import fresh_app_info, get_json, seeded_sqlite, uninstrument

__all__ = ["fresh_app_info"]


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    engine = seeded_sqlite(tmp_path_factory.mktemp("flask") / "shop.sqlite3")
    yield engine
    engine.dispose()


@pytest.fixture
def app(engine: Engine) -> Iterator[Flask]:
    instrument(engine, base=sa_models.Base)
    yield flask_shop.create_app(engine)
    uninstrument(engine)


def overlay_tag(unit_id: str, url: str) -> bytes:
    return f'<script src="{url}/overlay.js" data-unit="{unit_id}" async></script>'.encode()


def test_records_a_request_with_its_route_view_status_and_queries(app: Flask, recorded: Recorded) -> None:
    response = app.test_client().get("/books/?page=2", buffered=True)

    assert response.status_code == 200
    unit = recorded.unit()
    assert unit["kind"] == "request"
    assert (unit["name"], unit["method"], unit["path"]) == ("GET /books/", "GET", "/books/?page=2")
    assert (unit["route"], unit["view"], unit["status"]) == ("/books/", "flask_shop.create_app.<locals>.book_list", 200)
    assert unit["duration_ms"] > 0
    assert len(unit["queries"]) == 1 + sa_models.AUTHORS
    assert {q["callsite"]["file"] for q in unit["queries"]} == {"sa_models.py"}
    # Up to the view: the test that made the request is not its queries' caller.
    assert {q["stack"][-1]["function"] for q in unit["queries"]} == {"book_list"}
    assert response.headers["X-QuerySight-Unit"] == unit["id"]


def test_test_client_requests_are_recorded_though_the_test_never_closes_or_reads_the_response(
    app: Flask, recorded: Recorded
) -> None:
    client = app.test_client()
    assert client.get("/books/").status_code == 200  # never read, never closed: dropped at once
    assert client.get("/books/3").get_json() == {"title": "Book 1.0"}  # read to the end, never closed
    kept = client.get("/authors/")  # neither read nor closed while the test goes on
    assert kept.status_code == 200

    # (Handed on by their finalizers: in no particular order.)
    listed, detail = sorted(recorded.units(), key=lambda unit: unit["name"])
    assert (listed["name"], listed["status"], len(listed["queries"])) == ("GET /books/", 200, 1 + sa_models.AUTHORS)
    assert (detail["name"], detail["status"], len(detail["queries"])) == ("GET /books/3", 200, 1)
    del kept
    assert sorted(u["name"] for u in recorded.units()) == ["GET /authors/", "GET /books/", "GET /books/3"]


def test_queries_run_when_the_server_closes_the_body_belong_to_the_request(app: Flask, recorded: Recorded) -> None:
    assert app.test_client().get("/closing/", buffered=True).get_data() == b"closing"  # read, then closed

    [query] = recorded.unit()["queries"]
    assert query["sql"] == "SELECT count(*) FROM books"


def test_a_body_collected_in_a_reference_cycle_ends_its_unit_without_taking_a_lock_the_collector_may_hold(
    app: Flask, recorded: Recorded
) -> None:
    response = app.test_client().get("/books/")
    response.itself = response  # type: ignore[attr-defined]  # only the cycle collector can free it now
    del response
    collected = threading.Event()

    def collect_while_the_transport_is_locked() -> None:
        with transport.transport._idle:  # as when a collection starts inside the agent's own locked section
            gc.collect()
        collected.set()

    worker = threading.Thread(target=collect_while_the_transport_is_locked, daemon=True)
    worker.start()
    if not collected.wait(10):
        transport.transport._idle.release()  # (a plain Lock: any thread may release it) so that teardown can flush
        pytest.fail("the body's finalizer waited on a lock held by the collecting thread")
    assert [u["name"] for u in recorded.units()] == ["GET /books/"]


def test_the_flask_app_is_found_under_wsgi_middleware_that_wraps_it_first(engine: Engine, recorded: Recorded) -> None:
    from werkzeug.middleware.proxy_fix import ProxyFix

    app = flask_shop.create_app(engine)
    app.wsgi_app = ProxyFix(app.wsgi_app.app)  # type: ignore[attr-defined,method-assign]  # without querysight's
    app.wsgi_app = QuerySightMiddleware(app.wsgi_app)  # type: ignore[method-assign]  # then around the proxy fix
    instrument(engine, base=sa_models.Base)
    try:
        response = app.test_client().get("/books/", buffered=True)
    finally:
        uninstrument(engine)

    assert response.headers["X-QuerySight-Unit"]
    unit = recorded.unit()
    assert (unit["route"], unit["view"]) == ("/books/", "flask_shop.create_app.<locals>.book_list")


def test_queries_made_while_a_flask_template_renders_carry_the_templates_line(
    engine: Engine, recorded: Recorded, tmp_path: Any
) -> None:
    from flask import render_template
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    page = "<ul>\n{% for book in books %}\n<li>{{ book.author.name }}</li>\n{% endfor %}\n</ul>"
    (tmp_path / "books.html").write_text(page)
    app = Flask("templated", template_folder=str(tmp_path))

    @app.get("/books/")
    def books() -> str:
        with Session(engine) as session:
            return render_template("books.html", books=session.scalars(select(sa_models.Book)).all())

    app.wsgi_app = QuerySightMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    instrument(engine, base=sa_models.Base)
    try:
        assert app.test_client().get("/books/", buffered=True).status_code == 200
    finally:
        uninstrument(engine)

    lazy = recorded.unit()["queries"][1:]
    assert len(lazy) == sa_models.AUTHORS
    assert {q["template"]["name"] for q in lazy} == {"books.html"} and {q["template"]["line"] for q in lazy} == {3}
    assert {q["callsite"]["function"] for q in lazy} == {"books"}  # the view that rendered it


def test_under_a_dispatcher_the_default_app_is_the_flask_app_and_a_mounted_apps_views_are_not_its(
    recorded: Recorded,
) -> None:
    from werkzeug.middleware.dispatcher import DispatcherMiddleware
    from werkzeug.test import Client

    def front_index() -> str:
        return "front"

    front, api = Flask("front"), Flask("api")
    front.add_url_rule("/", "index", front_index)
    api.add_url_rule("/", "index", lambda: "api")
    front.wsgi_app = DispatcherMiddleware(front.wsgi_app, {"/api": api.wsgi_app})  # type: ignore[method-assign]
    client = Client(QuerySightMiddleware(front.wsgi_app))
    assert client.get("/", buffered=True).get_data() == b"front"
    assert client.get("/api/", buffered=True).get_data() == b"api"

    served_by_front, served_by_api = recorded.units()
    assert served_by_front["view"] == f"{__name__}.{front_index.__qualname__}"  # the default app is found
    assert (served_by_api["route"], served_by_api["view"]) == ("/", "index")  # the endpoint, not front's function


def test_a_route_with_a_converter_is_recorded_as_its_url_rule(app: Flask, recorded: Recorded) -> None:
    client = app.test_client()
    assert client.get("/books/3", buffered=True).json == {"title": "Book 1.0"}
    assert client.get("/books/999", buffered=True).status_code == 404
    assert client.get("/nowhere/", buffered=True).status_code == 404

    found, missing, unknown = recorded.units()
    assert (found["route"], found["status"], found["name"]) == ("/books/<int:book_id>", 200, "GET /books/3")
    assert (missing["route"], missing["status"]) == ("/books/<int:book_id>", 404)
    assert (unknown["route"], unknown["view"], unknown["status"], unknown["queries"]) == (None, None, 404, [])


def test_the_app_described_to_the_server_is_the_flask_app(app: Flask, recorded: Recorded) -> None:
    app.test_client().get("/books/1", base_url="http://shop.localhost:5000", buffered=True)

    [batch] = recorded.batches()
    assert (batch["app"]["framework"], batch["app"]["name"]) == ("flask", "flask_shop")
    assert batch["app"]["origin"] == "http://shop.localhost:5000"
    assert "sa_models.Book" in {m["model"] for m in batch["schema"]["models"]}


def test_the_overlay_goes_before_the_last_body_tag_with_a_fixed_content_length(app: Flask, receiver: Receiver) -> None:
    config.configure(overlay=True)
    response = app.test_client().get("/books/", buffered=True)

    unit_id = response.headers["X-QuerySight-Unit"]
    body = response.get_data()
    assert body.endswith(overlay_tag(unit_id, receiver.url) + b"</body></html>")
    assert int(response.headers["Content-Length"]) == len(body)
    assert body.count(b"<li>") == sa_models.AUTHORS * sa_models.BOOKS_PER_AUTHOR
    assert until(lambda: [u for u in receiver.units() if u["id"] == unit_id], what="the unit")[0]["status"] == 200


def test_the_overlay_is_left_out_while_the_server_does_not_answer(app: Flask, receiver: Receiver) -> None:
    config.configure(overlay=True)
    receiver.mode = "error"
    app.test_client().get("/books/", buffered=True)
    assert not transport.flush(0.3)
    down = app.test_client().get("/books/", buffered=True)
    assert b"overlay.js" not in down.get_data()
    assert int(down.headers["Content-Length"]) == len(down.get_data())
    receiver.mode = "ok"
    assert transport.flush(5.0)
    back = app.test_client().get("/books/", buffered=True)
    assert overlay_tag(back.headers["X-QuerySight-Unit"], receiver.url) in back.get_data()


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("/stream/", "a streamed body"),
        ("/gzip/", "a compressed body"),
        ("/fragment/", "HTML without </body>"),
        ("/authors/", "JSON"),
    ],
)
def test_the_overlay_leaves_other_responses_untouched(app: Flask, receiver: Receiver, path: str, why: str) -> None:
    config.configure(overlay=True)
    response = app.test_client().get(path)

    assert b"overlay.js" not in response.get_data(), why
    assert response.headers["X-QuerySight-Unit"]
    if "Content-Length" in response.headers:
        assert int(response.headers["Content-Length"]) == len(response.get_data())


def test_the_overlay_leaves_a_partial_answer_to_a_range_request_untouched(app: Flask, receiver: Receiver) -> None:
    config.configure(overlay=True)
    response = app.test_client().get("/document/", headers={"Range": "bytes=200-"})

    assert response.status_code == 206
    assert response.get_data() == flask_shop.DOCUMENT[200:]
    assert response.headers["Content-Range"] == f"bytes 200-{len(flask_shop.DOCUMENT) - 1}/{len(flask_shop.DOCUMENT)}"
    assert response.headers["X-QuerySight-Unit"]
    whole = app.test_client().get("/document/")  # the same document asked for whole gets the overlay
    assert b"overlay.js" in whole.get_data()


def test_the_overlay_and_the_console_line_follow_flask_debug_mode_by_default(
    engine: Engine, receiver: Receiver, capfd: pytest.CaptureFixture[str]
) -> None:
    instrument(engine)
    try:
        debug_app, quiet_app = flask_shop.create_app(engine), flask_shop.create_app(engine)
        debug_app.debug = True
        with_overlay = debug_app.test_client().get("/books/", buffered=True).get_data()
        in_debug = capfd.readouterr().err
        config.invalidate()
        without = quiet_app.test_client().get("/books/", buffered=True).get_data()
        quiet = capfd.readouterr().err
    finally:
        uninstrument(engine)

    assert b"/overlay.js" in with_overlay
    assert b"/overlay.js" not in without
    assert "[querysight] GET /books/ 200 " in in_debug
    assert "[querysight]" not in quiet


def test_a_streamed_body_records_the_queries_made_while_it_is_iterated(app: Flask, recorded: Recorded) -> None:
    response = app.test_client().get("/stream/", buffered=True)

    assert response.get_data().count(b"<li>") == sa_models.AUTHORS * sa_models.BOOKS_PER_AUTHOR
    unit = recorded.unit()
    assert (unit["route"], unit["status"]) == ("/stream/", 200)
    [query] = unit["queries"]
    assert query["sql"].startswith("SELECT books.title")
    assert query["callsite"] == {"file": "flask_shop.py", "line": query["callsite"]["line"], "function": "rows"}


def test_the_stack_of_a_query_made_while_a_body_is_read_ends_at_the_body(app: Flask, recorded: Recorded) -> None:
    # Werkzeug's client reads a stream's first chunk inside get(), the test the rest: with the reading code's lines in
    # the stacks, the queries of one loop in the stream had two stacks, and the server saw no loop.
    response = app.test_client().get("/stream/")
    assert response.get_data().count(b"<li>") == sa_models.AUTHORS * sa_models.BOOKS_PER_AUTHOR
    response.close()
    [query] = recorded.unit()["queries"]
    assert [frame["file"] for frame in query["stack"]] == ["flask_shop.py"]


def test_an_exception_of_the_app_passes_through_unchanged_and_the_unit_still_finishes(
    app: Flask, recorded: Recorded
) -> None:
    app.testing = True  # Flask re-raises the view's exception instead of answering 500
    with pytest.raises(OperationalError, match="no such table: no_such_table"):
        app.test_client().get("/broken/", buffered=True)

    unit = recorded.unit()
    assert (unit["name"], unit["status"]) == ("GET /broken/", 500)
    assert (unit["route"], unit["view"]) == ("/broken/", "flask_shop.create_app.<locals>.broken")  # debug mode too
    [query] = unit["queries"]
    assert "no such table: no_such_table" in query["error"]
    assert unit["meta"]["error"].startswith("OperationalError: (sqlite3.OperationalError) no such table: no_such_table")


def test_a_500_answered_by_flask_is_recorded_with_its_status(app: Flask, recorded: Recorded) -> None:
    response = app.test_client().get("/broken/", buffered=True)

    assert response.status_code == 500
    unit = recorded.unit()
    assert (unit["status"], unit["route"]) == (500, "/broken/")
    assert unit["meta"]["error"].startswith("OperationalError: (sqlite3.OperationalError) no such table")
    assert response.headers["X-QuerySight-Unit"] == unit["id"]


def test_ignored_paths_are_not_recorded_and_get_no_header(app: Flask, recorded: Recorded) -> None:
    app.config["QUERYSIGHT"] = {"IGNORE_PATHS": ["/static/", "/books/*"]}
    client = app.test_client()
    assert "X-QuerySight-Unit" not in client.get("/static/logo.txt", buffered=True).headers
    assert "X-QuerySight-Unit" not in client.get("/books/2", buffered=True).headers
    client.get("/authors/", buffered=True)

    assert [u["name"] for u in recorded.units()] == ["GET /authors/"]


def test_nothing_is_recorded_when_querysight_is_off(app: Flask) -> None:
    response = app.test_client().get("/books/", buffered=True)

    assert response.status_code == 200
    assert "X-QuerySight-Unit" not in response.headers
    assert transport.flush(1.0)
    assert transport.transport.sent_batches == 0


# ---- any WSGI app -------------------------------------------------------------------------------------------------


def test_a_plain_wsgi_app_using_write_gets_the_overlay_and_the_unit_ends_with_the_response(
    receiver: Receiver,
) -> None:
    from werkzeug.test import Client

    config.configure(overlay=True)
    page = b"<html><body>hello</body></html>"

    def legacy_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        write = start_response(
            "200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(page)))]
        )
        write(page[:10])
        return [page[10:]]

    response = Client(QuerySightMiddleware(legacy_app)).get("/hello/", buffered=True)

    unit_id = response.headers["X-QuerySight-Unit"]
    assert response.get_data() == b"<html><body>hello" + overlay_tag(unit_id, receiver.url) + b"</body></html>"
    assert int(response.headers["Content-Length"]) == len(response.get_data())
    unit = until(lambda: receiver.units(), what="the unit")[0]
    assert (unit["name"], unit["status"], unit["route"]) == ("GET /hello/", 200, None)


def test_a_body_iterable_is_closed_exactly_once(recorded: Recorded) -> None:
    from werkzeug.test import Client

    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"a"
            yield b"b"

        def close(self) -> None:
            closed.append(True)

    def app(environ: dict[str, Any], start_response: Any) -> Body:
        start_response("201 Created", [("Content-Type", "text/plain")])
        return Body()

    response = Client(QuerySightMiddleware(app)).get("/made/", buffered=True)

    assert (response.status_code, response.get_data()) == (201, b"ab")
    assert closed == [True]
    assert recorded.unit()["status"] == 201


# ---- end to end ---------------------------------------------------------------------------------------------------


def test_the_server_finds_the_n_plus_one_of_a_flask_request_and_suggests_an_eager_load(
    app: Flask, querysight_server: str
) -> None:
    config.configure(url=querysight_server, batch_interval=0.02)
    client = app.test_client()
    authors_id = client.get("/authors/", buffered=True).headers["X-QuerySight-Unit"]
    books_id = client.get("/books/", buffered=True).headers["X-QuerySight-Unit"]
    assert transport.flush(10.0)

    def finding(unit_id: str) -> dict[str, Any]:
        unit = get_json(f"{querysight_server}/api/v1/units/{unit_id}")["unit"]
        [found] = [f for f in unit["findings"] if f["kind"] == "n_plus_one"]
        return found

    reverse = finding(authors_id)
    assert reverse["count"] == sa_models.AUTHORS
    assert reverse["suggestion"]["code"] == "select(Author).options(selectinload(Author.books))"
    assert reverse["callsite"]["file"] == "sa_models.py"
    forward = finding(books_id)
    assert forward["count"] == sa_models.AUTHORS
    assert forward["suggestion"]["code"] == "select(Book).options(joinedload(Book.author))"


def test_the_app_answers_unchanged_when_the_agent_fails_inside(
    app: Flask, recorded: Recorded, monkeypatch: pytest.MonkeyPatch, swallow_internal_errors: list[Any]
) -> None:
    from querysight.recorder import Unit

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected agent failure")

    client = app.test_client()
    monkeypatch.setattr(Unit, "record", broken)
    recorded_response = client.get("/books/", buffered=True)
    monkeypatch.setattr(Unit, "__init__", broken)
    unrecorded_response = client.get("/books/", buffered=True)

    assert recorded_response.status_code == unrecorded_response.status_code == 200
    assert recorded_response.get_data() == unrecorded_response.get_data()
    assert {what for what, _ in _guard.swallowed()} == {"record a query", "start a request unit"}


def test_a_real_werkzeug_server_serves_the_header_the_overlay_and_records_the_request(
    app: Flask, receiver: Receiver
) -> None:
    import threading
    import urllib.request

    from werkzeug.serving import make_server

    config.configure(overlay=True)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/books/", timeout=10) as response:
            body, unit_id = response.read(), response.headers["X-QuerySight-Unit"]
            length = int(response.headers["Content-Length"])
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/stream/", timeout=10) as response:
            streamed = response.read()
    finally:
        server.shutdown()
        thread.join(10)

    assert body.endswith(overlay_tag(unit_id, receiver.url) + b"</body></html>")
    assert length == len(body)
    assert b"overlay.js" not in streamed
    units = until(lambda: len(receiver.units()) == 2 and receiver.units(), what="both units")
    assert [(u["route"], u["status"]) for u in units] == [("/books/", 200), ("/stream/", 200)]
    assert len(units[1]["queries"]) == 1


def test_the_origin_follows_the_host_of_the_pages_but_only_to_loopback_names(app: Flask, receiver: Receiver) -> None:
    import querysight

    client = app.test_client()
    origins = []
    for base_url in ("http://localhost:5000", "http://evil.example", "http://127.0.0.1:5001", "http://[::1]:5002"):
        client.get("/books/1", base_url=base_url, buffered=True)
        assert querysight.flush(5)
        origins.append(receiver.requests[-1].body["app"]["origin"])

    assert origins == ["http://localhost:5000", "http://localhost:5000", "http://127.0.0.1:5001", "http://[::1]:5002"]
