"""querysight.sqlalchemy.instrument(): every query of a sync or async engine, through SQLAlchemy's engine events,
on SQLite, aiosqlite and PostgreSQL (psycopg), recorded into the current unit."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, event, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import Session, selectinload

import querysight
import sa_models
from conftest import Recorded
from helpers import read_ndjson
from querysight import _guard, config, transport
from querysight.sqlalchemy import build_schema, instrument, model_name
from sa_models import Author, Book, Tag
from sa_support import fresh_app_info, seeded_sqlite, uninstrument

__all__ = ["fresh_app_info"]

TESTS_DIR = Path(__file__).resolve().parent
AUTHOR_BY_ID = "FROM authors \nWHERE authors.id = ?"


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Any]:
    engine = seeded_sqlite(tmp_path / "shop.sqlite3")
    yield engine
    uninstrument(engine)
    engine.dispose()


def sqls(unit: dict[str, Any]) -> list[str]:
    return [q["sql"] for q in unit["queries"]]


def test_records_each_query_of_a_capture_block_with_sql_params_db_vendor_and_call_site(
    engine: Any, recorded: Recorded
) -> None:
    instrument(engine)
    with Session(engine) as session, querysight.capture("list books"):
        session.scalars(select(Book).where(Book.title == "Book 0.0")).all()

    unit = recorded.unit()
    assert (unit["kind"], unit["name"]) == ("block", "list books")
    [query] = unit["queries"]
    assert query["sql"].startswith("SELECT books.id, books.title, books.author_id \nFROM books \nWHERE books.title = ?")
    assert query["params"] == ["Book 0.0"]
    assert (query["db"], query["vendor"], query["many"], query["error"]) == ("shop.sqlite3", "sqlite", False, None)
    assert query["duration_ms"] >= 0 and query["start_ms"] >= 0
    assert query["callsite"]["file"] == "test_sqlalchemy.py"
    assert (
        query["callsite"]["function"]
        == "test_records_each_query_of_a_capture_block_with_sql_params_db_vendor_and_call_site"
    )
    assert query["stack"][0] == query["callsite"]


def test_lazy_loads_in_a_loop_share_one_call_site_inside_the_loop(engine: Any, recorded: Recorded) -> None:
    instrument(engine)
    with Session(engine) as session, querysight.capture("titles"):
        sa_models.titles_with_authors(session)

    queries = recorded.unit()["queries"]
    assert len(queries) == 1 + sa_models.AUTHORS
    lazy = queries[1:]
    assert all(AUTHOR_BY_ID in q["sql"] for q in lazy)
    assert [q["params"] for q in lazy] == [[1], [2], [3], [4]]
    assert {(q["callsite"]["file"], q["callsite"]["function"]) for q in lazy} == {("sa_models.py", "<listcomp>")}
    assert len({tuple((f["file"], f["line"]) for f in q["stack"]) for q in lazy}) == 1
    assert queries[0]["callsite"]["function"] == "titles_with_authors"


def test_instrumenting_an_engine_twice_records_each_query_once(engine: Any, recorded: Recorded) -> None:
    instrument(engine)
    instrument(engine, name="shop")
    with engine.connect() as conn, querysight.capture("twice"):
        conn.execute(text("SELECT 1"))

    [query] = recorded.unit()["queries"]
    assert query["db"] == "shop"


def test_an_execute_listener_the_app_adds_later_still_runs_and_instrumenting_again_records_again(
    engine: Any, recorded: Recorded, swallow_internal_errors: Any
) -> None:
    from querysight import sqlalchemy as qs_sqlalchemy

    instrument(engine, name="primary", base=sa_models.Base)
    seen: list[str] = []

    def app_listener(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        seen.append(statement)
        return False

    event.listen(engine, "do_execute", app_listener)
    with engine.connect() as conn, querysight.capture("later listener"):
        conn.execute(text("SELECT 1"))
    assert seen == ["SELECT 1"]
    assert [what for what, _ in _guard.swallowed()] == ["record the queries of an engine with a later execute listener"]

    instrument(engine)  # as the log says: the name and the models given the first time stay
    with engine.connect() as conn, querysight.capture("instrumented again"):
        conn.execute(text("SELECT 2"))
    assert seen == ["SELECT 1", "SELECT 2"]
    assert [(q["sql"], q["db"]) for q in recorded.units()[-1]["queries"]] == [("SELECT 2", "primary")]
    assert qs_sqlalchemy._all_models is False
    event.remove(engine, "do_execute", app_listener)


def test_queries_outside_any_unit_are_not_recorded(engine: Any, recorded: Recorded) -> None:
    instrument(engine)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    with querysight.capture("empty"):
        pass

    assert recorded.unit()["queries"] == []


def test_an_executemany_is_one_query_with_many_and_every_row(engine: Any, recorded: Recorded) -> None:
    instrument(engine)
    with engine.begin() as conn, querysight.capture("import tags"):
        conn.execute(insert(Tag), [{"name": "a"}, {"name": "b"}, {"name": "c"}])

    [query] = recorded.unit()["queries"]
    assert query["sql"] == "INSERT INTO tags (name) VALUES (?)"
    assert query["many"] is True
    assert query["params"] == [["a"], ["b"], ["c"]]


def test_a_batch_insert_with_many_values_rows_is_one_plain_query(engine: Any, recorded: Recorded) -> None:
    instrument(engine)
    with engine.begin() as conn, querysight.capture("add tags"):
        conn.execute(insert(Tag).returning(Tag.id), [{"name": "x"}, {"name": "y"}])

    [query] = recorded.unit()["queries"]
    assert query["sql"] == "INSERT INTO tags (name) VALUES (?), (?) RETURNING id"
    assert (query["many"], query["params"]) == (False, ["x", "y"])


def test_rows_the_orm_inserts_one_by_one_on_sqlite_are_one_many_query_and_a_flush_per_row_is_not(
    engine: Any, recorded: Recorded
) -> None:
    # SQLite cannot return the new keys of a multi-row INSERT in order, so SQLAlchemy sends the INSERT of add_all()'s
    # rows row by row ("insertmanyvalues ... batch not supported" in its log): one statement of the app's.
    instrument(engine)
    with Session(engine) as session, querysight.capture("add tags"):
        for name in ("a", "b"):
            session.add(Tag(name=name))
            session.flush()  # a flush per row: two statements, as the app wrote them
        session.add_all([Tag(name=f"c{i}") for i in range(3)])
        session.flush()
        session.add_all([Tag(name="d0"), Tag(name="d1")])
        session.flush()
        session.commit()

    inserts = [q for q in recorded.unit()["queries"] if q["sql"].startswith("INSERT INTO tags")]
    assert [(q["many"], q["params"]) for q in inserts] == [
        (False, ["a"]),
        (False, ["b"]),
        (True, [["c0"], ["c1"], ["c2"]]),
        (True, [["d0"], ["d1"]]),
    ]
    assert all(q["sql"] == "INSERT INTO tags (name) VALUES (?) RETURNING id" for q in inserts[2:])
    with Session(engine) as session:  # the app's rows, all of them, with their keys
        assert len(session.scalars(select(Tag).where(Tag.name.in_(["c0", "c1", "c2", "d0", "d1"]))).all()) == 5
    assert inserts[2]["duration_ms"] >= 0 and inserts[2]["start_ms"] < inserts[3]["start_ms"]


def test_rows_inserted_one_by_one_keep_max_many_rows_parameters_or_none_when_params_are_off(
    engine: Any, recorded: Recorded
) -> None:
    config.configure(max_many_rows=2)
    instrument(engine)
    with Session(engine) as session, querysight.capture("many tags"):
        session.add_all([Tag(name=f"t{i}") for i in range(4)])
        session.flush()
    config.configure(capture_params=False)
    with Session(engine) as session, querysight.capture("secret tags"):
        session.add_all([Tag(name=f"s{i}") for i in range(3)])
        session.flush()

    kept, secret = ([q for q in unit["queries"] if q["sql"].startswith("INSERT")] for unit in recorded.units())
    assert [(q["many"], q["params"]) for q in kept] == [(True, [["t0"], ["t1"]])]
    assert [(q["many"], q["params"]) for q in secret] == [(True, None)]


def test_a_query_that_raises_is_recorded_with_its_error_and_the_app_gets_the_same_exception(
    engine: Any, recorded: Recorded
) -> None:
    instrument(engine)
    with Session(engine) as session, querysight.capture("duplicate author"):
        session.add(Author(name="Author 0"))
        with pytest.raises(IntegrityError) as raised:
            session.flush()
        session.rollback()

    assert "UNIQUE constraint failed: authors.name" in str(raised.value)
    [failed] = [q for q in recorded.unit()["queries"] if q["error"]]
    assert failed["sql"].startswith("INSERT INTO authors")
    assert failed["error"].startswith("IntegrityError: (sqlite3.IntegrityError) UNIQUE constraint failed: authors.name")
    assert failed["callsite"]["file"] == "test_sqlalchemy.py"


def test_a_syntax_error_is_recorded_and_raised_unchanged(engine: Any, recorded: Recorded) -> None:
    instrument(engine)
    with engine.connect() as conn, querysight.capture("typo"), pytest.raises(OperationalError, match="syntax error"):
        conn.exec_driver_sql("SELEKT 1")

    [query] = recorded.unit()["queries"]
    assert query["sql"] == "SELEKT 1"
    assert query["error"].startswith('OperationalError: (sqlite3.OperationalError) near "SELEKT": syntax error')


def test_an_in_memory_database_is_named_by_its_url_and_a_name_argument_wins(recorded: Recorded) -> None:
    memory, named = create_engine("sqlite://"), create_engine("sqlite://")
    instrument(memory)
    instrument(named, name="cache")
    try:
        with querysight.capture("two dbs"), memory.connect() as a, named.connect() as b:
            a.execute(text("SELECT 1"))
            b.execute(text("SELECT 2"))
    finally:
        uninstrument(memory)
        uninstrument(named)

    assert [(q["db"], q["vendor"]) for q in recorded.unit()["queries"]] == [(":memory:", "sqlite"), ("cache", "sqlite")]


def test_capture_params_off_sends_null_params(engine: Any, recorded: Recorded) -> None:
    config.configure(capture_params=False)
    instrument(engine)
    with engine.connect() as conn, querysight.capture("secret"):
        conn.execute(text("SELECT :token"), {"token": "hunter2"})

    [query] = recorded.unit()["queries"]
    assert query["params"] is None


def test_eager_loading_fixes_the_loop_down_to_two_queries(engine: Any, recorded: Recorded) -> None:
    instrument(engine)
    with Session(engine) as session, querysight.capture("eager"):
        authors = session.scalars(select(Author).options(selectinload(Author.books))).all()
        assert sum(len(a.books) for a in authors) == sa_models.AUTHORS * sa_models.BOOKS_PER_AUTHOR

    assert len(recorded.unit()["queries"]) == 2


# ---- async engine -------------------------------------------------------------------------------------------------


async def async_titles(session: AsyncSession) -> list[str]:
    books = (await session.scalars(select(Book).order_by(Book.id))).all()
    titles = []
    for book in books:
        author = await book.awaitable_attrs.author
        titles.append(f"{book.title} by {author.name}")
    return titles


def test_an_async_engine_records_queries_with_the_awaiting_coroutine_as_call_site(
    tmp_path: Path, recorded: Recorded
) -> None:
    seeded_sqlite(tmp_path / "async.sqlite3").dispose()
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'async.sqlite3'}")
    instrument(engine)
    instrument(engine)

    async def main() -> list[str]:
        try:
            async with AsyncSession(engine) as session:
                with querysight.capture("async titles"):
                    return await async_titles(session)
        finally:
            await engine.dispose()

    titles = asyncio.run(main())
    uninstrument(engine)

    assert len(titles) == sa_models.AUTHORS * sa_models.BOOKS_PER_AUTHOR
    queries = recorded.unit()["queries"]
    assert len(queries) == 1 + sa_models.AUTHORS
    assert {(q["db"], q["vendor"]) for q in queries} == {("async.sqlite3", "sqlite")}
    assert queries[0]["callsite"]["function"] == "async_titles"
    lazy = queries[1:]
    assert [q["params"] for q in lazy] == [[1], [2], [3], [4]]
    assert {(q["callsite"]["file"], q["callsite"]["line"]) for q in lazy} == {
        ("test_sqlalchemy.py", async_titles.__code__.co_firstlineno + 4)
    }
    assert [f["function"] for f in lazy[0]["stack"]][:3] == [
        "async_titles",
        "main",
        "test_an_async_engine_records_queries_with_the_awaiting_coroutine_as_call_site",
    ]


async def book_count(engine: Any, author_id: int, done: asyncio.Event | None = None) -> int | None:
    async with AsyncSession(engine) as session:
        count = await session.scalar(text("SELECT count(*) FROM books WHERE author_id = :id"), {"id": author_id})
    if done is not None:
        done.set()
    return count


async def book_counts_in_tasks(engine: Any) -> list[int | None]:
    with querysight.capture("counts in tasks"):
        counts = await asyncio.gather(book_count(engine, 1), book_count(engine, 2))
        awaited = asyncio.create_task(book_count(engine, 3))
        counts.append(await awaited)
        left_to_run = asyncio.create_task(book_count(engine, 4, counted := asyncio.Event()))
        await counted.wait()
        counts.append(await left_to_run)
    return counts


def test_queries_of_tasks_carry_the_line_that_awaits_the_task_and_no_line_that_did_not(
    tmp_path: Path, recorded: Recorded
) -> None:
    """A task's own await chain ends at its coroutine (book_count). When the unit's coroutine awaits the task (a
    gather, an awaited create_task) its line comes next; a task it left to run while it awaited something else has
    no caller but the event loop's."""
    seeded_sqlite(tmp_path / "async.sqlite3").dispose()
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'async.sqlite3'}")
    instrument(engine)

    async def main() -> list[int | None]:
        try:
            return await book_counts_in_tasks(engine)
        finally:
            await engine.dispose()

    try:
        counts = asyncio.run(main())
    finally:
        uninstrument(engine)

    assert counts == [sa_models.BOOKS_PER_AUTHOR] * 4
    queries = recorded.unit()["queries"]
    # The last frame is this test's asyncio.run line, below the event loop.
    assert {q["stack"][-1]["function"] for q in queries} == {sys._getframe().f_code.co_name}
    stacks = {q["params"][0]: [(f["function"], f["line"]) for f in q["stack"][:-1]] for q in queries}
    count_line = ("book_count", book_count.__code__.co_firstlineno + 2)
    first = book_counts_in_tasks.__code__.co_firstlineno
    main_line = ("main", main.__code__.co_firstlineno + 2)
    assert stacks == {
        1: [count_line, ("book_counts_in_tasks", first + 2), main_line],
        2: [count_line, ("book_counts_in_tasks", first + 2), main_line],
        3: [count_line, ("book_counts_in_tasks", first + 4), main_line],
        4: [count_line],
    }


