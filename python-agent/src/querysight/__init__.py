"""querysight: record every SQL query of each unit of work and report it to the querysight server.

Public API:

- ``querysight.capture(name, kind="block", meta=None)``: a context manager and decorator that records one unit
  (for scripts, tasks, management commands). Queries of any instrumented database made inside it belong to it.
- ``querysight.flush(timeout=2.0)``: wait until every finished unit was delivered; never hangs past ``timeout``.
- ``querysight.configure(**opts)``: set settings from code (they win over env vars and framework settings).

Framework integrations live in ``querysight.django`` and the pytest plugin; they share ``querysight.recorder``
(the unit, the ``current_unit`` ContextVar) and ``querysight.transport`` (the background sender).
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from contextvars import Token
from typing import Any, TypeVar

__version__ = "0.1.0"

from . import _guard, config, transport
from .config import Settings
from .recorder import Unit, current_unit

__all__ = ["Settings", "Unit", "__version__", "capture", "configure", "current_unit", "flush"]

F = TypeVar("F", bound=Callable[..., Any])


class capture:
    """Record the queries of a block of code (or of each call of a decorated function) as one unit.

    ``kind`` is one of ``request``, ``test``, ``task``, ``command``, ``block``. ``meta`` is carried as is (JSON-safe
    values). When querysight is disabled this does nothing; ``unit`` is then ``None``.
    """

    def __init__(self, name: str, kind: str = "block", meta: dict[str, Any] | None = None) -> None:
        self.name = name
        self.kind = kind
        self.meta = meta
        self.unit: Unit | None = None
        self._token: Token[Unit | None] | None = None

    def __enter__(self) -> Unit | None:
        with _guard.guard("start a unit"):
            _instrument_frameworks()
            settings = config.current()
            if settings.enabled:
                self.unit = Unit(self.kind, self.name, meta=self.meta, settings=settings)
                self._token = current_unit.set(self.unit)
        return self.unit

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        unit, token = self.unit, self._token
        if unit is None or token is None:
            return
        self._token = None
        with _guard.guard("finish a unit"):
            current_unit.reset(token)
            if exc is not None:
                unit.meta.setdefault("error", f"{exc_type.__name__}: {exc}")
            unit.finish()
            transport.submit(unit)

    def __call__(self, func: F) -> F:
        name, kind, meta = self.name, self.kind, self.meta
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with capture(name, kind, meta):
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with capture(name, kind, meta):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]


def _instrument_frameworks() -> None:
    """Hook Django's connections when Django is set up (cheap when it is not imported at all)."""
    if "django.db" not in sys.modules:
        return
    from django.apps import apps
    from django.conf import settings

    if settings.configured and apps.ready:
        from .django import instrument

        instrument()


def flush(timeout: float = 2.0) -> bool:
    """Wait until every finished unit is delivered; returns False when ``timeout`` seconds passed first."""
    try:
        return transport.flush(timeout)
    except Exception as exc:  # noqa: BLE001 - flushing must never raise into the app
        _guard.report("flush", exc)
        return False


def configure(**opts: Any) -> Settings:
    """Set querysight settings from code, e.g. ``configure(url="http://127.0.0.1:8321", capture_params=False)``."""
    return config.configure(**opts)
