"""What the WSGI and ASGI middlewares share: path filtering, the overlay rules of DESIGN.md §8 on raw headers and
bytes, the framework description, and the console line. No framework is imported here."""

from __future__ import annotations

import atexit
import contextlib
import fnmatch
import functools
import ipaddress
import re
import sys
import time
import weakref
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from . import _guard, config, transport
from .recorder import STACK, TEMPLATE, Site, Unit, describe_error

UNIT_HEADER = "X-QuerySight-Unit"
MAX_INJECT_BYTES = 5 * 1024 * 1024  # larger HTML pages are passed through untouched rather than buffered

_BODY_END = re.compile(rb"</body\s*>", re.IGNORECASE)


def ignored(path: str, patterns: tuple[str, ...]) -> bool:
    """``IGNORE_PATHS``: a prefix (``/static/``) or a glob (``/api/*/health``)."""
    prefixes, globs = _path_filter(patterns)
    return path.startswith(prefixes) or (globs is not None and globs.match(path) is not None)


@functools.lru_cache(maxsize=8)
def _path_filter(patterns: tuple[str, ...]) -> tuple[tuple[str, ...], re.Pattern[str] | None]:
    """The prefixes, and one regular expression for the globs, of a settings' ``IGNORE_PATHS`` (every request asks)."""
    globs = [pattern for pattern in patterns if "*" in pattern or "?" in pattern or "[" in pattern]
    prefixes = tuple(pattern for pattern in patterns if pattern not in globs)
    return prefixes, re.compile("|".join(fnmatch.translate(glob) for glob in globs)) if globs else None


def start_request(method: str, path: str, query: str, origin: str | None) -> Unit | None:
    """The unit of a request to a WSGI or ASGI app (None when querysight is off or the path ignored). ``origin`` is
    the page origin from the request's Host; it becomes the app's origin (which the server allows for CORS) when it
    names this machine, see :func:`follow_origin`."""
    settings = config.current()
    if not settings.enabled or ignored(path, settings.ignore_paths):
        return None
    follow_origin(origin)
    return Unit(
        "request", f"{method} {path}", method=method, path=f"{path}?{query}" if query else path, settings=settings
    )


def follow_origin(origin: str | None) -> None:
    """Make ``origin`` the app's origin when it changed and its host is a loopback name (``localhost``,
    ``*.localhost``, ``127.x.x.x``, ``[::1]``). A WSGI or ASGI server does not check the Host header, so any other
    host could be a forged one, and the server would then accept requests from that page."""
    if origin is not None and origin != transport.app.origin and loopback_origin(origin):
        transport.app.origin = origin


def loopback_origin(origin: str) -> bool:
    try:
        parts = urlsplit(origin)
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def injectable(headers: Iterable[tuple[str, str]]) -> bool:
    """Whether a response with these headers (names in any case) may get the overlay script: complete
    (``Content-Length`` declared, at most 5 MiB), ``text/html`` in an 8-bit charset, not compressed, not a download,
    not a part of a document (a ``Content-Range``: 206 Partial Content, whose byte range would no longer add up)."""
    content_type = encoding = disposition = ""
    length: int | None = None
    for name, value in headers:
        lower = name.lower()
        if lower == "content-range":
            return False
        if lower == "content-type":
            content_type = value.lower()
        elif lower == "content-encoding":
            encoding = value.strip()
        elif lower == "content-disposition":
            disposition = value.lower()
        elif lower == "content-length":
            try:
                length = int(value)
            except ValueError:
                return False
    if content_type.split(";")[0].strip() != "text/html" or encoding or disposition.startswith("attachment"):
        return False
    if "charset=utf-16" in content_type or "charset=utf-32" in content_type:
        return False
    return length is not None and 0 < length <= MAX_INJECT_BYTES


def insert_overlay(body: bytes, unit_id: str, server_url: str) -> bytes | None:
    """The body with the overlay script inserted before its last ``</body>`` outside an HTML comment (None when it has
    none): a tag put inside ``<!-- </body> -->`` after the page would never load."""
    last = None
    for match in _BODY_END.finditer(body):
        if body.rfind(b"<!--", 0, match.start()) <= body.rfind(b"-->", 0, match.start()):  # not inside a comment
            last = match
    if last is None:
        return None
    tag = f'<script src="{_attr(server_url)}/overlay.js" data-unit="{_attr(unit_id)}" async></script>'.encode()
    return body[: last.start()] + tag + body[last.start() :]


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def replace_length(headers: list[tuple[str, str]], length: int) -> list[tuple[str, str]]:
    return [(n, str(length)) if n.lower() == "content-length" else (n, v) for n, v in headers]


def describe_app(framework: str, version: str | None, name: str | None, values: Any, debug: bool | None) -> None:
    """Tell the core which web framework runs (it wins over ``sqlalchemy``), its ``QUERYSIGHT`` settings dict and
    whether it runs in debug mode (which decides whether querysight is on by default)."""
    info = transport.app
    info.framework = framework
    info.framework_version = version
    if info.name is None and name:
        info.name = name
    if debug and not (isinstance(values, dict) and any(str(key).lower() == "console" for key in values)):
        # The console line in debug mode (`flask run --debug`, Starlette's debug=True), as under Django's runserver.
        values = {**(values if isinstance(values, dict) else {}), "console": True}
    if values is not None or debug is not None:
        config.set_framework_settings(values if isinstance(values, dict) else None, debug=debug)


