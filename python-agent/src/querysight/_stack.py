"""Cheap call-site capture: which application frames led to a query.

A query's stack is walked with ``sys._getframe`` and ``f_back`` (no ``traceback.extract_stack``, no source lines
read). Whether a code object belongs to the application is decided once per code object and cached, so the walk
costs a dictionary look-up per frame. Library code (the standard library, site-packages, Django, asgiref, pytest,
querysight itself) is skipped.

Two kinds of library frames are looked at on the way:

- Django's ``Node.render_annotated``: the innermost one gives the template name and line being rendered.
- asgiref's ``AsyncToSync.__call__``: the sync code below it is running on behalf of a coroutine that is suspended
  while it waits; its await chain is walked so that queries made through ``sync_to_async`` carry the call site of the
  code that awaited them.

Units started inside an asyncio task remember that task (``Unit.task``); a query made on another thread (an executor
thread of ``sync_to_async``) appends the task's await chain to its own frames for the same reason.
"""

from __future__ import annotations

import os
import site
import sys
import sysconfig
import threading
from types import CodeType, FrameType
from typing import Any

Frame = tuple[str, int, str]  # (file, line, function)

_NOT_APP = 0
_TEMPLATE = 1
_ASYNC_BRIDGE = 2

_LIBRARY_MODULES = ("django.", "asgiref.", "querysight.", "_pytest.", "pluggy.", "sqlalchemy.", "starlette.")
_MAX_WALK = 400

_cache: dict[CodeType, Any] = {}
_lock = threading.Lock()


def _library_roots() -> tuple[str, ...]:
    roots = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib", "scripts"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(os.path.realpath(path))
    getsitepackages = getattr(site, "getsitepackages", None)  # some virtualenv flavours lack it
    if getsitepackages is not None:
        roots.update(os.path.realpath(p) for p in getsitepackages())
    user_site = getattr(site, "USER_SITE", None)
    if user_site:
        roots.add(os.path.realpath(user_site))
    roots.add(os.path.dirname(os.path.realpath(__file__)))
    return tuple(sorted(roots, key=len, reverse=True))


_LIBRARY_ROOTS = _library_roots()


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root + os.sep)


def display_path(filename: str, module: str = "") -> str:
    """The path people read: the module's own path (``shop/views.py`` for ``shop.views``) when the file matches it,
    else relative to the import root it was loaded from, else to the working directory."""
    real = os.path.realpath(filename)
    if module and module != "__main__":
        suffix = "/__init__.py" if os.path.basename(real) == "__init__.py" else ".py"
        candidate = module.replace(".", "/") + suffix
        if real.replace(os.sep, "/").endswith("/" + candidate):
            return candidate
    best = ""
    for entry in sys.path:
        root = os.path.realpath(entry or os.getcwd())
        if _under(real, root) and len(root) > len(best) and not any(_under(root, lib) for lib in _LIBRARY_ROOTS):
            best = root
    if not best:
        cwd = os.path.realpath(os.getcwd())
        best = cwd if _under(real, cwd) else ""
    rel = os.path.relpath(real, best) if best else real
    return rel.replace(os.sep, "/")


def _classify(frame: FrameType) -> Any:
    code = frame.f_code
    module = frame.f_globals.get("__name__", "") or ""
    name = code.co_name
    if module == "django.template.base" and name == "render_annotated":
        return _TEMPLATE
    if module == "asgiref.sync" and name == "__call__" and "current_executor" in (code.co_varnames + code.co_cellvars):
        return _ASYNC_BRIDGE
    filename = code.co_filename
    if not filename or filename.startswith("<"):
        return _NOT_APP
    if module.startswith(_LIBRARY_MODULES) or module in ("querysight", "django", "asgiref"):
        return _NOT_APP
    real = os.path.realpath(filename)
    if any(_under(real, root) for root in _LIBRARY_ROOTS):
        return _NOT_APP
    parts = real.split(os.sep)
    if "site-packages" in parts or "dist-packages" in parts:
        return _NOT_APP
    return display_path(filename, module)


def _kind(frame: FrameType) -> Any:
    code = frame.f_code
    kind = _cache.get(code)
    if kind is None:
        kind = _classify(frame)
        with _lock:
            _cache[code] = kind
    return kind


def _coroutine_frames(awaitable: Any) -> list[FrameType]:
    """The frames of a suspended await chain, innermost first."""
    frames: list[FrameType] = []
    seen = 0
    obj = awaitable
    while obj is not None and seen < _MAX_WALK:
        seen += 1
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None) or getattr(obj, "ag_frame", None)
        if frame is not None:
            frames.append(frame)
        obj = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None) or getattr(obj, "ag_await", None)
    frames.reverse()
    return frames


def _template_of(frame: FrameType) -> tuple[str, int] | None:
    node = frame.f_locals.get("self")
    token = getattr(node, "token", None)
    origin = getattr(node, "origin", None)
    if token is None or origin is None:
        return None
    name = getattr(origin, "template_name", None) or getattr(origin, "name", None)
    line = getattr(token, "lineno", None)
    if name is None or line is None:
        return None
    return str(name), int(line)


class StackWalk:
    """Collects application frames (innermost first) and the template position while walking frames."""

    __slots__ = ("frames", "limit", "template")

    def __init__(self, limit: int) -> None:
        self.frames: list[Frame] = []
        self.template: tuple[str, int] | None = None
        self.limit = limit

    def full(self) -> bool:
        return len(self.frames) >= self.limit

    def walk(self, frame: FrameType | None, *, follow_bridges: bool = True) -> None:
        steps = 0
        while frame is not None and steps < _MAX_WALK and len(self.frames) < self.limit:
            steps += 1
            kind = _kind(frame)
            if kind.__class__ is str:
                self.frames.append((kind, frame.f_lineno, frame.f_code.co_name))
            elif kind == _TEMPLATE:
                if self.template is None:
                    self.template = _template_of(frame)
            elif kind == _ASYNC_BRIDGE and follow_bridges:
                awaitable = frame.f_locals.get("awaitable")
                if awaitable is not None:
                    self.walk_frames(_coroutine_frames(awaitable))
            frame = frame.f_back

    def walk_frames(self, frames: list[FrameType]) -> None:
        for frame in frames:
            if len(self.frames) >= self.limit:
                return
            kind = _kind(frame)
            if kind.__class__ is str:
                self.frames.append((kind, frame.f_lineno, frame.f_code.co_name))
            elif kind == _TEMPLATE and self.template is None:
                self.template = _template_of(frame)

    def walk_task(self, task: Any) -> None:
        """Append the await chain of a suspended asyncio task."""
        get_coro = getattr(task, "get_coro", None)
        if get_coro is not None:
            self.walk_frames(_coroutine_frames(get_coro()))


def capture(depth: int, limit: int, task: Any = None, task_thread: int | None = None) -> StackWalk:
    """Walk the caller's stack from ``depth`` frames up; follow ``task`` when running off its thread."""
    walk = StackWalk(limit)
    walk.walk(sys._getframe(depth + 1))
    if task is not None and not walk.full() and threading.get_ident() != task_thread:
        walk.walk_task(task)
    return walk


def clear_cache() -> None:
    with _lock:
        _cache.clear()
