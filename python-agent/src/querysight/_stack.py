"""Cheap call-site capture: which application frames led to a query.

A query's stack is walked with ``sys._getframe`` and ``f_back`` (no ``traceback.extract_stack``, no source lines
read). Whether a code object belongs to the application is decided once per code object and cached, so the walk
costs a dictionary look-up per frame. Library code (the standard library, site-packages, Django, asgiref, pytest,
querysight itself) is skipped.

Three kinds of library frames are looked at on the way:

- Django's ``Node.render_annotated``: the innermost one gives the template name and line being rendered.
- Django's ``BaseHandler._get_response`` (and its async twin), which calls the view and renders its
  ``TemplateResponse``: the walk ends there. Beyond it is the middleware chain, and a middleware's call of
  ``get_response`` is not where the view's queries come from (a project's own middleware would be the only application
  frame of a class-based view's template loop, and the line its fix named). A middleware's own queries do not pass
  through it, and keep their lines. Only for a request's unit (one with a ``boundary``): in a test's unit (Django's
  test client without querysight's middleware), the test's lines above it tell its requests apart.
- asgiref's ``AsyncToSync.__call__``: the sync code below it is running on behalf of a coroutine that is suspended
  while it waits; its await chain is walked so that queries made through ``sync_to_async`` carry the call site of the
  code that awaited them. (An async view under WSGI: ``async_to_sync`` runs it on a loop of its own, and the ORM
  calls come back to this thread through its executor; one awaited in a task of its own has that task's chain first,
  then, when the view awaits the task, the view's.)

Units started inside an asyncio task remember that task (``Unit.task``); a query made on another thread (an executor
thread of ``sync_to_async``) appends the await chain of the task that awaits it to its own frames for the same
reason: the unit's task, or, when the call was awaited in a task of its own (``asyncio.gather``, ``create_task``),
that task, found through asgiref's ``thread_handler`` frame on the executor thread, followed by the unit's task's
chain when the unit's task awaits that task (a task left to run has no other callers). SQLAlchemy's asyncio bridge
runs the ORM in a greenlet: the stack of the greenlet that switched into it follows, with the unit's task's chain
after the running task's own coroutine on the same condition.
"""

from __future__ import annotations

import inspect
import os
import site
import sys
import sysconfig
import threading
from collections.abc import Callable
from functools import partial
from types import CodeType, FrameType
from typing import Any, NamedTuple

Frame = tuple[str, int, str]  # (file, line, function)
# Where a query ran while a template rendered: (name, line) of the innermost template's node, or, when other templates
# brought that template in ({% include %}, an inclusion tag, a Jinja macro) or it runs in a recursion of templates (a
# tree), (name, line, included_from, depth): the positions that brought it in, innermost first, as (name, line) pairs,
# and how many times the recursion went round. A partial included at two places of a page is two places, not one loop.
Template = tuple[str, int] | tuple[str, int, tuple[tuple[str, int], ...], int]
# What the queries made by one call by one path share: (sql, stack, template), the stack a tuple of Frames (innermost
# first) and the Template or None. The queries of a loop share one Site object.
Site = tuple[Any, tuple[Frame, ...], "Template | None"]

_NOT_APP = 0
_TEMPLATE = 1
_ASYNC_BRIDGE = 2
_EXECUTOR_BRIDGE = 3
_HANDLER = 4

_LIBRARY_MODULES = ("django.", "asgiref.", "querysight.", "_pytest.", "pluggy.", "sqlalchemy.", "starlette.")
_MAX_WALK = 400

_RESUMABLE_FLAGS = (
    inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR | inspect.CO_ITERABLE_COROUTINE
)


class _Resumable(str):
    """The display path of an application generator or coroutine: its callers change between resumptions."""

    __slots__ = ()


class _JinjaCode:
    """A Jinja2 template's compiled code (Django's Jinja2 backend, Flask). Its frames are not shown in the stack (the
    Python Jinja wrote is nobody's code): the innermost one gives the query's template position, at the template's
    own line, as a Django template's ``render_annotated`` frame does. Its render functions are generators: a Chain
    may start there (see :func:`_path_below`), as from a :class:`_Resumable` frame."""

    __slots__ = ("lines", "name")

    def __init__(self, name: str, debug_info: str) -> None:
        self.name = name
        # Jinja's "template line=code line&..." pairs, as (code line, template line), in code order.
        pairs = (part.split("=") for part in debug_info.split("&") if "=" in part)
        self.lines = sorted((int(code), int(template)) for template, code in pairs)

    def line(self, code_line: int) -> int:
        """The template line of a line of the compiled code (as Jinja's ``Template.get_corresponding_lineno``)."""
        found = 1
        for code, template in self.lines:
            if code > code_line:
                break
            found = template
        return found


_APP_KINDS = (str, _Resumable, _JinjaCode)  # the classes of an application frame's kind


def _jinja_code(frame: FrameType) -> _JinjaCode | None:
    names = frame.f_globals
    environment, name, debug_info = names.get("environment"), names.get("name"), names.get("debug_info")
    if name is None:
        name = "<template>"  # Environment.from_string(): no name, and Jinja's own tracebacks say so
    if not (isinstance(name, str) and isinstance(debug_info, str)):
        return None
    if not any(cls.__module__.startswith("jinja2.") for cls in type(environment).__mro__):  # Flask's subclasses it
        return None
    try:
        return _JinjaCode(name, debug_info)
    except ValueError:  # debug_info in a form this does not know
        return None


# Keyed by id(code): hashing a code object hashes its contents, an id is free. The code objects are kept alive in
# _classified, so an id in the cache can never be reused by another code object.
_cache: dict[int, Any] = {}
_classified: list[CodeType] = []
_lock = threading.Lock()

