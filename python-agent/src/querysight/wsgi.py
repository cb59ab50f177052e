"""WSGI middleware: one unit per request for Flask and any WSGI app.

Flask::

    app.wsgi_app = QuerySightMiddleware(app.wsgi_app)
    querysight.sqlalchemy.instrument(db.engine)          # or your own engine

Any WSGI app: ``application = QuerySightMiddleware(application)``.

- The unit is named ``METHOD /path`` and carries ``method``, ``path`` (with the query string), ``status``,
  ``duration_ms`` (until the body is closed, so streamed bodies count; or dropped unclosed, as the test client
  does) and, for Flask, ``route`` (the URL rule, ``/books/<int:book_id>``) and ``view`` (the view function's
  dotted path). They are read, when the app calls ``start_response``, from the request object Werkzeug keeps in
  ``environ["werkzeug.request"]`` while Flask's request context is active, or, for an exception Flask propagates
  (debug and testing modes), from Flask's ``got_request_exception`` signal; a URL that matched no rule or an app
  that is not Flask has no route.
- Queries run while the body is being iterated (a streamed template, a generator) belong to the request too.
- ``X-QuerySight-Unit: <id>`` is added to every recorded response. With ``OVERLAY`` on (Flask's debug mode by
  default) the overlay ``<script>`` is inserted before the last ``</body>`` of complete HTML responses only: the app
  called ``start_response`` before returning, declared a ``Content-Length`` (Werkzeug does for every non-streamed
  body) of at most 5 MiB, ``text/html`` without ``Content-Encoding``. Such a body is read, the tag inserted and
  ``Content-Length`` fixed; every other response streams through untouched.
- Paths matching ``IGNORE_PATHS`` (``/static/`` ... by default) are not recorded.
- Never breaks the app: exceptions of the app pass through unchanged (the unit still finishes, with status 500), the
  body iterable is always closed, and the agent's own errors are swallowed by the guard.

Settings: ``querysight.configure(...)`` / ``QUERYSIGHT_*`` env vars, or for Flask a ``QUERYSIGHT`` dict in
``app.config`` (read at the first request). Enabled by default when Flask runs in debug mode or a URL or output file
is set explicitly.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from . import _guard, _web, transport
from .recorder import Unit, current_unit

__all__ = ["QuerySightMiddleware"]

StartResponse = Callable[..., Any]


class QuerySightMiddleware:
    """Records each request of the wrapped WSGI application as a unit."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self.app = app
        self._flask_app: Any = None
        self._described = False
        with _guard.guard("set up the WSGI middleware"):
            self._flask_app = _flask_app_of(app)
            if self._flask_app is not None:
                from flask import got_request_exception

                # Flask lets go of the request (and its URL rule) before an exception it propagates (debug and
                # testing modes) reaches the middleware: the route is read while it handles the exception.
                got_request_exception.connect(_note_route_of_failure, self._flask_app, weak=False)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        unit = self._start(environ)
        if unit is None:
            return self.app(environ, start_response)
        response = _Response(unit, start_response, environ, self._flask_app)
        token = current_unit.set(unit)
        unit.boundary = sys._getframe()  # the request's queries come from below here (not from a test calling it)
        try:
            result = self.app(environ, response.start_response)
        except BaseException as exc:
            current_unit.reset(token)
            token = None
            with _guard.guard("note a request's exception"):
                _web.note_error(unit, exc)
            self._end(unit, environ, 500)
            raise
        finally:
            unit.boundary = None  # (the frame holds the unit: no cycle left once the call returns)
            if token is not None:
                current_unit.reset(token)
        unit.forget_frames()
        return response.body(result, lambda status: self._end(unit, environ, status))

    def _start(self, environ: dict[str, Any]) -> Unit | None:
        with _guard.guard("start a request unit"):
            if not self._described:
                self._describe()
            method = environ.get("REQUEST_METHOD", "GET")
            query = environ.get("QUERY_STRING", "")
            return _web.start_request(method, _path(environ), query, _origin(environ))
        return None

    def _describe(self) -> None:
        self._described = True
        flask_app = self._flask_app
        if flask_app is not None:
            values = flask_app.config.get("QUERYSIGHT")
            values = {str(k).lower(): v for k, v in values.items()} if isinstance(values, dict) else None
            _web.describe_app("flask", _web.package_version("flask"), flask_app.name, values, bool(flask_app.debug))

    def _end(self, unit: Unit, environ: dict[str, Any], status: int | None) -> None:
        with _guard.guard("finish a request unit"):
            if unit.route is None:
                unit.route, unit.view = _route_of(environ, self._flask_app)
            _web.finish(unit, status)