def package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


CONSOLE_PATH_LENGTH = 120  # a longer path and query string is cut: the report has it whole
CONSOLE_ERROR_LENGTH = 100  # the exception's message is cut there: the report has it whole


def console_line(unit: Unit, settings: config.Settings) -> str:
    """``[querysight] GET /books/?page=2 200 35ms · 23 queries · 20 from one line (shop/views.py:28) · 1 duplicated →
    <report URL>``: the path with its query string, so that requests the name alone would confuse (``?fixed=1``) are
    told apart; the biggest loop (the report says whether it is an N+1), and the duplicates outside loops, as the
    report counts them."""
    duplicated, loop = unit.repeats()
    count = len(unit.queries) + unit.dropped_queries
    shown = f"{unit.method} {unit.path}" if unit.method and unit.path else unit.name
    if len(shown) > CONSOLE_PATH_LENGTH:
        shown = shown[: CONSOLE_PATH_LENGTH - 1] + "…"
    line = (
        f"[querysight] {shown} {unit.status} {round(unit.duration_ms or 0)}ms"
        f" · {count} {'query' if count == 1 else 'queries'}"
    )
    if loop is not None:
        line += f" · {loop[0]} from one line{_place(loop[1])}"
    if duplicated:
        line += f" · {duplicated} duplicated"
    error = unit.meta.get("error")
    if isinstance(error, str):  # what made the 500 (the report says it too), on the line (PostgreSQL's DETAIL: ...)
        error = " ".join(error.split())
        line += f" · raised {error if len(error) <= CONSOLE_ERROR_LENGTH else error[: CONSOLE_ERROR_LENGTH - 1] + '…'}"
    if not settings.output:
        line += f" → {settings.server_url}/#/units/{unit.id}"
        if transport.transport.unreachable():  # the link opens nothing until the retry delivers the unit
            line += " (the querysight server does not answer: sent when it does)"
    return line


def _place(site: Site) -> str:
    """`` (shop/views.py:28)``, the template position when there is one, or nothing when no frame is the app's."""
    template, stack = site[TEMPLATE], site[STACK]
    if template is not None:
        outer = ", at ".join(f"{name}:{line}" for name, line in template[2]) if len(template) > 2 else ""
        included = f", included at {outer}" if outer else ""
        return f" ({template[0]}:{template[1]}{included})"
    return f" ({stack[0][0]}:{stack[0][1]})" if stack else ""


class UnitEnd:
    """Ends a request's unit once, when its body, produced after the app returned (a stream), is read to its end or
    closed; or when the body is dropped unread, or is still held when the process exits. A server always closes a
    body, but Django's and Werkzeug's test clients close a stream only once it is read to its end: a test that checks
    the status alone drops it, and the unit, with the queries the view made before it returned, would be lost.

    Whoever produces the body holds this object, and nothing else does: when the body is freed, so is this, and the
    unit ends, handed on (:meth:`later`), not ended there: a finalizer may run inside any code, a lock of the agent's
    held. A body abandoned so ends as of the last chunk read from it (``last_read``), or the app's return: not when the
    collector or the exit came by."""

    def __init__(self, unit: Unit, end: Callable[[], None]) -> None:
        self.unit = unit
        self._end = end
        self.ended = False
        self.last_read = time.perf_counter()  # the producer updates it with each chunk
        _open_bodies.add(self)

    def __call__(self) -> None:
        if not self.ended:
            self.ended = True
            with _guard.guard("finish a request unit"):
                self._end()

    def later(self) -> None:
        """End the unit soon, on the transport's side: from a finalizer, or a close the collector may have made."""
        if not self.ended:
            with contextlib.suppress(Exception):  # (at interpreter exit the modules it needs may be gone already)
                self.unit.stop_clock(self.last_read)
                transport.finish_later(self)

    def __del__(self) -> None:
        self.later()


_open_bodies: weakref.WeakSet[UnitEnd] = weakref.WeakSet()


def _end_open_bodies() -> None:
    """At exit, before the transport's last flush (``atexit`` runs this first: it was registered after the
    transport's): the units of bodies still held, unread, end now."""
    for end in list(_open_bodies):
        if not end.ended:
            with contextlib.suppress(Exception):
                end.unit.stop_clock(end.last_read)
                end()


atexit.register(_end_open_bodies)


def note_error(unit: Unit, exc: BaseException) -> None:
    """The exception a request's app raised, in ``meta["error"]`` (``ValueError: boom``), as ``capture()`` notes its
    block's: the report says what made the 500. The first one stays (what an error handler then raised comes second)."""
    unit.meta.setdefault("error", describe_error(exc))


def finish(unit: Unit, status: int | None) -> None:
    """End the unit, hand it to the transport, print the console line when asked."""
    unit.finish(status=status)
    transport.submit(unit)
    settings = unit.settings
    if settings.console:
        sys.stderr.write(console_line(unit, settings) + "\n")
