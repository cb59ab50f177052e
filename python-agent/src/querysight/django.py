"""Django integration: ``MIDDLEWARE = ["querysight.django.QuerySightMiddleware", ...]`` (first in the list).

- One unit per request with ``route`` (the URL pattern), ``view`` (dotted path), ``status``, ``method``, ``path``.
- Queries are caught by Django's own ``execute_wrappers`` on every connection of every alias: the wrapper is put on
  the connections that exist when the middleware is created and, through the ``connection_created`` signal, on every
  connection opened later in any thread (mid-request, ``sync_to_async`` executor threads); the first request a thread
  serves also looks at that thread's connections, for one opened there before querysight was set up. It is installed
  once per connection object, at the front of the list so ``with connection.execute_wrapper(...)`` blocks of the app
  keep working. A query outside any unit costs one ContextVar read.
- The unit travels in a ContextVar, so async views, ``aget``, ``async for`` and ``sync_to_async`` threads attribute
  their queries to the request (see ``querysight._stack`` for how their call sites are found).
- The template name and line are recorded when a query runs while a Django template renders (found on the query's
  own stack walk, so rendering itself costs nothing).
- ``X-QuerySight-Unit`` on every recorded response; the overlay ``<script>`` in complete HTML responses.

Settings: the ``QUERYSIGHT`` dict (``URL``, ``TOKEN``, ``ENABLED``, ``OUTPUT``, ``CAPTURE_PARAMS``, ``OVERLAY``,
``CONSOLE``, ``IGNORE_PATHS``, ``MAX_QUERIES``, ``APP_NAME``); enabled by default when ``DEBUG`` is on or a URL or
output file is set explicitly. Outside requests (management commands, scripts) call :func:`instrument` (or add
``"querysight.django.QuerySightAppConfig"`` to ``INSTALLED_APPS``) and use ``querysight.capture(...)``.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import AsyncIterator, Iterator
from time import perf_counter
from typing import Any

from django.apps import AppConfig

from . import _guard, _threads, _web, config, transport
from .recorder import Unit, current_unit, run_of

__all__ = ["QuerySightAppConfig", "QuerySightMiddleware", "build_schema", "instrument"]

_instrument_lock = threading.Lock()
_thread_seen = threading.local()  # .done: this thread's existing connections were instrumented
_NOT_SEEN = object()
_signal_connected = False
_current_unit = current_unit.get
_getframe = sys._getframe


def query_hook(alias: str, vendor: str) -> Any:
    """The execute wrapper of one connection: it records each query in the unit of the current context.

    One per connection object, made when it is instrumented: it knows its connection's alias and vendor, so the
    queries share two ``Run`` tuples instead of reading the connection for each one. The next query of a loop is
    recorded here without calling ``Unit.record``: the memo's skip of the walk (see ``querysight._stack.Memo``) is
    done inline, as ``Unit.record`` does it, because this runs for every query of every request and the call is a
    tenth of the hook's instructions. Anything else (the first query of a loop, executemany, parameters to copy or
    leave out, errors, the query limit) goes through ``Unit.record``.
    """
    single, many_rows = run_of(alias, vendor), run_of(alias, vendor, many=True)

    def _execute_wrapper(execute: Any, sql: Any, params: Any, many: bool, context: dict[str, Any]) -> Any:
        unit = _current_unit()
        if unit is None:
            return execute(sql, params, many, context)
        if many and params is not None and not isinstance(params, (list, tuple)):
            params = list(params)  # an iterator would be consumed by the driver before we could record it
        start = perf_counter()
        try:
            result = execute(sql, params, many, context)
        except BaseException as exc:
            end = perf_counter()
            try:
                text = sql if sql.__class__ is str else _sql_text(sql, context)
                unit.record(text, params, run_of(alias, vendor, many, exc), start, end, 1)
            except Exception as failure:  # noqa: BLE001 - the guard, inlined: this runs for every query
                _guard.failed("record a query", failure)
            raise
        end = perf_counter()
        try:
            memo = unit._memo
            if memo is not None and not many and (params is None or (unit._keep_params and type(params) is tuple)):
                try:
                    frame = _getframe(memo.depth)
                except ValueError:  # a shallower stack than the memo's (another thread of the unit)
                    frame = None
                if frame is memo.first:
                    site = memo.lines.get(frame.f_lasti)
                    if site is not None and site[0] == sql:  # site[SQL]: a constant index is one load less
                        queries = unit.queries
                        if len(queries) < unit.max_queries:
                            queries.append((site, params, start, end, single))
                            return result
            text = sql if sql.__class__ is str else _sql_text(sql, context)
            unit.record(text, params, many_rows if many else single, start, end, 1)
        except Exception as exc:  # noqa: BLE001 - the guard, inlined: this runs for every query
            _guard.failed("record a query", exc)
        return result

    _execute_wrapper.querysight = True  # type: ignore[attr-defined]
    return _execute_wrapper


def _sql_text(sql: Any, context: dict[str, Any]) -> Any:
    """The SQL of a statement given as a driver's object (psycopg's ``sql.SQL`` or ``sql.Composed``, which only the
    driver can write out: it quotes identifiers for its connection). Anything else stays as it is (``str()`` of it is
    sent)."""
    as_string = getattr(sql, "as_string", None)
    if as_string is None:
        return sql
    # Django's wrapper's DB-API cursor; then none (psycopg 3.2 writes it without one, as for the default connection).
    for driver_context in (getattr(context.get("cursor"), "cursor", None), None):
        try:
            return as_string(driver_context)
        except Exception:  # noqa: BLE001 - an object that cannot render itself is sent by its str()
            continue
    return sql


def is_query_hook(wrapper: Any) -> bool:
    return getattr(wrapper, "querysight", False) is True


def instrument_connection(connection: Any) -> None:
    """Put the query hook on one connection object (idempotent)."""
    wrappers = connection.execute_wrappers
    if not any(is_query_hook(wrapper) for wrapper in wrappers):
        wrappers.insert(0, query_hook(connection.alias, connection.vendor))


def _on_connection_created(sender: Any, connection: Any, **kwargs: Any) -> None:
    with _guard.guard("instrument a new connection"):
        instrument_connection(connection)


def _on_request_exception(sender: Any, **kwargs: Any) -> None:
    """Django turns a view's exception into a 500 before the middleware sees it, and sends this signal while it
    handles it (in the thread where it is handled: asgiref raises it again there for an async view)."""
    with _guard.guard("note a request's exception"):
        unit = _current_unit()
        exc = sys.exc_info()[1]
        if unit is not None and unit.kind == "request" and exc is not None:
            _web.note_error(unit, exc)


def instrument_existing_connections() -> None:
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        instrument_connection(connection)


def load_settings() -> config.Settings:
    """Read ``settings.QUERYSIGHT`` and ``DEBUG`` into querysight's settings and describe the app.

    A setting that cannot be used (``"MAX_QUERIES": "many"``, an unknown key, ``QUERYSIGHT_ENABLED=maybe``, a
    ``QUERYSIGHT`` that is not a dict) raises ``config.InvalidSetting`` naming it (see
    :func:`_instrument_at_startup`)."""
    import django
    from django.conf import settings as dj

    given_settings = getattr(dj, "QUERYSIGHT", None) or {}
    if not isinstance(given_settings, dict):
        raise config.InvalidSettingType(
            f"settings.QUERYSIGHT={given_settings!r} must be a dict such as {{'URL': 'http://127.0.0.1:8321'}}"
        )
    values = dict(given_settings)
    given = {str(key).lower() for key in values}
    if "console" not in given:
        values["CONSOLE"] = _under_runserver()
    if "ignore_paths" not in given:
        served = [getattr(dj, name, None) for name in ("STATIC_URL", "MEDIA_URL")]
        extra = [url for url in served if isinstance(url, str) and url.startswith("/") and url != "/"]
        values["IGNORE_PATHS"] = (*config.DEFAULT_IGNORE_PATHS, *extra)
    config.set_framework_settings(values, debug=bool(getattr(dj, "DEBUG", False)))
    settings = config.current()
    info = transport.app
    info.framework = "django"
    info.framework_version = django.get_version()
    module = getattr(dj, "SETTINGS_MODULE", None) or ""
    info.name = module.split(".")[0] or None
    info.schema_provider = build_schema
    info.schema_version = None  # the app registry is complete once Django is set up
    return settings


def _instrument_at_startup(what: str) -> config.Settings | None:
    """:func:`instrument` inside the guard, except that a setting that cannot be used stops startup with
    ``ImproperlyConfigured`` naming it, as Django does for its own settings: it is the developer's to fix, and
    swallowing it would leave the app running with nothing recorded. The settings, or None when the agent failed."""
    from django.core.exceptions import ImproperlyConfigured

    unusable: config.InvalidSetting | None = None
    with _guard.guard(what):
        try:
            instrument()
            return config.current()
        except config.InvalidSetting as exc:
            unusable = exc
    if unusable is not None:
        raise ImproperlyConfigured(f"QUERYSIGHT: {unusable}") from unusable
    return None


def _under_runserver() -> bool:
    return len(sys.argv) > 1 and sys.argv[1] in ("runserver", "runserver_plus")


def instrument() -> None:
    """Hook every present and future connection and read the settings; safe to call any number of times."""
    global _signal_connected
    if load_settings().enabled:
        _threads.follow_units_into_thread_pools()
    if not _signal_connected:
        from django.core.signals import got_request_exception
        from django.db.backends.signals import connection_created

        with _instrument_lock:
            if not _signal_connected:
                connection_created.connect(
                    _on_connection_created, weak=False, dispatch_uid="querysight.instrument_connection"
                )
                got_request_exception.connect(
                    _on_request_exception, weak=False, dispatch_uid="querysight.note_request_exception"
                )
                _signal_connected = True
    instrument_existing_connections()


# ---- schema ---------------------------------------------------------------------------------------------------


def build_schema() -> dict[str, Any]:
    """Models, tables and relations from the app registry, for suggestions in ORM terms (DESIGN.md §4).

    Built on the agent's sender thread, where a default manager's ``get_queryset()`` (read for its filter) may query:
    a connection opened for it there is closed again, or it would stay open for the life of the process (Django
    closes a thread's connections only at the end of a request it serves)."""
    from django.apps import apps
    from django.db import connections

    open_before = {c.alias for c in connections.all(initialized_only=True) if c.connection is not None}
    try:
        # Proxies first: a server that does not know proxy_for takes the last model of a table as the table's.
        registered = [model for model in apps.get_models() if not model._meta.swapped]
        models = sorted(registered, key=lambda model: not model._meta.proxy)
        return {"models": [describe_proxy(model) if model._meta.proxy else describe_model(model) for model in models]}
    finally:
        for connection in connections.all(initialized_only=True):
            if connection.alias not in open_before and connection.connection is not None:
                connection.close()


def describe_proxy(model: Any) -> dict[str, Any]:
    """A proxy model: its label and the concrete model whose table and relations it shares. Fixes over that table
    name the concrete model's manager, and mention the proxy's, whose objects have methods the other's lack."""
    meta = model._meta
    return {
        "model": meta.label,
        "table": meta.db_table,
        "pk": meta.pk.column,
        "proxy_for": meta.concrete_model._meta.label,
        "relations": [],
    }


def describe_model(model: Any) -> dict[str, Any]:
    """One model of the schema: label, table, primary key, relations, and what the server needs to word fixes that
    work for it (its default ordering, GenericForeignKeys, a default manager that is not a plain ``objects``, save
    signal receivers)."""
    from django.db import models

    meta = model._meta
    relations: list[dict[str, Any]] = []
    for field in meta.get_fields():
        if isinstance(field, models.ManyToManyField):
            through = field.remote_field.through._meta
            relations.append(
                {
                    "field": field.name,
                    "kind": "m2m",
                    "target": field.related_model._meta.label,
                    "through_table": through.db_table,
                    "source_column": field.m2m_column_name(),
                    "target_column": field.m2m_reverse_name(),
                }
            )
        elif isinstance(field, models.ForeignKey):
            relations.append(
                {
                    "field": field.name,
                    "kind": "o2o" if field.one_to_one else "fk",
                    "column": field.column,
                    "target": field.related_model._meta.label,
                }
            )
        elif isinstance(field, models.ManyToManyRel):
            if _hidden(field):
                continue
            forward = field.remote_field
            relations.append(
                {
                    "field": field.get_accessor_name(),
                    "kind": "reverse_m2m",
                    "target": field.related_model._meta.label,
                    "through_table": forward.remote_field.through._meta.db_table,
                    "source_column": forward.m2m_reverse_name(),
                    "target_column": forward.m2m_column_name(),
                }
            )
        elif isinstance(field, (models.ManyToOneRel, models.OneToOneRel)):
            if _hidden(field) or not isinstance(field.remote_field, models.ForeignKey):
                continue
            relations.append(
                {
                    "field": field.get_accessor_name(),
                    "kind": "reverse_o2o" if isinstance(field, models.OneToOneRel) else "reverse_fk",
                    "target": field.related_model._meta.label,
                    "target_column": field.remote_field.column,
                }
            )
    described: dict[str, Any] = {"model": meta.label, "table": meta.db_table, "pk": meta.pk.column}
    optional = {
        "ordering": _ordering(meta),
        "generic_fks": _generic_fks(meta) or None,
        "manager": _default_manager(model),
        "save_signals": _save_signals(model) or None,
    }
    described.update({key: value for key, value in optional.items() if value is not None})
    return {**described, "relations": relations}


def _default_manager(model: Any) -> dict[str, Any] | None:
    """The manager a fix names, when it should not read ``Model.objects`` as a plain manager: ``objects`` when the
    model has one, else its default manager's name; and whether its queryset leaves rows out (``objects =
    PublishedManager()``), so that the server writes bulk fixes on ``_base_manager``, as ``save()`` does, instead of
    silently skipping rows. Whether it filters is read from the WHERE of its query (``get_queryset()`` is called, the
    query not run). None for a plain ``objects``."""
    try:
        managers = model._meta.managers_map
        manager = managers.get("objects", model._meta.default_manager)
        filtered = bool(manager.all().query.where)
    except Exception:  # noqa: BLE001 - a manager that cannot build a queryset here: say nothing of it
        return None
    if manager.name == "objects" and not filtered:
        return None
    return {"name": manager.name, "filtered": filtered}


def _save_signals(model: Any) -> list[str]:
    """The save signals with receivers for this model (connected by the time the schema is built): bulk_create,
    bulk_update and update() send none, which a fix replacing save() per row must say."""
    from django.db.models import signals

    return [name for name in ("pre_save", "post_save") if getattr(signals, name).has_listeners(model)]


def _generic_fks(meta: Any) -> list[dict[str, str]]:
    """The model's GenericForeignKeys (a private field each): the attribute, and the columns of its ContentType FK and
    of the object's key, so that the server can tell ``comment.target`` read per row and suggest
    ``prefetch_related("target")``."""
    found = []
    for field in meta.private_fields:
        ct_name, fk_name = getattr(field, "ct_field", None), getattr(field, "fk_field", None)
        if not (isinstance(ct_name, str) and isinstance(fk_name, str)) or not field.is_relation:
            continue  # not a GenericForeignKey (GenericRelation lives in private_fields too, without these)
        try:
            ct_column, fk_column = meta.get_field(ct_name).column, meta.get_field(fk_name).column
        except Exception:  # noqa: BLE001 - a field named wrongly: Django's own check reports it
            continue
        found.append({"field": field.name, "ct_column": ct_column, "fk_column": fk_column})
    return found


def _ordering(meta: Any) -> list[str] | None:
    """The model's default ``Meta.ordering`` as the columns its ORDER BY names (``["-created_at", "id"]``), or None.

    With it the server tells a related manager ordered the model's own way, which a plain ``prefetch_related`` serves,
    from one ordered by an ``order_by()`` of the loop's, which it does not. Columns, not field names: the SQL names
    columns (a ``db_column`` differs). None when the ORDER BY cannot be foreseen: an expression (``F("x").desc()``),
    ``"?"``, a related field (``"author__name"``) or a foreign key (ordered by its model's own ordering)."""
    columns = []
    for item in meta.ordering or ():
        if not isinstance(item, str):
            return None
        name = item.lstrip("-")
        try:
            field = meta.pk if name == "pk" else meta.get_field(name)
        except Exception:  # noqa: BLE001 - "?", a lookup through a relation, a name Django's own check reports
            return None
        if field.is_relation or not getattr(field, "column", None):
            return None
        columns.append(("-" if item.startswith("-") else "") + field.column)
    return columns


def _hidden(rel: Any) -> bool:
    """A reverse relation with a ``+`` related_name has no accessor (Django's own test, stable across versions)."""
    name = rel.related_name
    return bool(name) and str(name).endswith("+")


# ---- middleware -----------------------------------------------------------------------------------------------


def inject_overlay(response: Any, unit_id: str, server_url: str) -> bool:
    """Insert the overlay script before the last ``</body>`` of a complete, uncompressed HTML response.

    The rules are :func:`_web.injectable`'s (one implementation for every framework); Django only adds what its
    response object knows: a streaming response is never complete, and the charset may live on the object.
    """
    if getattr(response, "streaming", False):
        return False
    charset = (getattr(response, "charset", None) or "utf-8").lower().replace("_", "-")
    if charset.startswith(("utf-16", "utf-32")):
        return False
    content = response.content
    headers = [(name, value) for name, value in response.items() if name.lower() != "content-length"]
    if not _web.injectable([*headers, ("Content-Length", str(len(content)))]):
        return False
    body = _web.insert_overlay(content, unit_id, server_url)
    if body is None:
        return False
    response.content = body
    if response.has_header("Content-Length"):
        response["Content-Length"] = str(len(body))
    return True


class QuerySightMiddleware:
    """Records each request as a unit. Sync and async capable; put it first in ``MIDDLEWARE``."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        from django.core.exceptions import MiddlewareNotUsed

        self.get_response = get_response
        self._last_host: object = _NOT_SEEN
        from asgiref.sync import iscoroutinefunction

        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            from asgiref.sync import markcoroutinefunction

            markcoroutinefunction(self)
        settings = _instrument_at_startup("set up the middleware")
        if settings is None or not settings.enabled:
            raise MiddlewareNotUsed("querysight is disabled (DEBUG is off and no QUERYSIGHT URL is set)")

    def __call__(self, request: Any) -> Any:
        if self.is_async:
            return self.__acall__(request)
        unit = self._start(request)
        if unit is None:
            return self.get_response(request)
        token = current_unit.set(unit)
        unit.boundary = _getframe()  # the request's queries come from below here (not from a test calling it)
        try:
            response = self.get_response(request)
        except BaseException:
            current_unit.reset(token)
            token = None
            self._finish(unit, request, None)
            raise
        finally:
            unit.boundary = None  # (the frame holds the unit: no cycle left once the call returns)
            if token is not None:
                current_unit.reset(token)
        return self._finish(unit, request, response)

    async def __acall__(self, request: Any) -> Any:
        unit = self._start(request)
        if unit is None:
            return await self.get_response(request)
        token = current_unit.set(unit)
        unit.boundary = _getframe()  # this coroutine's frame: its await chain ends the request's queries' stacks here
        try:
            response = await self.get_response(request)
        except BaseException:
            current_unit.reset(token)
            token = None
            self._finish(unit, request, None)
            raise
        finally:
            unit.boundary = None
            if token is not None:
                current_unit.reset(token)
        return self._finish(unit, request, response)

    def _start(self, request: Any) -> Unit | None:
        with _guard.guard("start a request unit"):
            settings = config.current()
            if not settings.enabled:
                return None
            path = request.path
            if _web.ignored(path, settings.ignore_paths):
                return None
            if not getattr(_thread_seen, "done", False):
                instrument_existing_connections()
                _thread_seen.done = True
            raw_host = request.META.get("HTTP_HOST")
            if raw_host != self._last_host:  # the page origin the overlay runs on; the server allows it for CORS
                self._last_host = raw_host
                transport.app.origin = _trusted_origin(request) or transport.app.origin
            return Unit(
                "request",
                f"{request.method} {path}",
                method=request.method,
                path=request.get_full_path(),
                settings=settings,
            )
        return None

    def _finish(self, unit: Unit, request: Any, response: Any) -> Any:
        with _guard.guard("finish a request unit"):
            match = getattr(request, "resolver_match", None)
            if match is not None:
                unit.route = match.route or None
                unit.view = getattr(match, "_func_path", None)
            status = response.status_code if response is not None else 500
            if response is not None:
                response[_web.UNIT_HEADER] = unit.id
                if _streams_later(response):
                    # The body is produced after the view returns: keep recording until the stream ends.
                    unit.status = status
                    _record_stream(response, unit)
                    return response
                settings = unit.settings
                if transport.overlay_wanted(settings):
                    inject_overlay(response, unit.id, settings.server_url)
            _web.finish(unit, status)
        return response


def _streams_later(response: Any) -> bool:
    if not getattr(response, "streaming", False):
        return False
    from django.http import FileResponse

    return not isinstance(response, FileResponse)


def _record_stream(response: Any, unit: Unit) -> None:
    """Attribute the queries made while a StreamingHttpResponse is consumed to its unit; finish the unit when the
    stream ends, is closed, or is dropped unread (see ``_web.UnitEnd``)."""
    content = response.streaming_content
    end = _web.UnitEnd(unit, lambda: _web.finish(unit, unit.status))
    if response.is_async:
        response.streaming_content = _recording_async_stream(content, end)
    else:
        response.streaming_content = _recording_stream(iter(content), end)


def _recording_stream(chunks: Iterator[Any], end: _web.UnitEnd) -> Iterator[Any]:
    unit = end.unit
    try:
        while True:
            token = current_unit.set(unit)
            # The stream's queries come from below here: not from the code reading it (a test's lines), which would
            # split the loop of a stream read in two steps.
            unit.boundary = _getframe()
            try:
                chunk = next(chunks)
            except StopIteration:
                break
            finally:
                unit.boundary = None
                current_unit.reset(token)
            end.last_read = perf_counter()
            yield chunk
        end()
    finally:
        end.later()  # closed before its end: maybe by the collector, inside any code (see _web.UnitEnd)


async def _recording_async_stream(chunks: AsyncIterator[Any], end: _web.UnitEnd) -> AsyncIterator[Any]:
    unit = end.unit
    try:
        while True:
            token = current_unit.set(unit)
            unit.boundary = _getframe()  # (see _recording_stream)
            try:
                chunk = await chunks.__anext__()
            except StopAsyncIteration:
                break
            finally:
                unit.boundary = None
                current_unit.reset(token)
            end.last_read = perf_counter()
            yield chunk
        end()
    finally:
        end.later()


def _trusted_origin(request: Any) -> str | None:
    """The origin of the page a request serves, when the server may allow it for CORS: its host is a loopback name
    or is named in ``ALLOWED_HOSTS`` itself. A host that only ``"*"`` or a ``".domain"`` pattern lets through could be
    a forged one (a page of that name rebound to this machine would then read the units)."""
    from django.conf import settings
    from django.core.exceptions import DisallowedHost
    from django.http.request import split_domain_port

    try:
        host = request.get_host()
    except DisallowedHost:
        return None
    host = host.lower()  # as browsers write it in Origin
    origin = f"{request.scheme}://{host}"
    if _web.loopback_origin(origin):
        return origin
    domain, _port = split_domain_port(host)
    named = {name.lower() for name in settings.ALLOWED_HOSTS if name != "*" and not name.startswith(".")}
    return origin if domain in named else None


class QuerySightAppConfig(AppConfig):
    """Add ``"querysight.django.QuerySightAppConfig"`` to ``INSTALLED_APPS`` to record queries outside requests
    (management commands, shell) with ``querysight.capture(...)``."""

    name = "querysight"
    label = "querysight"
    verbose_name = "querysight"

    def ready(self) -> None:
        _instrument_at_startup("instrument Django")
