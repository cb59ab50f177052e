"""The unit being recorded and what is kept of each query.

A :class:`Unit` is one piece of work (an HTTP request, a test, a task, a block of code). The unit in progress lives
in the :data:`current_unit` ContextVar, so threads and tasks that inherit the context (asyncio tasks, asgiref's
``sync_to_async`` threads) attribute their queries to it. Integrations call :meth:`Unit.record` once per query;
everything costly (making parameters JSON-safe, writing JSON) is deferred to ``_wire.encode_unit``, which the
transport's worker thread calls, so the application's thread only takes a timestamp, a frame walk and a few copies.

Framework integrations use this module directly:

>>> unit = Unit("request", "GET /books/", method="GET", path="/books/")
>>> token = current_unit.set(unit)
>>> ...  # the app runs; the integration's query hook calls unit.record(...)
>>> current_unit.reset(token)
>>> unit.finish(status=200)
>>> transport.submit(unit)
"""

from __future__ import annotations

import base64
import codecs
import datetime
import decimal
import itertools
import math
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from contextvars import ContextVar
from types import FrameType
from typing import Any

from . import _stack, config

_getframe = sys._getframe

current_unit: ContextVar[Unit | None] = ContextVar("querysight_unit", default=None)

UNIT_KINDS = ("request", "test", "task", "command", "block")
_SCALARS = (str, int, float, bool, type(None))
ELLIPSIS = "…"


def uuid7() -> str:
    """A UUIDv7 (RFC 9562): 48 bits of epoch milliseconds, the version, the variant, and 74 bits that tell apart the
    ids of one millisecond.

    Those 74 bits are a counter from a random start drawn once per process (RFC 9562's "monotonic random"): unique in
    the process without a system call per unit, apart from other processes' by their start. Written out directly
    rather than through ``uuid.UUID``: every request makes one.
    """
    rand = (_id_start + next(_id_counter)) & _74_BITS
    ms = (time.time_ns() // 1_000_000) & 0xFFFF_FFFF_FFFF
    high = (ms << 16) | 0x7000 | (rand >> 62)
    low = 0x8000_0000_0000_0000 | (rand & 0x3FFF_FFFF_FFFF_FFFF)
    text = ((high << 64) | low).to_bytes(16, "big").hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _new_id_sequence() -> None:
    """A random start for this process's unit ids; again in a forked child, which would otherwise repeat its
    parent's."""
    global _id_start, _id_counter
    _id_start = int.from_bytes(os.urandom(10), "big")
    _id_counter = itertools.count()


_74_BITS = (1 << 74) - 1
_id_start = 0
_id_counter = itertools.count()
_new_id_sequence()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_new_id_sequence)


def _running_task() -> tuple[Any, int | None]:
    task = _stack.current_task()
    return (task, threading.get_ident()) if task is not None else (None, None)


# Ints within JavaScript's safe range go as JSON numbers; larger ones as strings: the server (JSON.parse) would lose
# their last digits, and Python will not even write one of more than 4,300 digits (sys.get_int_max_str_digits).
JSON_INT_LIMIT = (1 << 53) - 1


def json_safe(value: Any, max_length: int, depth: int = 0) -> Any:
    """A JSON-safe copy of one parameter value: scalars kept, the rest as (truncated) strings."""
    kind = type(value)
    if kind is str:
        return value if len(value) <= max_length else value[:max_length] + ELLIPSIS
    if kind is int:
        return value if -JSON_INT_LIMIT <= value <= JSON_INT_LIMIT else _long_int(value, max_length)
    if kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        limit = 4 * max_length + 4  # bytes enough for max_length + 1 characters of UTF-8
        try:
            raw = bytes(value[:limit])
        except (ValueError, TypeError):  # a memoryview released since, or of no dimension
            return f"<{kind.__name__}>"
        try:  # a value cut in the middle of a character is still text: the incomplete end is left out
            text = codecs.getincrementaldecoder("utf-8")().decode(raw, final=len(raw) < limit)
        except UnicodeDecodeError:
            text = "base64:" + base64.b64encode(raw[:max_length]).decode("ascii")
        return json_safe(text, max_length)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return json_safe(int(value), max_length)
    if isinstance(value, float):
        return json_safe(float(value), max_length)
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, uuid.UUID, datetime.timedelta)):
        return str(value)
    if depth < 3:
        if isinstance(value, (list, tuple)):
            return [json_safe(v, max_length, depth + 1) for v in value[:1000]]
        if isinstance(value, Mapping):
            return {str(k): json_safe(v, max_length, depth + 1) for k, v in list(value.items())[:1000]}
    try:
        text = str.__str__(str(value))  # an exact str: the str() of a str subclass (SafeString) may be itself
    except Exception:  # noqa: BLE001 - a parameter whose str() fails is shown by its type
        text = f"<{kind.__name__}>"
    return json_safe(text, max_length)