def run_on_an_async_engine(tmp_path: Path, work: Callable[[Any], Awaitable[None]]) -> None:
    """``work(engine)`` on an instrumented aiosqlite engine over a seeded database file, disposed of after."""
    seeded_sqlite(tmp_path / "async.sqlite3").dispose()
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'async.sqlite3'}")
    instrument(engine)

    async def main() -> None:
        try:
            await work(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(main())
    finally:
        uninstrument(engine)


async def tasks_awaited_one_by_one(engine: Any) -> None:
    """Four tasks of one coroutine made in a loop and awaited one by one: the first waits until the three others have
    queried, which they do while the unit's coroutine awaits the first; then asyncio.wait of two more."""
    counted: list[int] = []
    others = asyncio.Event()

    async def count(author_id: int) -> int | None:
        if author_id == 1:
            await others.wait()
        result = await book_count(engine, author_id)
        counted.append(author_id)
        if len(counted) == 3:
            others.set()
        return result

    with querysight.capture("tasks one by one"):
        tasks = [asyncio.create_task(count(author_id)) for author_id in (1, 2, 3, 4)]
        for task in tasks:
            await task
        await asyncio.wait([asyncio.create_task(book_count(engine, n)) for n in (1, 2)])


def test_tasks_made_in_a_loop_and_awaited_one_by_one_all_carry_the_awaiting_line(
    tmp_path: Path, recorded: Recorded
) -> None:
    """Whichever of them the unit's coroutine awaits while one queries, each query has the same stack: the loop's N+1
    is found whole, not split by timing (an awaited sibling stands for all; asyncio.wait awaits them all)."""
    run_on_an_async_engine(tmp_path, tasks_awaited_one_by_one)

    first = tasks_awaited_one_by_one.__code__.co_firstlineno
    awaiting = [
        [f["function"], f["line"]]
        for q in recorded.unit()["queries"]
        for f in q["stack"]
        if f["function"] == "tasks_awaited_one_by_one"
    ]
    assert (
        sorted(map(tuple, awaiting))
        == [("tasks_awaited_one_by_one", first + 18)] * 4 + [("tasks_awaited_one_by_one", first + 19)] * 2
    )


@pytest.mark.skipif(not hasattr(asyncio, "TaskGroup"), reason="asyncio.TaskGroup is new in Python 3.11")
def test_queries_of_a_task_group_carry_the_line_of_its_parent_task(tmp_path: Path, recorded: Recorded) -> None:
    async def grouped(engine: Any) -> None:
        with querysight.capture("task group"):
            async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined]
                group.create_task(book_count(engine, 1))

    run_on_an_async_engine(tmp_path, grouped)

    [query] = recorded.unit()["queries"]
    assert [(f["function"], f["line"]) for f in query["stack"]][:2] == [
        ("book_count", book_count.__code__.co_firstlineno + 2),
        ("grouped", grouped.__code__.co_firstlineno + 2),
    ]