# Every frame tuple ever put in a stack, one object per (file, line, function). Why: a stack tuple is only let go by
# the garbage collector (untracked) when it finds its items untracked first, and a pass can meet a new stack before
# the new frame tuples in it; the stack then stays tracked, and so does every recorded query holding it, to be
# traversed again by each collection for as long as the unit waits to be sent. Frames taken from here are old and
# long untracked, so a new stack of them is let go by the first collection that sees it, and the queries holding it
# by the next one. Bounded: a process that keeps making new frames starts over.
_frames: dict[Frame, Frame] = {}
_MAX_FRAMES = 20_000


def _frame(path: str, line: int, function: str) -> Frame:
    frame = (path, line, function)
    known = _frames.get(frame)
    if known is not None:
        return known
    if len(_frames) >= _MAX_FRAMES:
        _frames.clear()
    _frames[frame] = frame
    return frame


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
    if module == "asgiref.sync" and name == "thread_handler":
        return _EXECUTOR_BRIDGE
    if module == "django.core.handlers.base" and name in ("_get_response", "_get_response_async"):
        return _HANDLER
    if not module and "debug_info" in frame.f_globals:  # Jinja's compiled templates have no module name
        jinja = _jinja_code(frame)
        if jinja is not None:
            return jinja
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
    path = display_path(filename, module)
    return _Resumable(path) if code.co_flags & _RESUMABLE_FLAGS else path


def _kind(frame: FrameType) -> Any:
    code = frame.f_code
    kind = _cache.get(id(code))
    if kind is None:
        kind = _classify(frame)
        with _lock:
            _classified.append(code)
            _cache[id(code)] = kind
    return kind


def kind_of(code: CodeType) -> Any:
    """How a code object was classified (None when it was never seen): a display path, or a library marker."""
    return _cache.get(id(code))


def _coroutine_frames(awaitable: Any) -> list[FrameType]:
    """The frames of an await chain, innermost first.

    A suspended chain is followed through ``cr_await``. A chain that is still running (the event loop has not yet
    suspended it: the executor thread can start before the awaiting coroutine reaches its ``await``) is read from
    the stack of the thread running it instead.
    """
    frames: list[FrameType] = []
    seen = 0
    obj = awaitable
    running = False
    while obj is not None and seen < _MAX_WALK:
        seen += 1
        frame = getattr(obj, "cr_frame", None) or getattr(obj, "gi_frame", None) or getattr(obj, "ag_frame", None)
        if frame is not None:
            frames.append(frame)
        inner = getattr(obj, "cr_await", None) or getattr(obj, "gi_yieldfrom", None) or getattr(obj, "ag_await", None)
        if inner is not None and type(inner).__name__ in _ASYNC_GEN_AWAITABLES:
            inner = _async_generator_of(inner)
        if inner is None:
            running = bool(
                getattr(obj, "cr_running", False) or getattr(obj, "gi_running", False) or getattr(obj, "ag_running", 0)
            )
        obj = inner
    frames.reverse()
    if running and frames:
        live = _live_stack(frames[-1])
        if live is not None:
            return live
    return frames


_ASYNC_GEN_AWAITABLES = ("async_generator_asend", "async_generator_athrow")


def _async_generator_of(awaitable: Any) -> Any:
    """The async generator behind an ``__anext__()``/``asend()`` awaitable (``async for`` awaits one), which does not
    expose it as an attribute; the garbage collector's referents do."""
    import gc

    for referent in gc.get_referents(awaitable):
        if inspect.isasyncgen(referent):
            return referent
    return None


def _awaiting_task(handler: FrameType, unit_task: Any) -> Any:
    """The asyncio task awaiting the ``sync_to_async`` call that this executor thread runs (``handler`` is asgiref's
    ``thread_handler`` frame): the unit's own task in the common case; else the loop's task whose innermost coroutine
    is asgiref's ``SyncToAsync.__call__`` waiting for this very call (a task of ``asyncio.gather`` or
    ``create_task``); else the unit's task still (the awaiting one may not have reached its ``await`` yet, and the
    task running on the loop may be another request's). asgiref before 3.8 passes it as ``source_task``."""
    variables = handler.f_locals
    source = variables.get("source_task")
    if source is not None:
        return source
    args, loop = variables.get("args"), variables.get("loop")
    call = args[0] if args else None
    if call is None or loop is None:
        return unit_task
    if unit_task is not None and _awaits(unit_task, call):
        return unit_task
    import asyncio

    try:
        tasks = asyncio.all_tasks(loop)
    except RuntimeError:  # the set of tasks changed too often while it was being copied
        return unit_task
    for task in tasks:
        if task is not unit_task and _awaits(task, call):
            return task
    return unit_task


def _awaits(task: Any, call: Any) -> bool:
    """Whether ``task`` is suspended in asgiref's ``SyncToAsync.__call__`` waiting for ``call`` (its ``child``)."""
    frames = _task_frames(task)
    innermost = frames[0] if frames else None
    return innermost is not None and innermost.f_code.co_name == "__call__" and innermost.f_locals.get("child") is call


def _task_frames(task: Any) -> list[FrameType]:
    """The frames of an asyncio task's await chain, innermost first (none for a task without a coroutine)."""
    coro = _coroutine_of(task)
    return _coroutine_frames(coro) if coro is not None else []


def _coroutine_of(task: Any) -> Any:
    get_coro = getattr(task, "get_coro", None)
    return get_coro() if get_coro is not None else None


def _live_stack(outermost: FrameType) -> list[FrameType] | None:
    """The frames, innermost first, of the other thread whose stack is running ``outermost`` (None if none is)."""
    me = threading.get_ident()
    for ident, top in sys._current_frames().items():
        if ident == me:
            continue
        frames: list[FrameType] = []
        frame: FrameType | None = top
        while frame is not None and len(frames) < _MAX_WALK:
            frames.append(frame)
            if frame is outermost:
                return frames
            frame = frame.f_back
    return None