def _long_int(value: int, max_length: int) -> str:
    """An int beyond ``JSON_INT_LIMIT`` as a string, cut like other long values, from its first digits: all of them
    may be more than Python will write out."""
    keep = max_length + 1
    writable = getattr(sys, "get_int_max_str_digits", lambda: 0)()
    if writable:
        keep = min(keep, writable - 3)  # (what is kept below is at most two digits longer than keep)
    digits = abs(value)
    extra = int(digits.bit_length() * 0.30102) - keep  # at most the number of digits beyond the first keep
    if extra > 0:
        digits //= 10**extra
    text = ("-" if value < 0 else "") + str(digits)
    if len(text) > max_length:
        return text[:max_length] + ELLIPSIS
    return text + ELLIPSIS if extra > 0 else text


def copy_params(params: Any, many: bool, max_rows: int) -> Any:
    """A shallow copy taken on the app's thread, so later mutation by the caller does not change the record."""
    if params is None:
        return None
    if many:
        rows = params if isinstance(params, (list, tuple)) else list(params)
        return tuple(copy_params(row, False, max_rows) for row in rows[:max_rows])
    if isinstance(params, (list, tuple)):
        return tuple(params)
    if isinstance(params, Mapping):
        return dict(params)
    return (params,)


# A recorded query is a plain tuple of immutable values, indexed by these names. Tuples of atomic values are not
# tracked by the garbage collector, so units waiting in the queue (while the server is down) cost it nothing.
# SITE is where it was made, a Site tuple (sql, stack, template) that the queries of a loop share (see _stack.Site).
# START and END are the perf_counter() values the hook took; the wire form turns them into milliseconds. RUN says where
# and how the query ran: a Run tuple, which the integration makes once per connection and shares between its queries.
# (Every item of a query costs the hook a load and the garbage collector a look, so what repeats is one shared item.)
SITE, PARAMS, START, END, RUN = range(5)
Query = tuple  # (site, params, start, end, run)

# A Site tuple, indexed by these names: (SQL text, application frames innermost first, (template, line) or None).
SQL, STACK, TEMPLATE = range(3)
Site = _stack.Site

# A Run tuple, indexed by these names: (db alias, vendor, executemany?, error text or None).
DB, VENDOR, MANY, ERROR = range(4)
Run = tuple[str, str, bool, "str | None"]


def run_of(db: str, vendor: str, many: bool = False, error: BaseException | None = None) -> Run:
    """Where and how a query ran, for :meth:`Unit.record`. Integrations keep the error-free ones and reuse them."""
    return (db, vendor, bool(many), None if error is None else describe_error(error))


def _every_depth(site: Site) -> Site:
    """The site without its template's recursion depth: each depth of a tree is a turn of one loop."""
    template = site[TEMPLATE]
    return site if template is None or len(template) < 4 else (site[SQL], site[STACK], template[:3])


def describe_error(exc: BaseException) -> str:
    """``ValueError: no stock``; the class alone when the message is empty (``KeyboardInterrupt``)."""
    message = str(exc)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text if len(text) <= 1000 else text[:1000] + ELLIPSIS


# A read (SELECT, WITH ... SELECT, VALUES), and statements that change nothing: transaction control.
_READ = re.compile(r"\s*\(?\s*(select|with|values)\b", re.IGNORECASE)
_CONTROL = re.compile(r"\s*(begin|start\s+transaction|savepoint|release|commit|rollback|end)\b", re.IGNORECASE)

# A driver's placeholder: %s, %(name)s, ?, $1, :name (not a :: cast).
_PLACEHOLDER = re.compile(r"%s|%\(\w+\)s|\?|\$\d|(?<![:\w]):[A-Za-z_]\w*")