def test_an_async_query_that_raises_is_recorded_and_the_exception_reaches_the_coroutine(
    recorded: Recorded,
) -> None:
    engine = create_async_engine("sqlite+aiosqlite://")
    instrument(engine, name="mem")

    async def main() -> None:
        try:
            async with engine.connect() as conn:
                with querysight.capture("async typo"), pytest.raises(OperationalError, match="no such table"):
                    await conn.execute(text("SELECT * FROM nowhere"))
        finally:
            await engine.dispose()

    asyncio.run(main())
    uninstrument(engine)
    [query] = recorded.unit()["queries"]
    assert query["db"] == "mem"
    assert "no such table: nowhere" in query["error"]


# ---- schema -------------------------------------------------------------------------------------------------------


def test_the_schema_names_tables_keys_and_every_kind_of_relationship(engine: Any) -> None:
    instrument(engine, base=sa_models.Base)
    engine.connect().close()
    schema = build_schema()

    assert schema is not None
    models = {m["model"]: m for m in schema["models"]}
    assert set(models) == {"sa_models.Author", "sa_models.Book", "sa_models.Profile", "sa_models.Tag"}
    assert models["sa_models.Book"] == {
        "model": "sa_models.Book",
        "table": "books",
        "pk": "id",
        "relations": [
            {"field": "author", "kind": "fk", "column": "author_id", "target": "sa_models.Author"},
            {
                "field": "tags",
                "kind": "m2m",
                "target": "sa_models.Tag",
                "through_table": "book_tags",
                "source_column": "book_id",
                "target_column": "tag_id",
            },
        ],
    }
    assert models["sa_models.Author"]["relations"] == [
        {"field": "books", "kind": "reverse_fk", "target": "sa_models.Book", "target_column": "author_id"},
        {"field": "profile", "kind": "reverse_o2o", "target": "sa_models.Profile", "target_column": "author_id"},
    ]
    assert models["sa_models.Profile"]["relations"] == [
        {"field": "author", "kind": "o2o", "column": "author_id", "target": "sa_models.Author"}
    ]
    assert models["sa_models.Tag"]["relations"][0]["source_column"] == "tag_id"