def _greenlet_caller_frames(unit_task: Any) -> list[FrameType]:
    """The stack of the greenlet that switched into the current one, innermost first. SQLAlchemy's asyncio bridge
    runs the sync ORM in a child greenlet whose own stack ends there; the code that awaited the query (the
    application's coroutine) is suspended on the parent's stack.

    That stack is the running task's: its await chain, then the event loop's frames. When the running task is one
    the unit's task awaits (a coroutine of ``asyncio.gather``, an awaited ``create_task``), the unit's task's await
    chain (the line that awaits it) comes after the running task's own coroutine, where the task's chain ends."""
    import greenlet

    parent = greenlet.getcurrent().parent
    frame = parent.gr_frame if parent is not None else None
    task_end, waiter = _awaited_task_end(unit_task) if frame is not None and unit_task is not None else (None, None)
    frames: list[FrameType] = []
    while frame is not None and len(frames) < _MAX_WALK:
        frames.append(frame)
        if frame is task_end:
            frames.extend(_task_frames(waiter))
        frame = frame.f_back
    return frames


def _awaited_task_end(unit_task: Any) -> tuple[FrameType | None, Any]:
    """The frame of the running task's own coroutine (its outermost) and the task awaiting it, when one does: the
    unit's task, or another task of the unit's (the endpoint's, which Starlette's ``BaseHTTPMiddleware`` runs in a
    task of its own) that awaits it directly or through ``asyncio.gather``."""
    running = current_task()
    if running is None or running is unit_task:
        return None, None
    waiter = unit_task if _awaited_by(running, unit_task) else _waiter_of(running)
    if waiter is None:
        return None, None
    return getattr(_coroutine_of(running), "cr_frame", None), waiter


def _waiter_of(task: Any) -> Any:
    """The task suspended awaiting ``task``, read from its done callbacks: the waiting task's wakeup (``await
    task``), or ``asyncio.gather``'s callback, whose outer future's callbacks hold it. None for a task left to run."""
    futures = [task]
    looked = 0
    while futures and looked < _MAX_WALK:
        future = futures.pop()
        looked += 1
        for callback, _context in getattr(future, "_callbacks", None) or ():
            owner = getattr(callback, "__self__", None)
            if owner is not None and owner is not task and hasattr(owner, "get_coro"):
                return owner
            for cell in getattr(callback, "__closure__", None) or ():
                try:
                    held = cell.cell_contents
                except ValueError:  # an empty cell
                    continue
                if held is not future and hasattr(held, "_callbacks") and not hasattr(held, "get_coro"):
                    futures.append(held)  # gather's outer future
    return None


def _task_running(awaitable: Any, sibling: Any) -> Any:
    """The task of ``sibling``'s loop that runs ``awaitable`` (directly, or as asgiref's ``new_loop_wrap`` awaiting
    it), or None."""
    import asyncio

    try:
        tasks = asyncio.all_tasks(sibling.get_loop())
    except RuntimeError:  # the set of tasks changed too often while it was being copied
        return None
    for task in tasks:
        coro = _coroutine_of(task)
        if coro is awaitable or getattr(coro, "cr_await", None) is awaitable:
            return task
    return None


