"""The guard that keeps querysight's own failures away from the host application.

Every piece of agent code that runs around the application's work (recording a query, finishing a unit, sending a
batch) runs inside :func:`guard`. An error there is logged once per kind of work and swallowed, so the app's own
responses and exceptions are never changed by the agent. The agent's own test suite calls
:func:`set_raise_internal` so that such bugs fail the tests instead of hiding.
"""

from __future__ import annotations

import logging
import threading
from types import TracebackType

logger = logging.getLogger("querysight")

_raise_internal = False
_logged: set[str] = set()
_lock = threading.Lock()
_swallowed: list[tuple[str, BaseException]] = []
_MAX_SWALLOWED = 100


def set_raise_internal(enabled: bool) -> None:
    """Make the guard re-raise what it catches (for the agent's own tests only)."""
    global _raise_internal
    _raise_internal = enabled


def swallowed() -> list[tuple[str, BaseException]]:
    """The errors the guard swallowed since the last :func:`clear_swallowed` (at most 100 are kept)."""
    with _lock:
        return list(_swallowed)


def clear_swallowed() -> None:
    with _lock:
        _swallowed.clear()


class SetupError(Exception):
    """An error of the app's setup rather than of querysight (a setting it cannot use): said in one line, once, with
    no traceback, wherever the agent runs into it."""


def report(what: str, exc: BaseException) -> None:
    """Log an internal error once per ``what`` (a :class:`SetupError` once per message) and remember it for the
    agent's tests."""
    setup = isinstance(exc, SetupError)
    key = f"setup: {exc}" if setup else what
    with _lock:
        if len(_swallowed) < _MAX_SWALLOWED:
            _swallowed.append((what, exc))
        first = key not in _logged
        _logged.add(key)
    if first and setup:
        logger.warning("querysight: %s; nothing is recorded until it is fixed", exc)
    elif first:
        logger.warning(
            "querysight: internal error while trying to %s (further ones are not logged)", what, exc_info=exc
        )


def failed(what: str, exc: Exception) -> None:
    """Inline form of :func:`guard` for hot paths: ``except Exception as exc: failed("...", exc)``."""
    report(what, exc)
    if _raise_internal:
        raise exc


class guard:
    """Swallow and log (once per ``what``) any error of querysight's own (an ``Exception``; ``KeyboardInterrupt`` and
    ``SystemExit`` pass). A class rather than a ``@contextmanager`` generator because it wraps the work of every
    request: entering and leaving it costs two plain method calls."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> bool:
        if exc is None or not isinstance(exc, Exception):
            return False
        report(self.what, exc)
        return not _raise_internal