def test_the_schema_leaves_out_collections_that_cannot_be_eager_loaded(engine: Any) -> None:
    # selectinload(Shelf.notes) of a write_only or dynamic relationship raises InvalidRequestError: the server must
    # not suggest it. A plain collection beside them is still described.
    from sqlalchemy import Column, ForeignKey, Integer
    from sqlalchemy.orm import DeclarativeBase, configure_mappers, relationship

    class Base(DeclarativeBase):
        pass

    class Shelf(Base):
        __tablename__ = "shelves"
        id = Column(Integer, primary_key=True)
        notes = relationship("Note", lazy="write_only")
        pins = relationship("Pin", lazy="dynamic")
        cards = relationship("Card")

    class Note(Base):
        __tablename__ = "notes"
        id = Column(Integer, primary_key=True)
        shelf_id = Column(ForeignKey("shelves.id"))

    class Pin(Base):
        __tablename__ = "pins"
        id = Column(Integer, primary_key=True)
        shelf_id = Column(ForeignKey("shelves.id"))

    class Card(Base):
        __tablename__ = "cards"
        id = Column(Integer, primary_key=True)
        shelf_id = Column(ForeignKey("shelves.id"))

    configure_mappers()
    instrument(engine, base=Base)
    schema = build_schema()

    assert schema is not None
    [shelf] = [m for m in schema["models"] if m["table"] == "shelves"]
    assert shelf["relations"] == [
        {"field": "cards", "kind": "reverse_fk", "target": model_name(Card), "target_column": "shelf_id"}
    ]