def current_task() -> Any:
    """The asyncio task running in this thread, or None (also when asyncio is not even imported)."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None or asyncio._get_running_loop() is None:  # current_task()'s RuntimeError costs more
        return None
    return asyncio.current_task()


def _awaited_by(task: Any, waiter: Any) -> bool:
    """Whether the task ``waiter`` is suspended awaiting ``task``: directly, through ``asyncio.gather`` (nested ones
    too), ``wait_for`` or ``asyncio.wait``, as the parent task of its ``TaskGroup``, or awaiting a sibling of it: a
    task of the same coroutine function (tasks made in a loop and awaited one by one run while the first is awaited;
    their queries are one loop's, and must not get different stacks by timing). A task created and left to run is
    awaited by nobody: the frames of whatever its creator awaits meanwhile are not its callers."""
    waiting_on = getattr(waiter, "_fut_waiter", None)
    futures = [waiting_on]
    looked = 0
    while futures and looked < _MAX_WALK:
        future = futures.pop()
        looked += 1
        if future is task:
            return True
        futures.extend(getattr(future, "_children", None) or ())  # a gather's
    if waiting_on is not None and _same_function(waiting_on, task):
        return True
    for callback, _context in getattr(task, "_callbacks", None) or ():
        if getattr(getattr(callback, "__self__", None), "_parent_task", None) is waiter:  # TaskGroup._on_task_done
            return True
        if waiting_on is not None and any(arg is waiting_on for arg in getattr(callback, "args", ())):
            return True  # wait_for's partial(_release_waiter, waiter) (Python 3.11)
        cells = getattr(callback, "__closure__", None) or ()
        if waiting_on is not None and any(_cell_holds(cell, waiting_on) for cell in cells):
            return True  # asyncio.wait's _on_completion, whose closure holds its waiter
    return False


def _same_function(other: Any, task: Any) -> bool:
    """Whether ``other`` is a task running the same coroutine function as ``task``."""
    mine, theirs = _coroutine_of(task), _coroutine_of(other) if hasattr(other, "get_coro") else None
    code = getattr(mine, "cr_code", None)
    return code is not None and other is not task and getattr(theirs, "cr_code", None) is code


def _cell_holds(cell: Any, value: Any) -> bool:
    try:
        return cell.cell_contents is value
    except ValueError:  # an empty cell
        return False


_MAX_INCLUDED_FROM = 16
# Django's nodes of template inheritance: a {% block %} of the base template or the child's {% extends %} says how
# every query of the page was built, not where a template was brought in.
_INHERITANCE_NODES = ("BlockNode", "ExtendsNode")
_BLOCK_SUPER = "block.super"  # {{ block.super }}: the base template's block, rendered inside the child's
_INCLUDE_NODES = ("IncludeNode", "InclusionNode")  # Django's nodes that render another template


def _template_of(frame: FrameType) -> tuple[str, int] | None:
    """The template name and line of a Django ``render_annotated`` frame or a Jinja2 template's frame."""
    jinja = _cache.get(id(frame.f_code))
    if jinja.__class__ is _JinjaCode:
        return jinja.name, jinja.line(frame.f_lineno)
    return _node_position(frame.f_locals.get("self"))


def _node_position(node: Any) -> tuple[str, int] | None:
    name = _node_template(node)
    line = getattr(getattr(node, "token", None), "lineno", None)
    if name is None or line is None:
        return None
    return name, int(line)


def _node_template(node: Any) -> str | None:
    origin = getattr(node, "origin", None)
    name = getattr(origin, "template_name", None) or getattr(origin, "name", None)
    return None if name is None else str(name)


def _inheritance(node: Any) -> bool:
    if type(node).__name__ in _INHERITANCE_NODES:
        return True
    token = getattr(getattr(node, "filter_expression", None), "token", None)  # a VariableNode's
    return isinstance(token, str) and token.startswith(_BLOCK_SUPER)


def _template_position(templates: list[tuple[int, FrameType]]) -> Template | None:
    """The query's :data:`Template`: the innermost template frame's position, and where each template from there out
    was brought in by another one: the first position in another template, going out, skipping template
    inheritance (a base template's {% block %}, {{ block.super }}, the child's {% extends %}; Jinja's block calls and
    ``extends``); and where a Jinja macro of the same file was called. A template including itself or one of its base
    templates (a tree), a template reached again through others, a Jinja function run again (a macro, through another
    or not; a recursive loop), is a recursion: the positions in between are dropped, so that every depth has the same
    positions, and the depth says how many times it went round (so that the server can tell a tree's levels from a
    loop's turns)."""
    if not templates:
        return None
    inner = templates[0][1]
    position = _template_of(inner)
    if position is None:
        return None
    # Per position level (0: the innermost template's): the templates inheritance took the walk through (its
    # "family"), and the Jinja functions it ran; an include into a template of the current family is the template
    # including itself, into one of an earlier level's family (or a Jinja function seen at an earlier level) a
    # recursion.
    current: str | None = position[0]
    families: list[set[str]] = [{position[0]}]
    codes: list[set[CodeType]] = [{inner.f_code}]
    included_from: list[tuple[str, int]] = []
    depth = 0
    for _, frame in templates[1:]:
        name, inherits, called, here, renders = _outer_template(frame, inner)
        jinja = _cache.get(id(frame.f_code)).__class__ is _JinjaCode
        inner = frame
        moved, current = name != current, name
        if name is None:
            continue
        if inherits:
            families[-1].add(name)
            if jinja:
                codes[-1].add(frame.f_code)
            continue
        if jinja:
            seen = next((i for i, level in enumerate(codes) if frame.f_code in level), None)
            if seen is not None:  # a Jinja function run again: a recursion
                del included_from[seen:]
                del families[seen + 1 :], codes[seen + 1 :]
                depth += 1
                continue
        if not (moved or renders):
            if jinja:
                codes[-1].add(frame.f_code)
            continue
        if name in families[-1] and not called:  # a template including itself
            depth += 1
            continue
        seen = None if called else next((i for i, family in enumerate(families[:-1]) if name in family), None)
        if seen is not None:  # back in a template the chain came from: a recursion
            del included_from[seen:]
            del families[seen + 1 :], codes[seen + 1 :]
            depth += 1
            continue
        if here is None:
            continue
        families.append({name})
        codes.append({frame.f_code} if jinja else set())
        included_from.append(here)
        if len(included_from) >= _MAX_INCLUDED_FROM:
            break
    return (*position, tuple(included_from), depth) if included_from or depth else position


def _outer_template(frame: FrameType, inner: FrameType) -> tuple[str | None, bool, bool, tuple[str, int] | None, bool]:
    """What a template frame outside ``inner`` is: its template's name; whether it renders ``inner`` as template
    inheritance (Django's {% block %}, {{ block.super }} or {% extends %} node; a Jinja frame calling a block function,
    the base template's {% block %}, or a child template's root rendering its base, ``parent_template`` set); whether
    it called the Jinja macro ``inner`` runs (a ``{% macro %}`` compiles to a function named ``macro``); its position;
    and whether it brought a template in: Django's include or inclusion tag; a Jinja include (``inner`` runs a
    template's root) or macro call."""
    jinja = _cache.get(id(frame.f_code))
    if jinja.__class__ is _JinjaCode:
        inherits = inner.f_code.co_name.startswith("block_") or frame.f_locals.get("parent_template") is not None
        called = not inherits and inner.f_code.co_name == "macro" and frame.f_code is not inner.f_code
        renders = not inherits and (called or inner.f_code.co_name == "root")
        return jinja.name, inherits, called, (jinja.name, jinja.line(frame.f_lineno)), renders
    node = frame.f_locals.get("self")  # (read once: each read of f_locals builds the frame's dict again)
    renders = type(node).__name__ in _INCLUDE_NODES
    return _node_template(node), _inheritance(node), False, _node_position(node), renders


class Memo:
    """What the previous walk of a unit saw, so the next one can stop early, or skip the walk.

    Once a walk reaches a frame object that an earlier walk of the same unit also reached (the view's frame, for the
    second query of a view), everything beyond it is the same as last time: a live frame's callers cannot change
    while it runs. So the walk stops there and copies the rest of the stack from the earlier result. Generator and
    coroutine frames are never stopping points (their caller changes on each resumption), nor are frames reached
    through an await chain. The memo holds the frames it names (those of the last walk, and the live ones earlier
    walks learnt of); the unit drops it when it finishes.

    The next query of a loop skips the walk: ``first`` is the frame of a recent stack's first application frame
    (when only library frames came before it: no template, await chain or generator frame), ``depth`` how many frames
    lie between the integration's hook and it, and ``lines`` what real walks from that frame at that depth found for
    each of its instructions: the query's :data:`Site` ``(sql, stack, template)``. When the frame ``depth`` above the
    hook is ``first`` again, paused on an instruction whose site has the same SQL text, the query comes from the same
    call by the same path, and its site (the same tuple object) is taken from ``lines``: one frame look-up instead of
    creating and inspecting every ORM frame. ``depths`` keeps the ``lines`` of every depth ``first`` was found at, so
    that a loop making two queries through ORM paths of different lengths skips the walk for both (``Unit.record``
    tries the others, with :func:`first_at_other_depth`, when the last one misses). (The frames in between are not
    looked at: a path through an application helper that is exactly as deep as the library-only path from the same
    instruction, and makes the same SQL, would be given the library-only path's stack.)

    A query made in a function called once per turn of a loop (a helper, a model method, a serializer's method) has
    a new first frame each time, so ``first`` never matches; ``chains`` (see :class:`Chain`, the last few paths,
    newest first) skip the walk for it instead, and for a query made while a template renders a loop. What a walk
    learns of one kind keeps what was known of the other, as long as the frames it names are live on the walked
    stack (a finished frame can never match again, and would keep its callers' frames and locals alive until the
    unit ends). Anything else is walked.
    """

    __slots__ = ("chains", "depth", "depths", "first", "frames", "lines", "positions", "templates")

    def __init__(
        self,
        frames: tuple[Frame, ...],
        positions: dict[FrameType, int],
        templates: list[tuple[int, FrameType]],
    ) -> None:
        self.frames = frames  # the previous walk's result
        self.positions = positions  # stopping frame -> its index in `frames`
        self.templates = templates  # (number of frames collected before it, render_annotated frame)
        self.first: Any = _NO_FRAME  # the frame of frames[0] when the next query may skip the walk
        # Without a first frame, 1: the hook's caller. Not 0: the hook would look up its own frame, whose frame object
        # would then hold itself through the hook's variable, a cycle left for the garbage collector on every query.
        self.depth = 1
        self.lines: dict[int, Site] = {}  # f_lasti of `first` -> the site a walk from there at `depth` found
        self.depths: dict[int, dict[int, Site]] = {}  # depth -> its `lines`, for every depth `first` was seen at
        self.chains: tuple[Chain, ...] = ()


class ChainPath(NamedTuple):
    """What a walk found from a new first application frame up to the anchor (see :class:`Chain`)."""

    codes: tuple[CodeType, ...]  # the frames followed by f_back from the first one, up to the anchor or a template
    render: CodeType | None  # the template frame's code when one came before the anchor
    between: tuple[tuple[int, CodeType], ...]  # (depth below the first frame, code) of application frames above it
    included: tuple[tuple[int, CodeType], ...]  # (depth, code) of the template frames that brought a template in
    nodes: tuple[Any, ...]  # the template node it rendered, then those that brought its template in
    key: tuple[int, ...]  # the instructions of those frames, the nodes' ids and the anchor's instruction


class Chain:
    """How a walk went from a new first application frame up to a live frame an earlier walk reached (the ``anchor``:
    the loop's frame, for a helper called once per turn), so that the next query by the same path skips the walk.

    ``depth`` is how many frames lie between the integration's hook and the first application frame, ``codes`` the
    code objects of every frame from it up to the anchor (the anchor excluded), and ``sites`` what walks found, keyed
    by the instruction each of those frames and the anchor were paused on. A query whose frame ``depth`` above the
    hook runs ``codes[0]``, whose callers run the other codes in order up to the anchor itself, on the same
    instructions, with the same SQL text, comes from the same calls by the same path below a frame whose own callers
    cannot have changed: it gets that site. Checking costs one frame look-up and ``f_back`` for each frame up to the
    anchor (usually none to three), instead of inspecting every ORM frame.

    A function called from a template (a model method in ``{{ author.titles }}``) reaches a template's
    ``render_annotated`` frame (``render``) before the anchor: the codes then end there, the key gets the template node
    it renders (its id; the node is kept with the site), and the anchor is looked up at ``anchor_depth`` instead of
    following the dozens of library and template frames in between. Application frames among those (a helper that
    renders a row template per item) are ``between``: each is looked up at its depth and checked by code object, and
    its instruction joins the key. So are the template frames that brought a template in (``included``, see
    :func:`_template_position`), with the id of the node each renders: a cached partial's nodes are the same objects
    wherever it is included, and the {% include %} tells two places apart. (The other library and template frames
    are not looked at: an application function called from the template at exactly the same depths as a library-only
    path, making the same SQL, would be given the library-only path's stack.) A query made by library code while a
    template renders (``{{ book.author.name }}`` in a ``{% for %}``) has no application frame below the template: its
    Chain starts at the innermost ``render_annotated`` frame, with no codes. The first frame may be a generator's or a
    coroutine's (a Jinja template's render function is a generator), never the anchor. A path through an await chain
    is always walked.
    """

    __slots__ = ("anchor", "anchor_depth", "between", "codes", "depth", "included", "render", "sites")

    def __init__(self, depth: int, anchor_depth: int, path: ChainPath, anchor: FrameType) -> None:
        self.depth = depth
        self.anchor_depth = anchor_depth
        self.codes, self.render, self.between, self.included = path.codes, path.render, path.between, path.included
        self.anchor = anchor
        self.sites: dict[tuple[int, ...], tuple[Any, Site]] = {}  # key -> (the template nodes, site)

    def same_path(self, depth: int, anchor_depth: int, path: ChainPath, anchor: FrameType) -> bool:
        return (
            self.anchor is anchor
            and self.depth == depth
            and self.anchor_depth == anchor_depth
            and self.render is path.render
            and len(self.codes) == len(path.codes)
            and all(mine is theirs for mine, theirs in zip(self.codes, path.codes, strict=True))
            and _same_frames(self.between, path.between)
            and _same_frames(self.included, path.included)
        )  # code objects by identity: identical functions in two files compare equal


def _same_frames(mine: tuple[tuple[int, CodeType], ...], theirs: tuple[tuple[int, CodeType], ...]) -> bool:
    return len(mine) == len(theirs) and all(a == c and b is d for (a, b), (c, d) in zip(mine, theirs, strict=True))


_NO_FRAME = object()

_MAX_LINES = 256  # instructions remembered for one frame at one depth (sites for one chain)
_MAX_DEPTHS = 8  # depths remembered for one frame (Unit.record tries each one)
_MAX_CHAIN = 16  # frames from the first application frame up to the anchor or a template, for a Chain
_MAX_CHAINS = 4  # chains remembered (Unit.record tries each one)


def first_at_other_depth(memo: Memo, above: int) -> tuple[Any, dict[int, Site]]:
    """``memo.first`` and the ``lines`` of the depth it is found at now, when that is another depth than
    ``memo.depth`` (``(None, {})`` when it is at none of them). Depths count from ``above`` frames above the caller,
    as ``Unit.record``'s ``depth`` does."""
    first = memo.first
    for known_depth, lines in memo.depths.items():
        if known_depth == memo.depth:
            continue  # the caller tried it
        try:
            frame = sys._getframe(above + known_depth + 1)  # + 1: this function's own frame
        except ValueError:  # a shallower stack (another thread of the unit)
            continue
        if frame is first:
            return frame, lines
    return None, {}


def chain_site(chain: Chain, above: int, sql: Any) -> Site | None:
    """The site of an earlier query made by the same path below the same live frame (see :class:`Chain`), or None.
    Depths count from ``above`` frames above the caller, as ``Unit.record``'s ``depth`` does."""
    try:
        frame: FrameType | None = sys._getframe(above + chain.depth + 1)  # + 1: this function's own frame
    except ValueError:  # a shallower stack (another thread of the unit)
        return None
    key = []
    for code in chain.codes:
        if frame is None or frame.f_code is not code:
            return None
        key.append(frame.f_lasti)
        frame = frame.f_back
    if chain.render is not None:
        if frame is None or frame.f_code is not chain.render:
            return None
        key.append(id(frame.f_locals.get("self")))
        try:
            for at, code in chain.between:
                frame = sys._getframe(above + chain.depth + at + 1)
                if frame.f_code is not code:
                    return None
                key.append(frame.f_lasti)
            for at, code in chain.included:
                frame = sys._getframe(above + chain.depth + at + 1)
                if frame.f_code is not code:
                    return None
                key.append(id(frame.f_locals.get("self")))
            frame = sys._getframe(above + chain.anchor_depth + 1)
        except ValueError:  # a shallower stack
            return None
    if frame is not chain.anchor:
        return None
    key.append(frame.f_lasti)
    known = chain.sites.get(tuple(key))
    if known is None or known[1][0] != sql:  # known[1][0]: the site's SQL text
        return None
    return known[1]


def _chain_below(anchor: FrameType, first: FrameType) -> ChainPath | None:
    """The path of a Chain from ``first`` up to ``anchor`` (see :class:`ChainPath`). None when the path is too long or
    goes through an await bridge. (A generator's or coroutine's frame may be on it: its callers change between
    resumptions, but the Chain checks them.)"""
    codes: list[CodeType] = []
    between: list[tuple[int, CodeType]] = []
    included: list[tuple[int, CodeType]] = []
    nodes: list[Any] = []
    key: list[int] = []
    included_key: list[int] = []
    render: CodeType | None = None
    frame: FrameType | None = first
    while frame is not anchor:
        if frame is None or len(codes) >= _MAX_CHAIN:
            return None
        code = frame.f_code
        kind = _cache.get(id(code))
        if kind is _TEMPLATE:
            render, node = code, frame.f_locals.get("self")
            nodes.append(node)
            key.append(id(node))
            name = _node_template(node)
            at = len(codes)  # the template frame's depth below the first frame
            frame = frame.f_back
            while frame is not anchor:  # looked up by depth when checked: only these frames matter
                at += 1
                if frame is None:
                    return None
                kind = _cache.get(id(frame.f_code))
                if kind is _TEMPLATE:
                    # Every frame where the walk moves to another template, but by inheritance, and every include of
                    # its own template: what _template_position counts is among them (it leaves out some, which only
                    # makes the key stricter).
                    outer = frame.f_locals.get("self")
                    outer_name = _node_template(outer)
                    itself = outer_name == name and type(outer).__name__ in _INCLUDE_NODES  # a recursion's depth
                    if outer_name != name or itself:
                        included.append((at, frame.f_code))
                        nodes.append(outer)
                        included_key.append(id(outer))
                    name = outer_name
                elif kind is not _NOT_APP:
                    if kind.__class__ not in _APP_KINDS:
                        return None  # an await bridge
                    between.append((at, frame.f_code))
                    key.append(frame.f_lasti)
                frame = frame.f_back
            break
        if kind is not _NOT_APP and kind.__class__ not in _APP_KINDS:
            return None  # an await bridge: the walk went on through another stack
        codes.append(code)
        key.append(frame.f_lasti)
        frame = frame.f_back
    key.extend(included_key)
    key.append(anchor.f_lasti)
    return ChainPath(tuple(codes), render, tuple(between), tuple(included), tuple(nodes), tuple(key))


def capture(
    depth: int,
    limit: int,
    task: Any = None,
    task_thread: int | None = None,
    memo: Memo | None = None,
    sql: Any = None,
    boundary: FrameType | None = None,
) -> tuple[Site, Memo]:
    """The query's site, ``(sql, stack, template)``: application frames (innermost first, at most ``limit``) and the
    template position; and the memo for the next walk. Starts ``depth`` frames above the caller, and ends at
    ``boundary`` (the middleware's frame of a request: what called the request, a test with Django's test client, is
    not where its queries come from); follows ``task``'s await chain when running off its thread. ``sql`` is the
    query's text (the same call by the same path makes the same SQL). Equal stacks of one unit are often the same
    tuple object. The memo's skip of the walk for the next query of a loop (see :class:`Memo`) is tried by the caller
    before it calls this: ``Unit.record`` and Django's query hook do it inline, as they run for every query."""
    return _walk(sys._getframe(depth + 1), limit, task, task_thread, memo, sql, boundary)


def _walk(
    frame: FrameType | None,
    limit: int,
    task: Any,
    task_thread: int | None,
    memo: Memo | None,
    sql: Any,
    boundary: FrameType | None = None,
) -> tuple[Site, Memo]:
    frames: list[Frame] = []
    positions: dict[FrameType, int] = {}
    templates: list[tuple[int, FrameType]] = []
    seen = memo.positions if memo is not None else None
    first: tuple[FrameType, int] | None = None  # frames[0]'s frame and depth, when only library frames came before
    start: tuple[FrameType, int] | None = None  # the same, also when frames[0] is a generator's or coroutine's
    node_depth = 0  # the depth of templates[0]'s frame (-1 once an await chain was walked)
    awaiting = None
    reached = False  # an await chain reached the boundary
    get = _cache.get
    steps = 0
    while frame is not None and frame is not boundary and steps < _MAX_WALK:
        steps += 1
        code = frame.f_code
        kind = get(id(code))
        if kind is _NOT_APP:  # the common case, first
            frame = frame.f_back
            continue
        if kind is None:
            kind = _kind(frame)
        cls = kind.__class__
        if cls is str:
            if seen is not None and memo is not None:
                at = seen.get(frame)
                if at is not None:
                    if not frames and not templates:
                        first = start = (frame, steps - 1)
                    below = _path_below(frame, steps - 1, start, frames, templates, node_depth)
                    return _resume(frames, positions, templates, frame, kind, at, memo, limit, first, sql, below)
            if not frames and not templates:
                first = start = (frame, steps - 1)
            positions[frame] = len(frames)
            frames.append(_frame(kind, frame.f_lineno, code.co_name))
            if len(frames) >= limit:
                break
        elif cls is _Resumable:
            if not frames and not templates:
                start = (frame, steps - 1)
            frames.append(_frame(str(kind), frame.f_lineno, code.co_name))
            if len(frames) >= limit:
                break
        elif cls is _JinjaCode:
            if not frames and not templates:
                start = (frame, steps - 1)
            if not templates:  # the innermost template is the query's template position
                node_depth = -1  # (no Chain from a Django template frame beyond it)
            templates.append((len(frames), frame))
        elif kind == _TEMPLATE:
            if not templates and node_depth >= 0:
                node_depth = steps - 1
            templates.append((len(frames), frame))
        elif kind == _HANDLER and boundary is not None:
            reached = True  # beyond it, the middleware chain (see the module's docstring)
            break
        elif kind == _EXECUTOR_BRIDGE:
            awaiting = _awaiting_task(frame, task)
        elif kind == _ASYNC_BRIDGE:
            node_depth = -1  # templates found from here on are not on this stack: no Chain from one
            awaitable = frame.f_locals.get("awaitable")
            if awaiting is not None:
                # The sync code ran on this thread for a task of the loop this async_to_sync drives (its
                # CurrentThreadExecutor: an async view under WSGI): that task's chain first, unless it is the
                # coroutine async_to_sync runs; then that coroutine's, when it awaits the task.
                main, task_of_its_own = _task_running(awaitable, awaiting), awaiting
                awaiting = None
                if task_of_its_own is not main:
                    if _walk_chain(_task_frames(task_of_its_own), frames, templates, limit, boundary):
                        reached = True
                        break
                    if main is not None and not _awaited_by(task_of_its_own, main):
                        break  # a task left to run: its own chain is all of its callers
            awaiting = None  # this thread's own stack goes on to the awaiting coroutine
            if awaitable is not None:
                if _walk_chain(_coroutine_frames(awaitable), frames, templates, limit, boundary):
                    reached = True
                    break
                if len(frames) >= limit:
                    break
        frame = frame.f_back
    if reached or (frame is not None and frame is boundary):  # the unit's own callers are not its queries' callers
        return _result(tuple(frames), positions, templates, first, memo, sql)
    greenlet = frame is None and len(frames) < limit and "greenlet" in sys.modules
    if greenlet and _walk_chain(_greenlet_caller_frames(task), frames, templates, limit, boundary):
        return _result(tuple(frames), positions, templates, first, memo, sql)
    if awaiting is not None and awaiting is not task:
        if _walk_chain(_task_frames(awaiting), frames, templates, limit, boundary):
            return _result(tuple(frames), positions, templates, first, memo, sql)
        if not _awaited_by(awaiting, task):
            task = None  # a task created and left to run: its own chain is all of its callers
    if task is not None and len(frames) < limit and threading.get_ident() != task_thread:
        _walk_chain(_task_frames(task), frames, templates, limit, boundary)
    return _result(tuple(frames), positions, templates, first, memo, sql)


def _result(
    frames: tuple[Frame, ...],
    positions: dict[FrameType, int],
    templates: list[tuple[int, FrameType]],
    first: tuple[FrameType, int] | None,
    previous: Memo | None,
    sql: Any,
    below: Callable[[Memo, Site], None] | None = None,
    resumed: bool = False,
) -> tuple[Site, Memo]:
    """The site and the next memo: what earlier walks learnt (each part is checked against live frames before it is
    used, so it stays true), and what this walk learnt: ``below`` (see :func:`_path_below`) or its ``first`` frame.
    ``resumed``: the walk reached a frame the previous one saw, so ``positions`` holds the live application frames
    of the stack the earlier parts name."""
    site = (sql, frames, _template_position(templates))
    memo = Memo(frames, positions, templates)
    if previous is not None:
        # What earlier walks learnt of frames that are live on this stack (see Memo). A walk that met no frame of the
        # previous one (another thread of the unit, a stack cut at max_stack) tells nothing of which frames still run:
        # everything is kept then.
        def live(frame: Any) -> bool:
            return not resumed or frame in positions

        if live(previous.first):
            memo.first, memo.depth, memo.depths, memo.lines = (
                previous.first,
                previous.depth,
                previous.depths,
                previous.lines,
            )
        memo.chains = tuple(chain for chain in previous.chains if live(chain.anchor))
    if below is not None:
        below(memo, site)
    elif first is not None:
        frame, depth = first
        memo.first, memo.depth = frame, depth
        # What earlier walks found from this frame is still true: its callers have not changed.
        depths = previous.depths if previous is not None and previous.first is frame else {}
        lines = depths.get(depth)
        if lines is None or len(lines) >= _MAX_LINES:
            lines = {}
            # A new dict, not a change to the shared one: another thread of the unit may be iterating over it.
            depths = {**depths, depth: lines} if len(depths) < _MAX_DEPTHS else {depth: lines}
        memo.depths, memo.lines = depths, lines
        lines[frame.f_lasti] = site
    return site, memo


def _path_below(
    anchor: FrameType,
    depth: int,
    start: tuple[FrameType, int] | None,
    frames: list[Frame],
    templates: list[tuple[int, FrameType]],
    node_depth: int,
) -> Callable[[Memo, Site], None] | None:
    """How the next query by the same path below ``anchor`` (the live frame this walk stopped at, ``depth`` frames
    above the hook) can skip the walk: a Chain from a new first application frame (``start``), or else from the
    innermost template frame; None when neither applies (the loop's own frame is ``Memo.first``'s case)."""
    if start is not None:
        start_frame, start_depth = start
        if start_frame is anchor:
            return None
        path = _chain_below(anchor, start_frame)
        if path is None:
            return None
        return partial(_learn_chain, start_depth, depth, path, anchor)
    if templates and node_depth >= 0:  # only library frames below the innermost template frame
        path = _chain_below(anchor, templates[0][1])
        if path is None:
            return None
        return partial(_learn_chain, node_depth, depth, path, anchor)
    return None


def _learn_chain(depth: int, anchor_depth: int, path: ChainPath, anchor: FrameType, memo: Memo, site: Site) -> None:
    known = [chain for chain in memo.chains if chain.same_path(depth, anchor_depth, path, anchor)]
    chain = known[0] if known and len(known[0].sites) < _MAX_LINES else Chain(depth, anchor_depth, path, anchor)
    # A new tuple, newest first, not a change to the shared one: another thread of the unit may be iterating over it.
    memo.chains = (chain, *(other for other in memo.chains if other not in known))[:_MAX_CHAINS]
    chain.sites[path.key] = (path.nodes, site)  # the nodes are kept: their ids in the key stay their own


def _resume(
    frames: list[Frame],
    positions: dict[FrameType, int],
    templates: list[tuple[int, FrameType]],
    frame: FrameType,
    kind: str,
    at: int,
    memo: Memo,
    limit: int,
    first: tuple[FrameType, int] | None,
    sql: Any,
    below: Callable[[Memo, Site], None] | None,
) -> tuple[Site, Memo]:
    """Finish a walk that reached a frame the previous walk saw at index ``at``."""
    here = len(frames)
    positions[frame] = here
    frames.append(_frame(kind, frame.f_lineno, frame.f_code.co_name))
    frames.extend(memo.frames[at + 1 :])
    del frames[limit:]
    shift = here - at
    for old_frame, old_at in memo.positions.items():
        if old_at > at and old_at + shift < limit:
            positions[old_frame] = old_at + shift
    templates.extend((count + shift, tframe) for count, tframe in memo.templates if count > at)
    return _result(tuple(frames), positions, templates, first, memo, sql, below, resumed=True)


def _walk_chain(
    chain: list[FrameType],
    frames: list[Frame],
    templates: list[tuple[int, FrameType]],
    limit: int,
    boundary: FrameType | None = None,
) -> bool:
    """Append the application frames of an await chain (never stopping points: coroutines resume elsewhere); True
    when it reached ``boundary`` (see :func:`capture`), where the walk ends."""
    for frame in chain:
        if frame is boundary:
            return True
        if len(frames) >= limit:
            return False
        kind = _kind(frame)
        if kind == _HANDLER and boundary is not None:
            return True
        if kind.__class__ in (str, _Resumable):
            frames.append(_frame(str(kind), frame.f_lineno, frame.f_code.co_name))
        elif kind.__class__ is _JinjaCode or kind == _TEMPLATE:
            templates.append((len(frames), frame))
    return False


def clear_cache() -> None:
    with _lock:
        _cache.clear()
        _classified.clear()
        _frames.clear()