class Unit:
    """One unit of work being recorded. Not thread-safe by design beyond list appends (atomic under the GIL)."""

    __slots__ = (
        "_keep_params",
        "_memo",
        "_t0",
        "boundary",
        "dropped_queries",
        "duration_ms",
        "id",
        "kind",
        "max_queries",
        "meta",
        "method",
        "name",
        "path",
        "queries",
        "route",
        "settings",
        "started_at",
        "status",
        "task",
        "task_thread",
        "view",
    )

    def __init__(
        self,
        kind: str,
        name: str,
        *,
        method: str | None = None,
        path: str | None = None,
        route: str | None = None,
        view: str | None = None,
        meta: dict[str, Any] | None = None,
        settings: config.Settings | None = None,
    ) -> None:
        if kind not in UNIT_KINDS:
            raise ValueError(f"unit kind {kind!r} is not one of {', '.join(UNIT_KINDS)}")
        self.settings = settings or config.current()
        self.id = uuid7()
        self.kind = kind
        self.name = name
        self.method = method
        self.path = path
        self.route = route
        self.view = view
        self.status: int | None = None
        self.meta: dict[str, Any] = dict(meta or {})
        if kind == "request":
            self._inherit_from_test()
        self.queries: list[tuple[Any, ...]] = []
        self.dropped_queries = 0
        self.max_queries = self.settings.max_queries
        self._keep_params = self.settings.capture_params
        self.started_at = time.time() * 1000.0
        self._t0 = time.perf_counter()
        self.duration_ms: float | None = None
        self.task, self.task_thread = _running_task()
        self._memo: _stack.Memo | None = None
        # The frame the unit's code runs below (a request's middleware), while it runs: see _stack.capture.
        self.boundary: FrameType | None = None

    def _inherit_from_test(self) -> None:
        """A request made inside a test (Django's test client) says which test made it, in ``meta["test"]``, and
        carries the test's ``@pytest.mark.querysight`` marker, whose limits then hold for the request too."""
        parent = current_unit.get()
        if parent is None or parent.kind != "test":
            return
        self.meta.setdefault("test", parent.name)
        marker = parent.meta.get("querysight")
        if marker is not None:
            self.meta.setdefault("querysight", marker)

    def record(self, sql: str, params: Any, run: Run, start: float, end: float, depth: int = 1) -> None:
        """Record one query. ``run`` comes from :func:`run_of`; ``start``/``end`` are ``time.perf_counter()`` values;
        ``depth`` is how many frames above this call the application's code begins (the integration's hook frames are
        skipped anyway). This runs for every query: the common case goes first and reads as little as it can."""
        queries = self.queries
        if len(queries) >= self.max_queries:
            self.dropped_queries += 1
            return
        if params is not None:
            if not self._keep_params:
                params = None
            elif run[MANY] or type(params) is not tuple:  # a tuple of the driver's parameters is kept as it is
                params = copy_params(params, run[MANY], self.settings.max_many_rows)
        memo = self._memo
        if memo is not None:
            # The memo's skip of the walk (see _stack.Memo), inline: the frame the last walk found first, paused on an
            # instruction where a walk at the same depth made the same SQL, has that walk's site.
            try:
                frame = _getframe(depth + memo.depth)
            except ValueError:  # a shallower stack (another thread of the unit)
                frame = None
            lines = memo.lines
            if frame is not memo.first and len(memo.depths) > 1:  # a loop mixing ORM paths of different lengths
                frame, lines = _stack.first_at_other_depth(memo, depth)
            if frame is memo.first:
                site = lines.get(frame.f_lasti)  # type: ignore[union-attr]
                if site is not None and site[SQL] == sql:
                    # The site holds the loop's first SQL string: the driver's new copy of it is freed now.
                    queries.append((site, params, start, end, run))
                    return
            for chain in memo.chains:  # a helper called once per turn of a loop, a template loop (see _stack.Chain)
                site = _stack.chain_site(chain, depth, sql)
                if site is not None:
                    queries.append((site, params, start, end, run))
                    return
        site, self._memo = _stack.capture(
            depth, self.settings.max_stack, self.task, self.task_thread, memo, sql, self.boundary
        )
        queries.append((site, params, start, end, run))

    def finish(self, status: int | None = None) -> None:
        if status is not None:
            self.status = status
        self.stop_clock()
        self.task = None  # do not keep the request's task (or frames) alive while the unit waits to be sent
        self._memo = None

    def stop_clock(self, at: float | None = None) -> None:
        """Take the unit's duration now (or as of ``at``, a ``time.perf_counter()``), if it was not taken yet
        (``finish`` may come later)."""
        if self.duration_ms is None:
            self.duration_ms = ((time.perf_counter() if at is None else at) - self._t0) * 1000.0

    def forget_frames(self) -> None:
        """Drop the frames the unit's walks remembered (see ``querysight._stack.Memo``), before it finishes: once
        the call they were on has returned they can never match again, and they would keep its locals alive (a WSGI
        server's frame holds the response body, whose end finishes the unit: a cycle). The next walk is a full one."""
        self._memo = None

    def repeats(self) -> tuple[int, tuple[int, Site] | None]:
        """For the console line (the server's report has the findings, and leaves out more): how many reads repeat an
        earlier one exactly (same database, SQL and parameters) with no write between them, and the biggest loop, as
        (its number of queries, its site): the queries of one place (the same SQL from the same stack and template)
        run with other parameters from one time to the next. A loop's repeats (one key read again) are the loop's,
        not duplicates, as the report counts them in its N+1.

        Transaction control (BEGIN, SAVEPOINT...) is not counted, and any other statement (a write, a schema change)
        starts the count again: the read after it may see other rows. Without captured parameters
        (``CAPTURE_PARAMS`` off) a statement with placeholders may have run with other values each time, so it
        never counts, and no loop is seen.
        """
        queries = list(self.queries)
        shown = [repr(q[PARAMS]) for q in queries]  # parameters compared as text, each query's once
        # id(site) -> [queries, the first one's parameters, whether others differed, the site]: the queries of a loop
        # whose walk was skipped share one Site object
        by_object: dict[int, list[Any]] = {}
        for q, params in zip(queries, shown, strict=True):
            place = by_object.get(id(q[SITE]))
            if place is None:
                by_object[id(q[SITE])] = [1, params, False, q[SITE]]
            else:
                place[0] += 1
                place[2] = place[2] or params != place[1]
        # ... and those walked each time (a model's __str__ called by the admin's template: nothing of the app's to
        # anchor a skip on) have equal ones: one place.
        places: dict[int, list[Any]] = {}
        by_value: dict[Any, list[Any]] = {}
        for key, place in by_object.items():
            site = place[3]
            try:
                same = by_value.setdefault(_every_depth(site), place)
            except TypeError:  # a driver's SQL object that cannot be hashed: its own place
                same = place
            if same is not place:
                same[0] += place[0]
                same[2] = same[2] or place[2] or place[1] != same[1]
            places[key] = same
        loops = list({id(place): place for place in places.values() if place[2]}.values())
        # The loops of one line (a template line reading the author and counting the reviews) are said as one: the
        # console line names a line, not a query.
        lines: dict[Any, list[Any]] = {}
        for place in loops:
            site = place[3]
            line = site[TEMPLATE][:3] if site[TEMPLATE] is not None else (site[STACK][0] if site[STACK] else id(site))
            same_line = lines.get(line)
            if same_line is None:
                lines[line] = [place[0], site]
            else:
                same_line[0] += place[0]
        biggest = max(lines.values(), key=lambda line: line[0], default=None)  # (the first of the biggest, in order)
        seen: set[tuple[str, str, str]] = set()
        repeats = 0
        params_dropped = not self.settings.capture_params
        for q, params in zip(queries, shown, strict=True):
            site = q[SITE]
            if places[id(site)][2]:  # a loop's query
                continue
            sql = site[SQL]
            text = sql if isinstance(sql, str) else ""
            if not _READ.match(text):
                if not _CONTROL.match(text):
                    seen.clear()
                continue
            if params_dropped and q[PARAMS] is None and _PLACEHOLDER.search(sql):
                continue
            key = (q[RUN][DB], sql, params)
            if key in seen:
                repeats += 1
            else:
                seen.add(key)
        return repeats, None if biggest is None else (biggest[0], biggest[1])