def test_a_plain_script_sends_its_capture_block_with_the_schema_and_the_sqlalchemy_framework(tmp_path: Path) -> None:
    output = tmp_path / "units.ndjson"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUERYSIGHT_", "DJANGO_"))}
    env.update(QUERYSIGHT_OUTPUT=str(output), PYTHONPATH=str(TESTS_DIR))
    subprocess.run(
        [sys.executable, str(TESTS_DIR / "sa_script.py"), str(tmp_path / "script.sqlite3")],
        check=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
    )

    [batch] = read_ndjson(output)
    assert (batch["app"]["framework"], batch["app"]["name"]) == ("sqlalchemy", "sa_script")
    assert batch["app"]["framework_version"]
    assert "sa_models.Book" in {m["model"] for m in batch["schema"]["models"]}
    [unit] = batch["units"]
    assert (unit["kind"], unit["name"]) == ("command", "nightly report")
    assert len(unit["queries"]) == 1 + sa_models.AUTHORS
    callsite = unit["queries"][0]["callsite"]
    assert (callsite["file"], callsite["function"]) == ("sa_models.py", "books_per_author")


def test_without_a_base_every_mapped_class_of_the_process_is_described(engine: Any) -> None:
    instrument(engine)
    with Session(engine) as session:
        session.get(Author, 1)
    schema = build_schema()

    assert schema is not None
    assert {"sa_models.Author", "sa_models.Book"} <= {m["model"] for m in schema["models"]}
    assert transport.app.schema_provider is build_schema


