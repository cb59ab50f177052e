"""ASGI middleware: one unit per HTTP request for Starlette, FastAPI and any ASGI app.

FastAPI / Starlette::

    app.add_middleware(QuerySightMiddleware)     # or: app = QuerySightMiddleware(app)
    querysight.sqlalchemy.instrument(engine)     # sync Engine or AsyncEngine

- Only ``http`` scopes are recorded; ``lifespan`` and ``websocket`` scopes pass through. At the lifespan's
  shutdown, once the app has finished its own, the units waiting are delivered (up to the exit timeout): uvicorn ends
  the process on SIGTERM without running ``atexit``, where the agent's last flush would otherwise be.
- The unit is named ``METHOD /path`` and carries ``method``, ``path`` (with the query string), ``status`` (from
  ``http.response.start``), ``duration_ms`` (until the app returns, so background tasks count), ``route`` (the path
  pattern of ``scope["route"]`` that Starlette's router sets, ``/books/{book_id}``, prefixed by the path of the
  mounts it went through; for a Starlette ``Route`` in a FastAPI app, whose router does not set it, the route that
  has the endpoint and matches) and ``view`` (``scope["endpoint"]``'s dotted path).
- The unit travels in a ContextVar: queries of async endpoints, of sync endpoints (Starlette runs them in a thread
  pool with a copy of the context), of dependencies and of ``AsyncSession`` on an async engine all belong to it.
- ``X-QuerySight-Unit: <id>`` is added to every recorded response. With ``OVERLAY`` on (the app's ``debug`` by
  default) the overlay ``<script>`` is inserted before the last ``</body>`` of complete HTML responses only: the
  start message declares a ``Content-Length`` of at most 5 MiB, ``text/html`` without ``Content-Encoding``. The start
  message is then held back with the body messages until ``more_body`` is false (one message for
  ``HTMLResponse``), the tag is inserted and ``Content-Length`` fixed. Streaming responses (no ``Content-Length``,
  e.g. ``StreamingResponse``) and everything else pass through message by message, untouched.
- Paths matching ``IGNORE_PATHS`` are not recorded.
- Never breaks the app: its exceptions pass through unchanged (the unit still finishes, with status 500 unless a
  response had started), and the agent's own errors are swallowed by the guard.

Settings: ``querysight.configure(...)`` or the ``QUERYSIGHT_*`` env vars; enabled by default when the Starlette /
FastAPI app runs with ``debug=True`` or a URL or output file is set explicitly.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from . import _guard, _web, transport
from .recorder import Unit, current_unit

__all__ = ["QuerySightMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_UNIT_HEADER = _web.UNIT_HEADER.lower().encode("latin-1")


class QuerySightMiddleware:
    """Records each HTTP request of the wrapped ASGI application as a unit."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._described = False

    # The wrapped app's own attributes, read and set (``app.state``, ``app.include_router``,
    # ``app.dependency_overrides = {}``, ``app.openapi = custom``), so that after ``app = QuerySightMiddleware(app)``
    # the code using ``app`` goes on working. Only the middleware's own two attributes live on it.
    _OWN = frozenset({"app", "_described"})

    def __getattr__(self, name: str) -> Any:
        if name in self._OWN or (name.startswith("__") and name.endswith("__")):
            raise AttributeError(name)  # not set yet (a copy being built), or a protocol probe (pickle's __getstate__)
        return getattr(self.app, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self.app, name, value)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, _flushing_at_shutdown(send))
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        unit = self._start(scope)
        if unit is None:
            await self.app(scope, receive, send)
            return
        response = _Response(unit, send, scope)
        root_path = scope.get("root_path", "")
        token = current_unit.set(unit)
        try:
            await self.app(scope, receive, response.send)
        except BaseException as exc:
            current_unit.reset(token)
            token = None
            with _guard.guard("note a request's exception"):
                _web.note_error(unit, exc)
            self._end(unit, scope, root_path, response.status if response.started else 500)
            raise
        finally:
            if token is not None:
                current_unit.reset(token)
        await response.release()
        self._end(unit, scope, root_path, response.status)

    def _start(self, scope: Scope) -> Unit | None:
        with _guard.guard("start a request unit"):
            if not self._described:
                self._describe(scope)
            method = scope.get("method", "GET")
            query = scope.get("query_string", b"").decode("latin-1")
            return _web.start_request(method, scope.get("path") or "/", query, _origin(scope))
        return None

    def _describe(self, scope: Scope) -> None:
        """Name the framework and read its debug flag once, from the app we wrap or the one Starlette puts in the
        scope (when added with ``app.add_middleware``)."""
        self._described = True
        starlette = sys.modules.get("starlette.applications")
        if starlette is None:
            return
        app = self.app if isinstance(self.app, starlette.Starlette) else scope.get("app")
        if not isinstance(app, starlette.Starlette):
            return
        fastapi = sys.modules.get("fastapi")
        if fastapi is not None and isinstance(app, fastapi.FastAPI):
            _web.describe_app("fastapi", _web.package_version("fastapi"), None, None, bool(app.debug))
        else:
            _web.describe_app("starlette", _web.package_version("starlette"), None, None, bool(app.debug))

    def _end(self, unit: Unit, scope: Scope, root_path: str, status: int | None) -> None:
        with _guard.guard("finish a request unit"):
            unit.route = _route_of(scope, root_path)
            unit.view = _view_of(scope)
            _web.finish(unit, status)


