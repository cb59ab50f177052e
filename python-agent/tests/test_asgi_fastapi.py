"""querysight.asgi.QuerySightMiddleware on a real FastAPI app with a sync SQLAlchemy engine (SQLite) and an async one
(aiosqlite): one unit per HTTP request from sync and async endpoints, the header, the overlay rules, lifespan and
websockets untouched, errors passing through."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

import fastapi_shop
import sa_models
from conftest import Recorded
from helpers import Receiver, until
from querysight import _guard, config, transport
from querysight.sqlalchemy import instrument
from sa_support import fresh_app_info, get_json, seeded_sqlite, uninstrument

__all__ = ["fresh_app_info"]


@pytest.fixture(scope="module")
def db_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fastapi") / "shop.sqlite3"
    seeded_sqlite(path).dispose()
    return path


@pytest.fixture
def engines(db_path: Path) -> Iterator[tuple[Any, Any]]:
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{db_path}")
    async_engine = create_async_engine(f"sqlite+aiosqlite:///{db_path}", poolclass=NullPool)
    instrument(engine, name="sync", base=sa_models.Base)
    instrument(async_engine, name="async")
    yield engine, async_engine
    uninstrument(engine)
    uninstrument(async_engine)
    engine.dispose()


def make_app(engines: tuple[Any, Any], **options: Any) -> Any:
    return fastapi_shop.create_app(*engines, **options)


def overlay_tag(unit_id: str, url: str) -> bytes:
    return f'<script src="{url}/overlay.js" data-unit="{unit_id}" async></script>'.encode()


def test_a_sync_endpoint_records_its_queries_made_in_the_thread_pool(engines: Any, recorded: Recorded) -> None:
    response = TestClient(make_app(engines)).get("/books/?page=2")

    assert response.status_code == 200
    unit = recorded.unit()
    assert (unit["name"], unit["method"], unit["path"]) == ("GET /books/", "GET", "/books/?page=2")
    assert (unit["route"], unit["view"], unit["status"]) == (
        "/books/",
        "fastapi_shop.create_app.<locals>.book_list",
        200,
    )
    assert response.headers["X-QuerySight-Unit"] == unit["id"]
    queries = unit["queries"]
    assert len(queries) == 1 + sa_models.AUTHORS
    assert {q["db"] for q in queries} == {"sync"}
    assert queries[0]["callsite"]["function"] == "titles_with_authors"
    assert [f["function"] for f in queries[0]["stack"]][:2] == ["titles_with_authors", "book_list"]


def test_an_async_endpoint_records_async_session_queries_with_the_endpoint_as_call_site(
    engines: Any, recorded: Recorded
) -> None:
    response = TestClient(make_app(engines)).get("/async/books/")

    assert len(response.json()) == sa_models.AUTHORS * sa_models.BOOKS_PER_AUTHOR
    unit = recorded.unit()
    assert (unit["route"], unit["view"]) == ("/async/books/", "fastapi_shop.create_app.<locals>.async_book_list")
    queries = unit["queries"]
    assert len(queries) == 1 + sa_models.AUTHORS
    assert {q["db"] for q in queries} == {"async"}
    assert {(q["callsite"]["file"], q["callsite"]["function"]) for q in queries[1:]} == {
        ("fastapi_shop.py", "<listcomp>")
    }
    assert [q["params"] for q in queries[1:]] == [[1], [2], [3], [4]]


def test_routes_are_recorded_as_their_path_patterns_with_their_status(engines: Any, recorded: Recorded) -> None:
    client = TestClient(make_app(engines))
    assert client.get("/books/3").json() == {"title": "Book 1.0"}
    assert client.get("/books/999").status_code == 404
    assert client.get("/api/items/7").json() == {"item": "7"}
    assert client.get("/nowhere/").status_code == 404
    assert client.get("/chunked/").status_code == 200  # a Starlette Route: FastAPI's router does not name it

    found, missing, mounted, unknown, starlette_route = recorded.units()
    assert (found["route"], found["status"], found["name"]) == ("/books/{book_id}", 200, "GET /books/3")
    assert (missing["route"], missing["status"]) == ("/books/{book_id}", 404)
    assert (mounted["route"], mounted["status"]) == ("/api/items/{item_id}", 200)
    assert (unknown["route"], unknown["status"]) == (None, 404)
    assert (starlette_route["route"], starlette_route["status"]) == ("/chunked/", 200)


def test_the_app_is_described_as_fastapi_with_its_schema(engines: Any, recorded: Recorded) -> None:
    TestClient(make_app(engines), base_url="http://127.0.0.1:8000").get("/books/1")

    [batch] = recorded.batches()
    assert batch["app"]["framework"] == "fastapi"
    assert batch["app"]["origin"] == "http://127.0.0.1:8000"
    assert "sa_models.Author" in {m["model"] for m in batch["schema"]["models"]}


def test_the_wrapped_app_keeps_its_attributes_for_the_code_that_uses_it(recorded: Recorded) -> None:
    from fastapi import APIRouter, FastAPI

    from querysight.asgi import QuerySightMiddleware

    app = QuerySightMiddleware(FastAPI())
    app.state.started = "yes"  # FastAPI's app.state, dependency_overrides, include_router, through the wrapper
    router = APIRouter()
    router.add_api_route("/ping", lambda: {"pong": app.state.started})
    app.include_router(router)
    assert app.dependency_overrides == {}
    app.title = "Shop API"  # set on the app itself, as FastAPI's docs do (app.openapi = ..., dependency_overrides = {})
    with TestClient(app) as client:
        assert client.get("/ping").json() == {"pong": "yes"}
        assert client.get("/openapi.json").json()["info"]["title"] == "Shop API"
    assert [unit["route"] for unit in recorded.units()] == ["/ping", "/openapi.json"]


def test_wrapping_the_app_from_outside_works_the_same(engines: Any, recorded: Recorded) -> None:
    response = TestClient(make_app(engines, wrap=True)).get("/books/2")

    unit = recorded.unit()
    assert response.headers["X-QuerySight-Unit"] == unit["id"]
    assert (unit["route"], unit["status"], len(unit["queries"])) == ("/books/{book_id}", 200, 1)
    assert transport.app.framework == "fastapi"


def test_the_overlay_goes_into_complete_html_with_a_fixed_content_length(engines: Any, receiver: Receiver) -> None:
    config.configure(overlay=True)
    client = TestClient(make_app(engines))

    for path, ending in [("/books/", b"</ul></body></html>"), ("/chunked/", b"chunks</body></html>")]:
        response = client.get(path)
        unit_id = response.headers["X-QuerySight-Unit"]
        assert response.content.endswith(overlay_tag(unit_id, receiver.url) + b"</body></html>"), path
        assert ending.replace(b"</body></html>", b"") in response.content
        assert int(response.headers["content-length"]) == len(response.content)


@pytest.mark.parametrize(
    ("path", "why"), [("/stream/", "a streamed body"), ("/books/1", "JSON"), ("/partial/", "206 Partial Content")]
)
def test_the_overlay_leaves_other_responses_untouched(engines: Any, receiver: Receiver, path: str, why: str) -> None:
    config.configure(overlay=True)
    response = TestClient(make_app(engines)).get(path)

    assert b"overlay.js" not in response.content, why
    assert response.headers["X-QuerySight-Unit"]


def test_the_overlay_and_the_console_line_follow_the_app_debug_flag_by_default(
    engines: Any, receiver: Receiver, capfd: pytest.CaptureFixture[str]
) -> None:
    with_overlay = TestClient(make_app(engines, debug=True)).get("/books/").content
    in_debug = capfd.readouterr().err
    config.invalidate()
    without = TestClient(make_app(engines, debug=False)).get("/books/").content
    quiet = capfd.readouterr().err

    assert b"/overlay.js" in with_overlay
    assert b"/overlay.js" not in without
    assert "[querysight] GET /books/ 200 " in in_debug
    assert "[querysight]" not in quiet


def test_an_exception_of_the_app_passes_through_unchanged_and_the_unit_still_finishes(
    engines: Any, recorded: Recorded
) -> None:
    with pytest.raises(OperationalError, match="no such table: no_such_table"):
        TestClient(make_app(engines)).get("/broken/")

    unit = recorded.unit()
    assert (unit["route"], unit["status"]) == ("/broken/", 500)
    [query] = unit["queries"]
    assert (query["db"], query["callsite"]["function"]) == ("async", "broken")
    assert "no such table: no_such_table" in query["error"]
    assert unit["meta"]["error"].startswith("OperationalError: (sqlite3.OperationalError) no such table")


def test_a_500_answered_to_the_client_is_recorded_with_its_status(engines: Any, recorded: Recorded) -> None:
    response = TestClient(make_app(engines), raise_server_exceptions=False).get("/broken/")

    assert response.status_code == 500
    unit = recorded.unit()
    assert unit["status"] == 500
    assert unit["meta"]["error"].startswith("OperationalError: (sqlite3.OperationalError) no such table")


def test_lifespan_and_websockets_pass_through_and_are_not_recorded(engines: Any, recorded: Recorded) -> None:
    app = make_app(engines)
    with TestClient(app) as client:
        assert app.state.events == ["startup"]
        with client.websocket_connect("/ws") as ws:
            ws.send_text("ping")
            assert ws.receive_text() == "ping"
        client.get("/books/1")
    assert app.state.events == ["startup", "shutdown"]

    assert [u["name"] for u in recorded.units()] == ["GET /books/1"]


def test_queries_of_background_tasks_belong_to_the_request(engines: Any, recorded: Recorded) -> None:
    assert TestClient(make_app(engines)).post("/visits/").json() == {"ok": True}

    unit = recorded.unit()
    assert (unit["name"], unit["status"]) == ("POST /visits/", 200)
    assert [q["sql"] for q in unit["queries"]] == ["SELECT count(*) FROM books"]


def test_ignored_paths_are_not_recorded(engines: Any, recorded: Recorded) -> None:
    config.configure(ignore_paths=["/api/", "/books/*"])
    client = TestClient(make_app(engines))
    assert "X-QuerySight-Unit" not in client.get("/api/items/1").headers
    assert "X-QuerySight-Unit" not in client.get("/books/1").headers
    client.get("/async/books/")

    assert [u["name"] for u in recorded.units()] == ["GET /async/books/"]


def test_nothing_is_recorded_when_querysight_is_off(engines: Any) -> None:
    response = TestClient(make_app(engines)).get("/books/1")

    assert response.status_code == 200
    assert "X-QuerySight-Unit" not in response.headers
    assert transport.flush(1.0)
    assert transport.transport.sent_batches == 0


def test_the_server_finds_the_n_plus_one_of_an_async_endpoint(engines: Any, querysight_server: str) -> None:
    config.configure(url=querysight_server, batch_interval=0.02)
    unit_id = TestClient(make_app(engines)).get("/async/books/").headers["X-QuerySight-Unit"]
    assert transport.flush(10.0)

    unit = until(lambda: get_json(f"{querysight_server}/api/v1/units/{unit_id}")["unit"], what="the unit")
    [finding] = [f for f in unit["findings"] if f["kind"] == "n_plus_one"]
    assert finding["count"] == sa_models.AUTHORS
    assert finding["suggestion"]["code"] == "select(Book).options(joinedload(Book.author))"
    assert unit["route"] == "/async/books/"


def test_the_app_answers_unchanged_when_the_agent_fails_inside(
    engines: Any, recorded: Recorded, monkeypatch: pytest.MonkeyPatch, swallow_internal_errors: list[Any]
) -> None:
    from querysight.recorder import Unit

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("injected agent failure")

    client = TestClient(make_app(engines))
    monkeypatch.setattr(Unit, "record", broken)
    recorded_response = client.get("/async/books/")
    monkeypatch.setattr(Unit, "__init__", broken)
    unrecorded_response = client.get("/async/books/")

    assert recorded_response.status_code == unrecorded_response.status_code == 200
    assert recorded_response.json() == unrecorded_response.json()
    assert {what for what, _ in _guard.swallowed()} == {"record a query", "start a request unit"}


def test_a_real_uvicorn_server_serves_the_header_the_overlay_and_records_the_request(
    engines: Any, receiver: Receiver
) -> None:
    import threading
    import urllib.request

    import uvicorn

    config.configure(overlay=True)
    server = uvicorn.Server(uvicorn.Config(make_app(engines), port=0, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        until(lambda: server.started, what="uvicorn to start")
        port = server.servers[0].sockets[0].getsockname()[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/books/", timeout=10) as response:
            body, unit_id = response.read(), response.headers["X-QuerySight-Unit"]
            length = int(response.headers["Content-Length"])
    finally:
        server.should_exit = True
        thread.join(10)

    assert body.endswith(overlay_tag(unit_id, receiver.url) + b"</body></html>")
    assert length == len(body)
    unit = until(lambda: next((u for u in receiver.units() if u["id"] == unit_id), None), what="the unit")
    assert (unit["route"], unit["status"], len(unit["queries"])) == ("/books/", 200, 1 + sa_models.AUTHORS)


def test_the_origin_follows_the_host_of_the_pages_but_only_to_loopback_names(engines: Any, receiver: Any) -> None:
    import querysight

    app = make_app(engines)
    origins = []
    for base_url in ("http://shop.localhost:8000", "http://evil.example:8000", "http://127.0.0.2:8001"):
        TestClient(app, base_url=base_url).get("/books/1")
        assert querysight.flush(5)
        origins.append(receiver.requests[-1].body["app"]["origin"])

    assert origins == ["http://shop.localhost:8000", "http://shop.localhost:8000", "http://127.0.0.2:8001"]


def test_a_lifespan_shutdown_does_not_wait_for_a_server_that_refuses_and_says_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A test client per test runs the lifespan each time: with the server down, no test may wait out the timeout.
    import time

    from fastapi import FastAPI

    from querysight.asgi import QuerySightMiddleware

    config.configure(url="http://127.0.0.1:9", enabled=True, exit_flush_timeout=30.0, batch_interval=0.01)
    app = QuerySightMiddleware(FastAPI())
    started = time.monotonic()
    for _ in range(3):
        with TestClient(app) as client:
            client.get("/nothing-here")
    assert time.monotonic() - started < 15  # far below the 30 s a wait for the timeout would take
    said = [r.getMessage() for r in caplog.records if "before the server shut down" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("querysight: 1 unit was not delivered to http://127.0.0.1:9")


SHUTDOWN_APP = """
import querysight
from querysight.asgi import QuerySightMiddleware
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