LATE_MODELS_SCRIPT = """
from sqlalchemy import Column, ForeignKey, Integer, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Session

import querysight
from querysight.sqlalchemy import instrument


class Base(DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id = Column(Integer, primary_key=True)


engine = create_engine("sqlite://")
Base.metadata.create_all(engine)
instrument(engine)
with querysight.capture("before"), Session(engine) as session:
    session.get(Author, 1)
assert querysight.flush(10.0)


class LateBase(DeclarativeBase):  # a second base, its models imported after the first batch went
    pass


class Shelf(LateBase):
    __tablename__ = "shelves"
    id = Column(Integer, primary_key=True)
    author_id = Column(ForeignKey(Author.id))


LateBase.metadata.create_all(engine)
with querysight.capture("between"), Session(engine) as session:  # a batch while Shelf is mapped, not configured
    session.get(Author, 1)
assert querysight.flush(10.0)
with querysight.capture("after"), Session(engine) as session:
    session.scalars(select(Shelf)).all()  # SQLAlchemy configures Shelf here, at its first use
"""


def test_models_mapped_after_the_first_batch_go_with_the_next_one(tmp_path: Path) -> None:
    # A second declarative base, or models imported after the first batch, reached the server only with the schema
    # sent every 300 s: meanwhile their fixes had no model names (and under xdist, which test imported what first
    # decided which fix a finding got).
    output = tmp_path / "units.ndjson"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUERYSIGHT_", "DJANGO_"))}
    env.update(QUERYSIGHT_OUTPUT=str(output))
    subprocess.run([sys.executable, "-c", LATE_MODELS_SCRIPT], check=True, env=env, cwd=tmp_path, timeout=60)

    first, between, after = read_ndjson(output)
    assert [u["name"] for batch in (first, between, after) for u in batch["units"]] == ["before", "between", "after"]
    assert {m["model"] for m in first["schema"]["models"]} == {"__main__.Author"}
    assert "schema" not in between  # Shelf is described once SQLAlchemy configured it, at its first use
    assert {m["model"] for m in after["schema"]["models"]} == {"__main__.Author", "__main__.Shelf"}


