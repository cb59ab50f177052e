"""SQLAlchemy integration: ``querysight.sqlalchemy.instrument(engine)``.

Queries are caught with SQLAlchemy's own events on the engine: the dialect events ``do_execute``,
``do_execute_no_params`` and ``do_executemany`` (the hook runs the dialect's own method, timed, and tells SQLAlchemy it
did) and ``handle_error``; nothing is monkeypatched. They cost far less than ``before/after_cursor_execute``: any
connection event switches SQLAlchemy to a slower path for every statement (about 5 µs a query), dialect events do
not. Works for a sync ``Engine`` and for an ``AsyncEngine`` (its
``sync_engine`` is instrumented; the await chain of the code that awaited the query is its call site). Each query
goes to the unit in progress (``querysight.recorder.current_unit``): a request unit of ``querysight.wsgi`` /
``querysight.asgi``, a ``querysight.capture(...)`` block, or a test of the pytest plugin. A query outside any unit
costs a ContextVar read per event.

- ``db`` is ``name=`` when given, else the database of the engine URL (the file name for SQLite, ``:memory:`` for an
  in-memory database); ``vendor`` is the dialect name (``sqlite``, ``postgresql``, ``mysql``...).
- ``executemany`` calls are one query with ``many: true``; SQLAlchemy's "insertmanyvalues" batches (one INSERT with
  many VALUES rows) are one query each, with the flat parameter list. Where SQLAlchemy sends such an INSERT row by
  row instead (on SQLite, when the ORM needs the new keys back in order: "batch not supported" in its log; a flush of
  ``add_all()`` rows), the rows are one query with ``many: true`` too: the one statement the app asked for, which it
  sends in one batch elsewhere (PostgreSQL), not a repeated write.
- A statement that raises is recorded with ``error`` (the exception SQLAlchemy raises to the app, e.g.
  ``IntegrityError: (sqlite3.IntegrityError) ...``), and the exception reaches the app unchanged.
- Instrumenting the same engine again does nothing (an engine's queries are recorded once).

The schema (DESIGN.md §4) lets the server name the relationship to load, e.g. ``selectinload(Author.books)``:
``instrument(engine, base=Base)`` describes the models of ``Base`` (a ``DeclarativeBase`` subclass, a
``declarative_base()`` class or a ``registry``). Without ``base`` every mapped class known to SQLAlchemy in the
process is described. Models are read when the first batch is sent (on the transport's thread), from mappers
SQLAlchemy has already configured (querysight never triggers mapper configuration itself, so it cannot turn a
half-imported models module into an error). Relationships become ``fk`` / ``o2o`` (many-to-one),
``reverse_fk`` / ``reverse_o2o`` (one-to-many, scalar when ``uselist=False``) and ``m2m`` (through ``secondary``),
each under its attribute name; ``model`` is ``module.ClassName``.

``app.framework`` is ``sqlalchemy`` unless a web integration (``flask``, ``fastapi``, ``starlette``) said otherwise.
"""

from __future__ import annotations

import threading
import weakref
from time import perf_counter
from typing import Any

from . import _guard, transport
from .recorder import PARAMS, RUN, SITE, START, copy_params, current_unit, run_of

__all__ = ["build_schema", "instrument", "uninstrument"]

_lock = threading.Lock()
_HOOKS_ATTR = "_querysight_hooks"  # the dialect's _Hooks: its listeners, and the db and vendor it reports
_failed: dict[int, tuple[float, float, bool]] = {}  # _failure_key -> (start, end, many) of a statement that raised
_bases: list[Any] = []  # what instrument(base=...) was given, in order
_all_models = False  # describe every registry of the process (instrument() without base)


def instrument(engine: Any, *, name: str | None = None, base: Any = None) -> None:
    """Record every query of ``engine`` (an ``Engine`` or an ``AsyncEngine``) into the current unit.

    ``name`` is the ``db`` reported for its queries (default: the URL's database). ``base`` is the declarative base
    or ``registry`` whose models are sent as the schema (default: every mapped class in the process). Called again
    for an engine (to put its hooks after listeners the app added since), what was not given again stays as it was.
    """
    global _all_models
    from sqlalchemy import event
    from sqlalchemy.orm import Mapper

    sync_engine = getattr(engine, "sync_engine", engine)
    dialect = sync_engine.dialect
    with _lock:
        hooks = getattr(dialect, _HOOKS_ATTR, None)
        again = hooks is not None
        if hooks is None:
            hooks = _Hooks(dialect)
            setattr(dialect, _HOOKS_ATTR, hooks)
            event.listen(sync_engine, "handle_error", _handle_error)
        hooks.listen(sync_engine)  # again too: after listeners the app added since
        if name is not None or not again:
            hooks.name(name or _database_of(sync_engine))
        if base is None:
            _all_models = _all_models or not again
        elif not any(known is base for known in _bases):
            _bases.append(base)
        info = transport.app
        if info.framework is None:
            info.framework = "sqlalchemy"
            info.framework_version = _version()
        info.schema_provider = build_schema
        info.schema_version = schema_version
        if not event.contains(Mapper, "mapper_configured", _on_mapper_configured):
            event.listen(Mapper, "mapper_configured", _on_mapper_configured)