class _Response:
    """The response side of one recorded request: status, header, and the overlay when the body may be rewritten."""

    def __init__(self, unit: Unit, start_response: StartResponse, environ: dict[str, Any], flask_app: Any) -> None:
        self.unit = unit
        self.environ = environ
        self.flask_app = flask_app
        self.server_start_response = start_response
        self.status: int | None = None
        settings = unit.settings
        self.overlay = transport.overlay_wanted(settings) and environ.get("REQUEST_METHOD") != "HEAD"
        self.returned = False  # the app has returned its body iterable
        self.pending: tuple[str, list[tuple[str, str]], Any] | None = None  # a start_response held back
        self.written: list[bytes] = []  # bytes the app wrote with write() while it was held back

    def start_response(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        new_headers = headers
        hold = False
        with _guard.guard("read a WSGI response's headers"):
            self.status = int(status.split(None, 1)[0])
            if self.unit.route is None:  # Flask's request (and its URL rule) is gone once wsgi_app returns
                self.unit.route, self.unit.view = _route_of(self.environ, self.flask_app)
            new_headers = [*headers, (_web.UNIT_HEADER, self.unit.id)]
            hold = self.overlay and not self.returned and _web.injectable(new_headers)
        if hold:
            self.pending = (status, new_headers, exc_info)
            return self.written.append
        self.pending = None
        if exc_info is not None:
            return self.server_start_response(status, new_headers, exc_info)
        return self.server_start_response(status, new_headers)

    def body(self, result: Iterable[bytes], end: Callable[[int | None], None]) -> Iterable[bytes]:
        self.returned = True
        if self.pending is None:
            return _Body(result, self.unit, lambda: end(self.status))
        return self._rewritten(result, end)

    def _rewritten(self, result: Iterable[bytes], end: Callable[[int | None], None]) -> Iterable[bytes]:
        """Read the complete HTML body, insert the overlay, then start the response with the fixed length."""
        failed = True
        token = current_unit.set(self.unit)
        try:
            chunks = [*self.written, *result]
            failed = False
        finally:
            try:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            finally:
                current_unit.reset(token)
                if failed:
                    end(500)
        assert self.pending is not None
        status, headers, exc_info = self.pending
        content = b"".join(chunks)
        with _guard.guard("insert the overlay"):
            injected = _web.insert_overlay(content, self.unit.id, self.unit.settings.server_url)
            if injected is not None:
                content = injected
                headers = _web.replace_length(headers, len(content))
        if exc_info is not None:
            self.server_start_response(status, headers, exc_info)
        else:
            self.server_start_response(status, headers)
        end(self.status)
        return [content]


class _Body:
    """The app's body iterable, iterated with the request's unit current and closed exactly once.

    The unit ends when the body is closed (what runs then, ``call_on_close`` callbacks, a session's removal, is the
    request's too), or when the body is dropped unclosed (see ``_web.UnitEnd``: Werkzeug's test client closes it
    only in ``response.close()`` or a ``with`` block, which tests seldom call; the app's own close is not called
    then: it would run on another thread)."""

    def __init__(self, result: Iterable[bytes], unit: Unit, on_end: Callable[[], None]) -> None:
        self.result = result
        self.end = _web.UnitEnd(unit, on_end)
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        iterator = iter(self.result)
        unit = self.end.unit
        while True:
            token = current_unit.set(unit)
            # The body's queries come from below here: not from the code reading it (a test's lines: Werkzeug's
            # client reads the first chunk in get(), the test the rest), which would split a loop in two.
            unit.boundary = sys._getframe()
            try:
                chunk = next(iterator)
            except StopIteration:
                return
            finally:
                unit.boundary = None
                current_unit.reset(token)
            self.end.last_read = time.perf_counter()
            yield chunk

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        token = current_unit.set(self.end.unit)
        try:
            close = getattr(self.result, "close", None)
            if close is not None:
                close()
        finally:
            current_unit.reset(token)
            self.end()


def _path(environ: dict[str, Any]) -> str:
    raw = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
    try:
        return raw.encode("latin-1").decode("utf-8") or "/"
    except UnicodeError:
        return raw or "/"


def _origin(environ: dict[str, Any]) -> str | None:
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        name, port = environ.get("SERVER_NAME"), environ.get("SERVER_PORT")
        if not name:
            return None
        host = name if (scheme, str(port)) in (("http", "80"), ("https", "443")) else f"{name}:{port}"
    return f"{scheme}://{host}"


def _flask_app_of(app: Any) -> Any:
    """The Flask application behind ``app`` (``flask_app.wsgi_app`` or the Flask object itself, also under WSGI
    middleware that keeps the app it wraps as ``.app``: Werkzeug's ``ProxyFix``, or ``DispatcherMiddleware``'s
    default app, whose settings then apply to the mounted apps' requests too), else None."""
    flask = sys.modules.get("flask")
    if flask is None:
        return None
    for _ in range(10):  # a few layers of middleware at most
        owner = getattr(app, "__self__", app)
        if isinstance(owner, flask.Flask):
            return owner
        app = getattr(app, "app", None)
        if app is None:
            return None
    return None


def _note_route_of_failure(sender: Any, **extra: Any) -> None:
    """Flask's ``got_request_exception``: the route, and the exception, which Flask turns into a 500 itself unless
    it propagates it (debug and testing modes)."""
    with _guard.guard("read the route of a request that raised"):
        unit = current_unit.get()  # (a request the middleware does not record runs in a test's or block's unit)
        if unit is None or unit.kind != "request":
            return
        exc = extra.get("exception")
        if isinstance(exc, BaseException):
            _web.note_error(unit, exc)
        if unit.route is None:
            from flask import request

            unit.route, unit.view = _route_of({"werkzeug.request": request._get_current_object()}, sender)


def _route_of(environ: dict[str, Any], flask_app: Any) -> tuple[str | None, str | None]:
    """Flask's URL rule and view function for this request, from the request object Werkzeug left in environ."""
    request = environ.get("werkzeug.request")
    rule = getattr(request, "url_rule", None)
    route = getattr(rule, "rule", None)
    if not isinstance(route, str):
        return None, None
    view = None
    endpoint = getattr(rule, "endpoint", None)
    ours = flask_app is not None and getattr(rule, "map", None) is flask_app.url_map  # (not a mounted app's rule)
    func = flask_app.view_functions.get(endpoint) if ours and endpoint else None
    if func is not None:
        view = f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', endpoint)}"
    elif isinstance(endpoint, str):
        view = endpoint
    return route, view