def _flushing_at_shutdown(send: Send) -> Send:
    """The lifespan's ``send``, delivering the waiting units before it tells the server the shutdown is done."""

    async def send_after_flush(message: Message) -> None:
        if message.get("type") in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            transport.flush_before_shutdown()  # (blocks the loop: the server is shutting down, with no request left)
        await send(message)

    return send_after_flush


class _Response:
    """The ``send`` side of one recorded request: status, header, and the overlay for complete HTML."""

    def __init__(self, unit: Unit, send: Send, scope: Scope) -> None:
        self.unit = unit
        self.server_send = send
        self.status: int | None = None
        self.started = False
        settings = unit.settings
        self.overlay = transport.overlay_wanted(settings) and scope.get("method") != "HEAD"
        self.held: list[Message] = []  # the start message and body messages of an HTML page being completed
        self.held_bytes = 0

    async def send(self, message: Message) -> None:
        kind = message.get("type")
        if kind == "http.response.start" and not self.started:
            self.started = True
            hold = False
            with _guard.guard("read an ASGI response start"):
                self.status = int(message["status"])
                headers = [*message.get("headers", ()), (_UNIT_HEADER, self.unit.id.encode("latin-1"))]
                message = {**message, "headers": headers}
                hold = self.overlay and _web.injectable(
                    (bytes(name).decode("latin-1"), bytes(value).decode("latin-1")) for name, value in headers
                )
            if hold:
                self.held.append(message)
                return
        elif self.held and kind == "http.response.body":
            self.held.append(message)
            self.held_bytes += len(message.get("body", b""))
            if message.get("more_body", False) and self.held_bytes <= _web.MAX_INJECT_BYTES:
                return
            await self._send_held(complete=not message.get("more_body", False))
            return
        elif self.held:
            await self.release()
        await self.server_send(message)

    async def _send_held(self, complete: bool) -> None:
        held, self.held = self.held, []
        if complete:
            start, bodies = held[0], held[1:]
            content = b"".join(m.get("body", b"") for m in bodies)
            with _guard.guard("insert the overlay"):
                injected = _web.insert_overlay(content, self.unit.id, self.unit.settings.server_url)
                if injected is not None:
                    headers = [
                        (name, str(len(injected)).encode("latin-1"))
                        if bytes(name).lower() == b"content-length"
                        else (name, value)
                        for name, value in start["headers"]
                    ]
                    held = [{**start, "headers": headers}, {"type": "http.response.body", "body": injected}]
        for message in held:
            await self.server_send(message)

    async def release(self) -> None:
        """Send what is held back, as it was (the app ended or sent something else before the body was complete)."""
        if self.held:
            await self._send_held(complete=False)


def _route_of(scope: Scope, root_path: str) -> str | None:
    route = scope.get("route") or _route_of_endpoint(scope)
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return None
    mounted = scope.get("root_path", "")
    prefix = mounted[len(root_path) :] if mounted.startswith(root_path) else ""
    if prefix.endswith(path):  # the route is the Mount itself (static files, a mounted sub-app that is not a router)
        return prefix
    return prefix + path


def _route_of_endpoint(scope: Scope) -> Any:
    """The route of a request whose router did not name it: FastAPI's router sets ``scope["route"]`` for its own API
    routes only, not for a Starlette ``Route`` (``app.add_route``, ``app.router.routes.append``). It is the router's
    route that has the request's endpoint and matches the request."""
    endpoint, router = scope.get("endpoint"), scope.get("router")
    if endpoint is None or router is None:
        return None
    for route in getattr(router, "routes", ()):
        if getattr(route, "endpoint", None) is endpoint:
            match, _ = route.matches(scope)
            if getattr(match, "name", None) == "FULL":
                return route
    return None


def _view_of(scope: Scope) -> str | None:
    endpoint = scope.get("endpoint")
    if endpoint is None:
        return None
    module = getattr(endpoint, "__module__", None)
    name = getattr(endpoint, "__qualname__", None) or getattr(endpoint, "__name__", None)
    return f"{module}.{name}" if module and name else None


def _origin(scope: Scope) -> str | None:
    scheme = scope.get("scheme", "http")
    for name, value in scope.get("headers", ()):
        if bytes(name).lower() == b"host":
            return f"{scheme}://{bytes(value).decode('latin-1')}"
    server = scope.get("server")
    if server and server[0]:
        host, port = server[0], server[1]
        return f"{scheme}://{host}" if port is None else f"{scheme}://{host}:{port}"
    return None