querysight.configure(batch_interval=30)  # the unit waits in the queue: only a flush before the end can deliver it


async def hello(request):
    return PlainTextResponse("hi")


app = QuerySightMiddleware(Starlette(routes=[Route("/hello", hello)]))
"""


def test_units_waiting_when_uvicorn_stops_are_delivered_at_the_lifespan_shutdown(
    tmp_path: Path, querysight_server: str
) -> None:
    # uvicorn re-raises SIGTERM once it has shut down, so the process ends without running atexit.
    import os
    import signal
    import socket
    import subprocess
    import sys
    import urllib.request

    (tmp_path / "shutdown_app.py").write_text(SHUTDOWN_APP)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUERYSIGHT_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "shutdown_app:app", "--port", str(port), "--log-level", "warning"],
        env={**env, "QUERYSIGHT_URL": querysight_server},
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:

        def answered() -> Any:
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=2)
            except OSError:
                return None

        response = until(answered, timeout=30, what="uvicorn to answer")
        unit_id = response.headers["X-QuerySight-Unit"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == -signal.SIGTERM  # ended by the signal: atexit did not run
    finally:
        if proc.poll() is None:
            proc.kill()
    with urllib.request.urlopen(f"{querysight_server}/api/v1/units/{unit_id}", timeout=5) as stored:
        assert stored.status == 200


def test_queries_of_tasks_gathered_behind_a_base_http_middleware_carry_the_line_that_gathered_them(
    engines: Any, recorded: Recorded
) -> None:
    # Starlette's BaseHTTPMiddleware runs the rest of the app in a task of its own: the endpoint's task, not the
    # one querysight's middleware runs in, is the one that awaits the gathered tasks.
    import asyncio

    from fastapi import FastAPI
    from sqlalchemy.ext.asyncio import AsyncSession
    from starlette.middleware.base import BaseHTTPMiddleware

    from querysight.asgi import QuerySightMiddleware

    async_engine = engines[1]
    app = FastAPI()

    async def passing(request: Any, call_next: Any) -> Any:
        return await call_next(request)

    async def title(book_id: int) -> str:
        async with AsyncSession(async_engine) as db:
            book = await db.get(sa_models.Book, book_id)
        return book.title

    @app.get("/gathered/")
    async def gathered() -> list[str]:
        return list(await asyncio.gather(title(1), title(2)))

    app.add_middleware(BaseHTTPMiddleware, dispatch=passing)
    app.add_middleware(QuerySightMiddleware)
    assert TestClient(app).get("/gathered/").status_code == 200
    stacks = [[(f["function"], f["line"]) for f in q["stack"]] for q in recorded.unit()["queries"]]
    line = gathered.__code__.co_firstlineno
    assert stacks == [[("title", title.__code__.co_firstlineno + 2), ("gathered", line + 2)]] * 2
