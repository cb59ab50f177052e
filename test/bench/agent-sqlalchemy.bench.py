"""Agent overhead on the SQLAlchemy path: a Flask view making 200 primary-key lookups (Session.get) on SQLite,
called through WSGI, timed side by side.

Variants, interleaved request by request (in a new order each round) so machine noise hits them all alike (each
has its own engine on the same SQLite file, so switching costs nothing):
- plain: the app with no querysight at all (no middleware, no engine events);
- agent, server up: QuerySightMiddleware + instrument(engine), sending to a real querysight server;
- agent, server down: the same, pointed at a port where nothing listens;
- full stacks: a django-debug-toolbar-style recorder on the same engine events keeping traceback.extract_stack()
  for every query.

Each variant runs in several fresh processes beside "plain" (see agent_bench_support). Figures: the request time of
each variant and its ratio to plain, and the ratio of the request thread's own CPU time (time.thread_time, which
leaves out the agent's sender thread and the server) with the difference per query; and, with the server up, the
sender thread's CPU per request and the ratio of the request thread's CPU plus the sender's to plain.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python-agent" / "tests"))
for _name in [n for n in os.environ if n.startswith("QUERYSIGHT_")]:
    del os.environ[_name]

import agent_bench_support
import querysight
import sa_models
from agent_bench_support import (
    closed_port_url,
    report_samples,
    run_rounds,
)
from flask import Flask
from querysight import config
from querysight.sqlalchemy import instrument
from querysight.wsgi import QuerySightMiddleware
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session
from werkzeug.test import EnvironBuilder

QUERIES = 200
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))


class FullStackRecorder:
    """What django-debug-toolbar's SQL panel does per query, on SQLAlchemy's events: time it and keep the whole
    stack with source lines."""

    def __init__(self, engine: Engine) -> None:
        self.queries: list[tuple[str, Any, float, traceback.StackSummary]] = []
        self.started: dict[int, float] = {}
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)

    def before(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        params: Any,
        context: Any,
        many: bool,
    ) -> None:
        self.started[id(context)] = time.perf_counter()

    def after(
        self,
        conn: Any,
        cursor: Any,
        statement: str,
        params: Any,
        context: Any,
        many: bool,
    ) -> None:
        start = self.started.pop(id(context), time.perf_counter())
        self.queries.append(
            (statement, params, time.perf_counter() - start, traceback.extract_stack())
        )


def make_app(engine: Engine, *, with_agent: bool) -> Any:
    app = Flask("bench_shop")
    book_ids = list(range(1, sa_models.AUTHORS * sa_models.BOOKS_PER_AUTHOR + 1))

    @app.get("/lookups/")
    def lookups() -> dict[str, int]:
        found = 0
        with Session(engine) as session:
            for i in range(QUERIES):
                session.expunge_all()  # every get() goes to the database
                found += (
                    session.get(sa_models.Book, book_ids[i % len(book_ids)]) is not None
                )
        return {"found": found}

    if with_agent:
        app.wsgi_app = QuerySightMiddleware(app.wsgi_app)  # type: ignore[method-assign]
    return app


def call(app: Any, environ: dict[str, Any]) -> tuple[float, float]:
    statuses: list[str] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Any:
        statuses.append(status)
        return lambda data: None

    wall, cpu = time.perf_counter(), time.thread_time()
    body = app(dict(environ, **{"wsgi.input": io.BytesIO()}), start_response)
    try:
        for _ in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    elapsed = time.perf_counter() - wall, time.thread_time() - cpu
    assert statuses == ["200 OK"], statuses
    return elapsed


def measure(mode: str) -> None:
    """One worker process: "plain" interleaved with the agent ("up": sending to the server, and the full-stacks
    recorder; "down": pointed at a closed port)."""
    workdir = Path(tempfile.mkdtemp(prefix="qs-bench-"))
    db_url = f"sqlite:///{workdir / 'shop.sqlite3'}"
    setup = create_engine(db_url)
    sa_models.Base.metadata.create_all(setup)
    with Session(setup) as session:
        sa_models.seed(session)
    setup.dispose()

    target = os.environ["BENCH_SERVER_URL"] if mode == "up" else closed_port_url()
    plain_engine, agent_engine = create_engine(db_url), create_engine(db_url)
    config.configure(url=target, enabled=True, console=False, overlay=False)
    instrument(agent_engine, base=sa_models.Base)
    plain_app = make_app(plain_engine, with_agent=False)
    agent_app = make_app(agent_engine, with_agent=True)
    environ = EnvironBuilder(path="/lookups/").get_environ()

    def agent() -> tuple[float, float]:
        elapsed = call(agent_app, environ)
        return elapsed

    variants = {
        "plain": lambda: call(plain_app, environ),
        f"agent, server {mode}": agent,
    }
    if mode == "up":
        stacks_engine = create_engine(db_url)
        recorder = FullStackRecorder(stacks_engine)
        stacks_app = make_app(stacks_engine, with_agent=False)

        def full_stacks() -> tuple[float, float]:
            recorder.queries.clear()
            return call(stacks_app, environ)

        variants["full stacks"] = full_stacks
    samples, extra = run_rounds(variants, ROUNDS)
    querysight.flush(5)
    shutil.rmtree(workdir, ignore_errors=True)
    report_samples(samples, extra)


if __name__ == "__main__":
    agent_bench_support.main(
        __file__,
        ROOT,
        measure,
        QUERIES,
        f"{QUERIES} Session.get lookups per Flask request on SQLite, {ROUNDS} requests per variant and process, "
        "interleaved",
        "sqlalchemy",
    )