def uninstrument(engine: Any) -> None:
    """Stop recording the queries of ``engine`` (undoes :func:`instrument`)."""
    from sqlalchemy import event

    sync_engine = getattr(engine, "sync_engine", engine)
    dialect = sync_engine.dialect
    with _lock:
        hooks = getattr(dialect, _HOOKS_ATTR, None)
        if hooks is None:
            return
        for name, fn in [*hooks.events(), ("handle_error", _handle_error)]:
            if event.contains(sync_engine, name, fn):
                event.remove(sync_engine, name, fn)
        delattr(dialect, _HOOKS_ATTR)


def _database_of(engine: Any) -> str:
    url = engine.url
    database = url.database
    if engine.dialect.name == "sqlite":
        return database.rsplit("/", 1)[-1] if database else ":memory:"
    return database or url.host or "default"


def _version() -> str | None:
    import sqlalchemy

    return getattr(sqlalchemy, "__version__", None)


# ---- the query hooks ------------------------------------------------------------------------------------------


class _Hooks:
    """The listeners of one dialect. Each runs the dialect's own method (what SQLAlchemy would have called), timed,
    and returns True so SQLAlchemy does not run it again; outside a unit it returns False and SQLAlchemy runs it.

    SQLAlchemy stops at the first listener that returns True, so a hook only takes over while it is the last
    listener of its event: a listener the app added later still runs (its queries then go unrecorded, and the log
    says so once; ``instrument()`` again puts the hooks back at the end)."""

    __slots__ = (
        "_connected",
        "_execute",
        "_listeners",
        "_many",
        "_row_by_row",
        "_rows_of",
        "_single",
        "db",
        "dialect",
        "vendor",
    )

    def __init__(self, dialect: Any) -> None:
        self.dialect = dialect
        self.vendor = dialect.name
        self._row_by_row = _insertmanyvalues_style()
        # (a weak reference to the execution context, the query it was recorded as) of the last INSERT sent row by
        # row: weak, so that no context is kept alive, nor another one taken for it
        self._rows_of: tuple[weakref.ref[Any], tuple[Any, ...]] | None = None
        # Once a statement has run on a connection of the app's, the dialect's first-connect checks are over (see
        # _dialect_setup): from then on, one attribute read a query instead of two.
        self._connected = False
        self.name("default")
        # event name -> (the dialect's deque of listeners of that event, the listener that is ours)
        self._listeners: dict[str, tuple[Any, Any]] = {}
        self._execute: tuple[Any, Any] = ((), None)  # _listeners["do_execute"], read for every query

    def listen(self, engine: Any) -> None:
        """Listen (again) to ``engine``'s execute events, after any listener already there."""
        from sqlalchemy import event

        for name, fn in self.events():
            if event.contains(engine, name, fn):
                event.remove(engine, name, fn)
            event.listen(engine, name, fn)
            self._listeners[name] = (getattr(self.dialect.dispatch, name).listeners, fn)
        self._execute = self._listeners["do_execute"]

    def name(self, db: str) -> None:
        """Set the ``db`` its queries report (and the Run tuples they share)."""
        self.db = db
        self._single, self._many = run_of(db, self.vendor), run_of(db, self.vendor, many=True)

    def events(self) -> list[tuple[str, Any]]:
        return [
            ("do_execute", self.do_execute),
            ("do_execute_no_params", self.do_execute_no_params),
            ("do_executemany", self.do_executemany),
        ]

    def _last(self, name: str) -> bool:
        listeners, mine = self._listeners[name]
        if listeners and listeners[-1] is mine:
            return True
        _guard.report(
            "record the queries of an engine with a later execute listener",
            RuntimeError(
                f"another {name} listener was added to the engine after querysight's; call "
                "querysight.sqlalchemy.instrument(engine) again after adding yours so its queries are recorded"
            ),
        )
        return False

    def _setting_up(self, context: Any) -> bool:
        if _dialect_setup(context):
            return True
        self._connected = True
        return False

    def do_execute(self, cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        unit = current_unit.get()
        if unit is None or (not self._connected and self._setting_up(context)):
            return False
        listeners, mine = self._execute
        if listeners[-1] is not mine and not self._last("do_execute"):
            return False
        start = perf_counter()
        try:
            self.dialect.do_execute(cursor, statement, parameters, context)
        except BaseException:
            _remember_failure(context, start, False)
            raise
        end = perf_counter()
        try:
            if context.execute_style is self._row_by_row and statement == context.statement:
                self._record_row(unit, statement, parameters, context, start, end)
            else:
                unit.record(statement, parameters, self._single, start, end, 1)
        except Exception as exc:  # noqa: BLE001 - the guard, inlined: this runs for every query
            _guard.failed("record a query", exc)
        return True

    def _record_row(self, unit: Any, statement: str, parameters: Any, context: Any, start: float, end: float) -> None:
        """One row of an "insertmanyvalues" INSERT that SQLAlchemy sends row by row (the statement as compiled, for
        one row; see the module's docstring): the second row and those after it join the first row's query, which
        becomes one ``many`` query of every row (the parameters of the first ``max_many_rows``), from the first row's
        start to the last row's end. A query of the unit recorded in between (another thread's) starts over."""
        queries = unit.queries
        last = self._rows_of
        if last is not None and last[0]() is context and queries and queries[-1] is last[1]:
            first = last[1]
            rows = first[PARAMS]
            if rows is not None:
                if first[RUN] is not self._many:  # the second row: the first one's parameters are the first row
                    rows = [rows]
                if len(rows) < unit.settings.max_many_rows:
                    rows.append(copy_params(parameters, False, unit.settings.max_many_rows))
            joined = (first[SITE], rows, first[START], end, self._many)
            queries[-1] = joined
            self._rows_of = (last[0], joined)
            return
        before = len(queries)
        unit.record(statement, parameters, self._single, start, end, 1)
        self._rows_of = (weakref.ref(context), queries[-1]) if len(queries) > before else None

    def do_execute_no_params(self, cursor: Any, statement: str, context: Any) -> bool:
        unit = current_unit.get()
        if unit is None or (not self._connected and self._setting_up(context)):
            return False
        if not self._last("do_execute_no_params"):
            return False
        start = perf_counter()
        try:
            self.dialect.do_execute_no_params(cursor, statement, context)
        except BaseException:
            _remember_failure(context, start, False)
            raise
        end = perf_counter()
        try:
            unit.record(statement, None, self._single, start, end, 1)
        except Exception as exc:  # noqa: BLE001 - the guard, inlined
            _guard.failed("record a query", exc)
        return True

    def do_executemany(self, cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
        unit = current_unit.get()
        if unit is None or not self._last("do_executemany"):
            return False
        if parameters is not None and not isinstance(parameters, (list, tuple)):
            parameters = list(parameters)  # an iterator would be consumed by the driver before we could record it
        start = perf_counter()
        try:
            self.dialect.do_executemany(cursor, statement, parameters, context)
        except BaseException:
            _remember_failure(context, start, True)
            raise
        end = perf_counter()
        try:
            unit.record(statement, parameters, self._many, start, end, 1)
        except Exception as exc:  # noqa: BLE001 - the guard, inlined
            _guard.failed("record a query", exc)
        return True


def _insertmanyvalues_style() -> object:
    """SQLAlchemy's ``ExecuteStyle.INSERTMANYVALUES`` (2.0 and later), or a marker no context has (1.4)."""
    try:
        from sqlalchemy.engine.interfaces import ExecuteStyle
    except ImportError:
        return object()
    return ExecuteStyle.INSERTMANYVALUES


def _dialect_setup(context: Any) -> bool:
    """Whether the statement is one of the dialect's own checks on the engine's first connection (the server's
    version, the schema, string quoting: ``dialect.initialize``), which SQLAlchemy runs on a connection of its own,
    the only one that may not begin a transaction. Connection setup, not the app's (Django's is not recorded either):
    counted, it would make the query count of whichever unit connects first depend on the order units run in."""
    return getattr(context.root_connection, "_allow_autobegin", True) is False


def _remember_failure(context: Any, start: float, many: bool) -> None:
    if len(_failed) >= 1000:  # handle_error never came for these (skip_user_error_events): do not keep them forever
        _failed.clear()
    _failed[_failure_key(context)] = (start, perf_counter(), many)


def _failure_key(context: Any) -> int:
    """What links a statement that raised to its handle_error event: its execution context, else the thread."""
    return id(context) if context is not None else threading.get_ident()


def _handle_error(ctx: Any) -> None:
    """A statement our hook ran raised: record it with the exception SQLAlchemy raises to the app."""
    times = _failed.pop(_failure_key(ctx.execution_context), None)
    unit = current_unit.get()
    if times is None or unit is None or ctx.statement is None:
        return  # not one of ours, or the statement ran and fetching its rows failed
    with _guard.guard("record a failed query"):
        hooks = getattr(ctx.dialect, _HOOKS_ATTR, None)
        db, vendor = (hooks.db, hooks.vendor) if hooks is not None else ("default", ctx.dialect.name)
        start, end, many = times
        error = ctx.sqlalchemy_exception or ctx.original_exception
        unit.record(ctx.statement, ctx.parameters, run_of(db, vendor, many, error), start, end, 2)


# ---- schema ---------------------------------------------------------------------------------------------------


def _registries() -> list[Any]:
    from sqlalchemy.orm import mapperlib
    from sqlalchemy.orm import registry as Registry

    found: list[Any] = []
    for base in _bases:
        reg = base if isinstance(base, Registry) else getattr(base, "registry", None)
        if reg is not None and not any(known is reg for known in found):
            found.append(reg)
    if _all_models:
        all_registries = getattr(mapperlib, "_all_registries", None)
        for reg in all_registries() if all_registries is not None else ():
            if not any(known is reg for known in found):
                found.append(reg)
    return found


_configured = 0  # models SQLAlchemy configured since instrument() listened (see schema_version)


def _on_mapper_configured(mapper: Any, cls: Any) -> None:
    global _configured
    _configured += 1


def schema_version() -> int:
    """Changes when :func:`build_schema` would: a count of the models SQLAlchemy configured (a model mapped after the
    first batch, a second declarative base; SQLAlchemy configures a model when it is first used, and the schema
    describes configured ones only), kept by its ``mapper_configured`` event: the transport asks before each batch."""
    return _configured


def model_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def build_schema() -> dict[str, Any] | None:
    """The configured mapped classes as DESIGN.md §4 models (None when none is configured yet)."""
    models: list[dict[str, Any]] = []
    seen: set[str] = set()
    for reg in _registries():
        for mapper in sorted(reg.mappers, key=lambda mapper: model_name(mapper.class_)):
            if not mapper.configured:
                continue
            model = _describe_mapper(mapper)
            if model is not None and model["model"] not in seen:
                seen.add(model["model"])
                models.append(model)
    return {"models": models} if models else None


def _describe_mapper(mapper: Any) -> dict[str, Any] | None:
    table = mapper.local_table
    table_name = getattr(table, "name", None)
    if table_name is None:
        return None  # mapped to a join or a select: no single table to name
    pk = mapper.primary_key[0].name if mapper.primary_key else "id"
    relations = [rel for rel in (_describe_relationship(prop) for prop in mapper.relationships) if rel is not None]
    return {"model": model_name(mapper.class_), "table": table_name, "pk": pk, "relations": relations}


def _describe_relationship(prop: Any) -> dict[str, Any] | None:
    from sqlalchemy.orm import interfaces

    if prop.lazy in ("dynamic", "write_only"):
        # Its collection is a query object of its own, never loaded: selectinload() or joinedload() of it raises
        # InvalidRequestError, so the server must not be told it can be eager-loaded (it then says to load the rows
        # of every parent in one query with IN, which is the fix).
        return None
    target = model_name(prop.mapper.class_)
    direction = prop.direction
    if prop.secondary is not None and direction is interfaces.MANYTOMANY:
        through = getattr(prop.secondary, "name", None)
        source = _column_names(dest for _, dest in prop.synchronize_pairs)
        remote = _column_names(dest for _, dest in prop.secondary_synchronize_pairs or ())
        if through is None or not source or not remote:
            return None
        return {
            "field": prop.key,
            "kind": "m2m",
            "target": target,
            "through_table": through,
            "source_column": source[0],
            "target_column": remote[0],
        }
    if direction is interfaces.MANYTOONE:
        local = _column_names(prop.local_columns)
        if not local:
            return None
        one_to_one = any(not reverse.uselist for reverse in prop._reverse_property)
        return {"field": prop.key, "kind": "o2o" if one_to_one else "fk", "column": local[0], "target": target}
    if direction is interfaces.ONETOMANY:
        remote = _column_names(prop.remote_side)
        if not remote:
            return None
        kind = "reverse_fk" if prop.uselist else "reverse_o2o"
        return {"field": prop.key, "kind": kind, "target": target, "target_column": remote[0]}
    return None


def _column_names(columns: Any) -> list[str]:
    return sorted(str(column.name) for column in columns if getattr(column, "name", None))