# ---- PostgreSQL -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_url(postgres: dict[str, str]) -> str:
    import psycopg

    with psycopg.connect(
        host=postgres["QS_PG_HOST"], port=postgres["QS_PG_PORT"], user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        conn.execute("DROP DATABASE IF EXISTS qs_sqlalchemy")
        conn.execute("CREATE DATABASE qs_sqlalchemy")
    url = f"postgresql+psycopg://postgres@{postgres['QS_PG_HOST']}:{postgres['QS_PG_PORT']}/qs_sqlalchemy"
    engine = create_engine(url)
    sa_models.Base.metadata.create_all(engine)
    with Session(engine) as session:
        sa_models.seed(session)
    engine.dispose()
    return url


def test_postgresql_queries_carry_vendor_database_named_params_and_errors(pg_url: str, recorded: Recorded) -> None:
    engine = create_engine(pg_url)
    instrument(engine)
    try:
        with Session(engine) as session, querysight.capture("pg"):
            sa_models.titles_with_authors(session)
            session.add(Author(name="Author 1"))
            with pytest.raises(IntegrityError, match="duplicate key value"):
                session.flush()
            session.rollback()
        with engine.begin() as conn, querysight.capture("pg many"):
            conn.execute(insert(Tag), [{"name": "pg1"}, {"name": "pg2"}])
        with Session(engine) as session, querysight.capture("pg add_all"):
            session.add_all([Tag(name=f"pg-orm{i}") for i in range(3)])
            session.flush()
    finally:
        uninstrument(engine)
        engine.dispose()

    first, second, orm = recorded.units()
    lazy = [q for q in first["queries"] if "WHERE authors.id = %(pk_1)s" in q["sql"]]
    assert len(lazy) == sa_models.AUTHORS
    assert lazy[0]["params"] == {"pk_1": 1}
    assert {(q["db"], q["vendor"]) for q in first["queries"]} == {("qs_sqlalchemy", "postgresql")}
    [failed] = [q for q in first["queries"] if q["error"]]
    assert failed["error"].startswith("IntegrityError: (psycopg.errors.UniqueViolation) duplicate key value")
    inserts = [q for q in second["queries"] if q["sql"].startswith("INSERT INTO tags")]
    assert len(inserts) == 1
    assert inserts[0]["params"] in ([{"name": "pg1"}, {"name": "pg2"}], {"name__0": "pg1", "name__1": "pg2"})
    # PostgreSQL returns the new keys of one multi-row INSERT in order: the ORM's rows go in one statement.
    [batch] = [q for q in orm["queries"] if q["sql"].startswith("INSERT INTO tags")]
    assert batch["many"] is False and "pg-orm2" in str(batch["params"])


def test_the_dialects_checks_on_the_first_connection_are_not_counted_in_the_unit_that_connects(
    pg_url: str, recorded: Recorded
) -> None:
    engine = create_engine(pg_url)  # a new engine: its dialect has not met the server yet
    instrument(engine)
    try:
        for name, pk in (("first", 1), ("second", 2)):
            with Session(engine) as session, querysight.capture(name):
                session.get(Author, pk)
    finally:
        uninstrument(engine)
        engine.dispose()

    first, second = recorded.units()
    # Not `select pg_catalog.version()`, `select current_schema()`, `show standard_conforming_strings`: a budget
    # or a baseline would otherwise depend on which test connects first.
    assert [q["sql"].split(" FROM ")[0][:6] for q in first["queries"]] == ["SELECT"]
    assert len(first["queries"]) == len(second["queries"]) == 1


def test_the_app_gets_its_rows_and_its_exceptions_unchanged_when_recording_fails(
    engine: Any, recorded: Recorded, monkeypatch: pytest.MonkeyPatch, swallow_internal_errors: list[Any]
) -> None:
    from querysight.recorder import Unit

    def broken_record(self: Unit, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("injected recorder failure")

    monkeypatch.setattr(Unit, "record", broken_record)
    instrument(engine)
    with Session(engine) as session, querysight.capture("broken recorder"):
        assert session.get(Author, 2).name == "Author 1"
        session.add(Author(name="Author 0"))
        with pytest.raises(IntegrityError, match="UNIQUE constraint failed"):
            session.flush()

    assert {what for what, _ in _guard.swallowed()} == {"record a query", "record a failed query"}
    assert recorded.unit()["queries"] == []


def test_lazy_loads_in_a_jinja_template_loop_skip_the_walk_after_the_first(engine: Any, tmp_path: Path) -> None:
    import jinja2

    from querysight.recorder import Unit, current_unit

    (tmp_path / "books.html").write_text(
        "{% for book in books %}\n{{ book.title }} by {{ book.author.name }}\n{% endfor %}"
    )
    template = jinja2.Environment(loader=jinja2.FileSystemLoader(str(tmp_path))).get_template("books.html")
    instrument(engine)
    unit = Unit("block", "jinja loop")
    token = current_unit.set(unit)
    try:
        with Session(engine) as session:
            books = session.scalars(select(Book).order_by(Book.id)).all()
            template.render(books=books)
    finally:
        current_unit.reset(token)
    lazy = [q[0] for q in unit.queries[1:]]
    assert len(lazy) == sa_models.AUTHORS  # the books of one author share its lazy load
    # The template's render function (a generator) gives the template position (books.html, line 2) and starts a
    # Chain: the walk of the first lazy load is reused by the others (the same Site object).
    assert lazy[0][2] == ("books.html", 2)
    assert lazy[0][1][0][2] == "test_lazy_loads_in_a_jinja_template_loop_skip_the_walk_after_the_first"
    assert all(site is lazy[0] for site in lazy[1:])
