"""SQLAlchemy integration: ``querysight.sqlalchemy.instrument(engine)``.

Queries are caught with SQLAlchemy's own engine events (``before_cursor_execute``, ``after_cursor_execute`` and
``handle_error``); nothing is monkeypatched. Works for a sync ``Engine`` and for an ``AsyncEngine`` (its
``sync_engine`` is instrumented; the await chain of the code that awaited the query is its call site). Each query
goes to the unit in progress (``querysight.recorder.current_unit``): a request unit of ``querysight.wsgi`` /
``querysight.asgi``, a ``querysight.capture(...)`` block, or a test of the pytest plugin. A query outside any unit
costs a ContextVar read per event.

- ``db`` is ``name=`` when given, else the database of the engine URL (the file name for SQLite, ``:memory:`` for an
  in-memory database); ``vendor`` is the dialect name (``sqlite``, ``postgresql``, ``mysql``...).
- ``executemany`` calls are one query with ``many: true``; SQLAlchemy's "insertmanyvalues" batches (one INSERT with
  many VALUES rows) are one query each, with the flat parameter list.
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
from time import perf_counter
from typing import Any

from . import _guard, transport
from .recorder import current_unit

__all__ = ["build_schema", "instrument"]

_lock = threading.Lock()
_DB_ATTR = "_querysight_db"  # (db, vendor), kept on the engine's dialect: one attribute read per query
_starts: dict[int, float] = {}  # id(execution context, else connection) -> perf_counter() at before_cursor_execute
_bases: list[Any] = []  # what instrument(base=...) was given, in order
_all_models = False  # describe every registry of the process (instrument() without base)
_INSERTMANYVALUES: Any = None


def instrument(engine: Any, *, name: str | None = None, base: Any = None) -> None:
    """Record every query of ``engine`` (an ``Engine`` or an ``AsyncEngine``) into the current unit.

    ``name`` is the ``db`` reported for its queries (default: the URL's database). ``base`` is the declarative base
    or ``registry`` whose models are sent as the schema (default: every mapped class in the process).
    """
    global _INSERTMANYVALUES, _all_models
    from sqlalchemy import event
    from sqlalchemy.engine.interfaces import ExecuteStyle

    _INSERTMANYVALUES = ExecuteStyle.INSERTMANYVALUES
    sync_engine = getattr(engine, "sync_engine", engine)
    with _lock:
        setattr(sync_engine.dialect, _DB_ATTR, (name or _database_of(sync_engine), sync_engine.dialect.name))
        if not event.contains(sync_engine, "after_cursor_execute", _after_cursor_execute):
            event.listen(sync_engine, "before_cursor_execute", _before_cursor_execute, retval=True)
            event.listen(sync_engine, "after_cursor_execute", _after_cursor_execute)
            event.listen(sync_engine, "handle_error", _handle_error)
        if base is None:
            _all_models = True
        elif not any(known is base for known in _bases):
            _bases.append(base)
        info = transport.app
        if info.framework is None:
            info.framework = "sqlalchemy"
            info.framework_version = _version()
        info.schema_provider = build_schema


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


def _before_cursor_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    # Listened with retval=True (statement and parameters returned unchanged): SQLAlchemy then calls this directly
    # instead of through its argument-adapting wrapper.
    if current_unit.get() is not None:
        _starts[id(conn if context is None else context)] = perf_counter()
    return statement, parameters


def _after_cursor_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    end = perf_counter()
    unit = current_unit.get()
    if unit is None:
        return
    try:
        start = _starts.pop(id(conn if context is None else context), None)
        if start is None:
            return
        db, vendor = getattr(conn.dialect, _DB_ATTR, None) or ("default", conn.dialect.name)
        many = executemany and getattr(context, "execute_style", None) is not _INSERTMANYVALUES
        unit.record(statement, parameters, many, db, vendor, start, end, None, depth=1)
    except Exception as exc:  # noqa: BLE001 - the guard, inlined: this runs for every query
        _guard.failed("record a query", exc)


def _handle_error(ctx: Any) -> None:
    end = perf_counter()
    unit = current_unit.get()
    if unit is None or ctx.statement is None:
        return
    with _guard.guard("record a failed query"):
        context = ctx.execution_context
        start = _starts.pop(id(ctx.connection if context is None else context), None)
        if start is None:
            return  # the query itself ran (and was recorded); fetching its rows failed
        dialect = ctx.dialect
        db, vendor = getattr(dialect, _DB_ATTR, None) or ("default", dialect.name)
        many = bool(
            context is not None
            and context.executemany
            and getattr(context, "execute_style", None) is not _INSERTMANYVALUES
        )
        error = ctx.sqlalchemy_exception or ctx.original_exception
        unit.record(ctx.statement, ctx.parameters, many, db, vendor, start, end, error, depth=2)


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
