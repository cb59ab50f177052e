"""The unit in progress follows work handed to a thread pool.

``concurrent.futures.ThreadPoolExecutor`` runs its work in a thread of its own without the submitter's context
(``loop.run_in_executor`` too), so the queries a request makes through a pool would belong to no unit. Once the
Django integration is set up, ``ThreadPoolExecutor.submit`` (which ``map`` and ``run_in_executor`` call) hands the
submitter's unit to the work it runs, and only that: the app's other context variables stay as the pool sees them.
Work submitted outside any unit runs untouched.
"""

from __future__ import annotations

import threading
from typing import Any

from .recorder import current_unit

_lock = threading.Lock()
_original_submit: Any = None


def follow_units_into_thread_pools() -> None:
    """Make ``ThreadPoolExecutor.submit`` carry the current unit into the work it runs (idempotent)."""
    global _original_submit
    from concurrent.futures import ThreadPoolExecutor

    with _lock:
        if _original_submit is not None:
            return
        original = ThreadPoolExecutor.submit

        def submit(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            unit = current_unit.get()
            # Python 3.14's InterpreterPoolExecutor sends its work to another interpreter: a unit does not go there.
            if unit is None or type(self).__module__.startswith("concurrent.futures.interpreter"):
                return original(self, fn, *args, **kwargs)
            return original(self, _in_unit, unit, fn, args, kwargs)

        submit.__doc__ = original.__doc__
        submit.__wrapped__ = original  # type: ignore[attr-defined]
        ThreadPoolExecutor.submit = submit  # type: ignore[method-assign]
        _original_submit = original


def _in_unit(unit: Any, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if unit.duration_ms is not None:  # the unit ended before the work started: its queries are no longer its own
        return fn(*args, **kwargs)
    token = current_unit.set(unit)
    try:
        return fn(*args, **kwargs)
    finally:
        current_unit.reset(token)
