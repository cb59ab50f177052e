"""A tiny bookshop on SQLite in memory whose queries the querysight agent records, for the load and fault tests.

There is no framework here: ``execute`` plays the part of Django's execute wrapper (time the query, record it on the
current unit, let the app's own exception through), and ``book_list`` is one "request" with the classic N+1: a list
of books, then one author lookup per book, then a count run twice.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

from querysight import current_unit
from querysight.recorder import run_of

BOOKS = 10


def open_db() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    conn.executescript(
        """
        CREATE TABLE shop_author (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE shop_book (id INTEGER PRIMARY KEY, title TEXT NOT NULL, author_id INTEGER NOT NULL);
        """
    )
    conn.executemany("INSERT INTO shop_author (id, name) VALUES (?, ?)", [(i, f"Author {i}") for i in range(1, 6)])
    conn.executemany(
        "INSERT INTO shop_book (id, title, author_id) VALUES (?, ?, ?)",
        [(i, f"Book {i}", 1 + i % 5) for i in range(1, BOOKS + 1)],
    )
    return conn


def execute(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one query and record it on the unit in progress, as an instrumented database driver would."""
    unit = current_unit.get()
    start, error = time.perf_counter(), None
    try:
        return conn.execute(sql, params).fetchall()
    except Exception as exc:
        error = exc
        raise
    finally:
        if unit is not None:
            unit.record(sql, params, run_of("default", "sqlite", error=error), start, time.perf_counter())


def book_list(conn: sqlite3.Connection) -> int:
    """GET /books/: the list, an author lookup per book (N+1), and a duplicated count. Returns the rows shown."""
    books = execute(conn, 'SELECT "shop_book"."id", "shop_book"."title", "shop_book"."author_id" FROM "shop_book"')
    shown = 0
    for _id, _title, author_id in books:
        execute(
            conn,
            'SELECT "shop_author"."id", "shop_author"."name" FROM "shop_author" WHERE "shop_author"."id" = ?',
            (author_id,),
        )
        shown += 1
    execute(conn, 'SELECT COUNT(*) FROM "shop_book"')
    execute(conn, 'SELECT COUNT(*) FROM "shop_book"')
    return shown


class DeliveryLog:
    """Counts the units the agent's transport delivered: a unit counts once the server took the body it went in."""

    def __init__(self) -> None:
        from querysight import transport

        self.ids: list[str] = []
        self._transport = transport.transport
        send = self._transport._send

        def counting_send(envelope: dict[str, Any], units: list[Any], settings: Any) -> Iterator[tuple[int, bool]]:
            went = 0
            for count, taken in send(envelope, units, settings):
                if taken:
                    # An encoded unit's head is its JSON up to its queries: closing it gives the unit's fields.
                    self.ids.extend(json.loads(unit.head + "]}")["id"] for unit in units[went : went + count])
                went += count
                yield count, taken

        self._transport._send = counting_send  # type: ignore[method-assign]

    @property
    def dropped(self) -> int:
        return self._transport.dropped
