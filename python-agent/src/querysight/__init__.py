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
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from contextvars import Token
from typing import Any, TypeVar

__version__ = "0.1.0"

from . import _guard, config, transport
from .config import Settings
from .recorder import UNIT_KINDS, Unit, current_unit, describe_error

__all__ = ["Settings", "Unit", "__version__", "capture", "configure", "current_unit", "flush"]

F = TypeVar("F", bound=Callable[..., Any])


class capture:
    """Record the queries of a block of code (or of each call of a decorated function) as one unit.

    ``kind`` is one of ``request``, ``test``, ``task``, ``command``, ``block``. ``meta`` is carried as is (a dict of
    JSON-safe values). When querysight is disabled this does nothing; ``unit`` is then ``None``. A decorated generator
    function (or async generator) records what it runs while it is iterated, not the code that consumes it between
    its items. (``with capture(...)`` written inside a generator cannot tell them apart: decorate it instead.)
    """

    def __init__(self, name: str, kind: str = "block", meta: Mapping[str, Any] | None = None) -> None:
        # A kind or meta no unit can have is the caller's mistake, the same on every run: said at once, not as an
        # internal error logged later (or never). A name is made a string (one computed at run time may be None).
        if kind not in UNIT_KINDS:
            raise ValueError(f"querysight.capture(kind={kind!r}): kind must be one of {', '.join(UNIT_KINDS)}")
        if meta is not None and not (isinstance(meta, Mapping) and all(isinstance(key, str) for key in meta)):
            raise TypeError(f"querysight.capture(meta=...): meta must be a mapping with string keys, got {meta!r}")
        self.name = name if isinstance(name, str) else str(name)
        self.kind = kind
        self.meta = None if meta is None else dict(meta)
        self.unit: Unit | None = None
        self._token: Token[Unit | None] | None = None
        self._before_django = False

    def __enter__(self) -> Unit | None:
        unit = self._start()
        if unit is not None:
            self._token = current_unit.set(unit)
        return unit

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        token, self._token = self._token, None
        if token is not None:
            with _guard.guard("finish a unit"):
                current_unit.reset(token)
        self._finish(exc)

    def _start(self) -> Unit | None:
        """The unit, made but not current (None when querysight is disabled)."""
        with _guard.guard("start a unit"):
            self._before_django = "django" in sys.modules and not _django_ready()
            _instrument_frameworks()
            settings = config.current()
            if settings.enabled:
                self.unit = Unit(self.kind, self.name, meta=self.meta, settings=settings)
        return self.unit

    def _finish(self, exc: BaseException | None) -> None:
        unit = self.unit
        with _guard.guard("finish a unit"):
            # (Not when querysight is off: beginning the block after setup would record nothing either.)
            if self._before_django and _django_ready() and config.current().enabled and not (unit and unit.queries):
                _warn_before_django(self.name)
            if unit is None:
                return
            if exc is not None and _is_failure(exc):
                unit.meta.setdefault("error", describe_error(exc))
            unit.finish()
            transport.submit(unit)

    def __call__(self, func: F) -> F:
        name, kind, meta = self.name, self.kind, self.meta
        # The wrappers are of the function's own kind: what checks it (pytest's yield fixtures, FastAPI's yield
        # dependencies, asyncio.iscoroutinefunction) sees the same.
        if inspect.isasyncgenfunction(func):
            return _async_steps(func, name, kind, meta)  # type: ignore[return-value]
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                return (yield from _steps(capture(name, kind, meta), func(*args, **kwargs)))

            return generator_wrapper  # type: ignore[return-value]
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


def _is_failure(exc: BaseException) -> bool:
    """Whether leaving a unit by ``exc`` is an error to note: not a generator closed early, nor ``sys.exit(0)``."""
    if isinstance(exc, GeneratorExit):
        return False
    return not (isinstance(exc, SystemExit) and exc.code in (None, 0))


class _Running:
    """The capture's unit current for a block (a step of its generator), when there is one."""

    __slots__ = ("token", "unit")

    def __init__(self, unit: Unit | None) -> None:
        self.unit = unit
        self.token: Token[Unit | None] | None = None

    def __enter__(self) -> None:
        if self.unit is not None:
            self.token = current_unit.set(self.unit)

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            current_unit.reset(self.token)


def _steps(cap: capture, inner: Generator[Any, Any, Any]) -> Generator[Any, Any, Any]:
    """``yield from inner`` (PEP 380), with the capture's unit current only while ``inner`` runs: the code consuming it
    between its items is the caller's."""
    unit = cap._start()
    outcome: BaseException | None = None
    try:
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            try:
                with _Running(unit):
                    item = inner.send(sent) if thrown is None else inner.throw(thrown)
            except StopIteration as stop:
                return stop.value
            thrown = None
            try:
                sent = yield item
            except GeneratorExit:
                with _Running(unit):
                    inner.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - thrown into the generator, as yield from does
                thrown = exc
    except BaseException as exc:
        outcome = exc
        raise
    finally:
        cap._finish(outcome)


def _async_steps(
    func: Callable[..., AsyncGenerator[Any, Any]], name: str, kind: str, meta: Mapping[str, Any] | None
) -> Callable[..., AsyncGenerator[Any, Any]]:
    """:func:`_steps` for an async generator function, as an async generator function (an async generator cannot
    delegate with ``yield from``: the stepping is its own body)."""

    @functools.wraps(func)
    async def async_generator_wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        cap = capture(name, kind, meta)
        inner = func(*args, **kwargs)
        unit = cap._start()
        outcome: BaseException | None = None
        try:
            sent: Any = None
            thrown: BaseException | None = None
            while True:
                try:
                    with _Running(unit):
                        item = await (inner.asend(sent) if thrown is None else inner.athrow(thrown))
                except StopAsyncIteration:
                    return
                thrown = None
                try:
                    sent = yield item
                except GeneratorExit:
                    with _Running(unit):
                        await inner.aclose()
                    raise
                except BaseException as exc:  # noqa: BLE001 - thrown into the generator
                    thrown = exc
        except BaseException as exc:
            outcome = exc
            raise
        finally:
            cap._finish(outcome)

    return async_generator_wrapper


def _django_ready() -> bool:
    if "django.apps" not in sys.modules:
        return False
    from django.apps import apps

    return apps.ready


def _warn_before_django(name: str) -> None:
    _guard.logger.warning(
        "querysight: capture(%r) began before Django was set up (django.setup()), so none of its queries were"
        " recorded: begin it after setup",
        name,
    )


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
