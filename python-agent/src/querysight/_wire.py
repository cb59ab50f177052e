"""The wire JSON of a finished unit, written straight from its recorded query tuples.

The sender thread shares the GIL with the application's threads, so its CPU shows up as request latency. Instead of
building a dict per query and running json's encoder over them, each query's JSON object is one f-string: strings go
through json's C ``encode_basestring_ascii`` (ASCII output, so lone surrogates become escapes such as
``\\udc80``), and what the queries of a unit share is encoded once per unit: the SQL text, the call site and stack
(the recorder reuses one stack tuple for the queries of a loop), the db, vendor and outcome (one Run tuple), the
template position.

Timings are milliseconds with microsecond precision (three decimals). The result is an :class:`EncodedUnit`, which
the transport can cut to its first queries when a unit is too large for one request body:

>>> encoded = encode_unit(unit)
>>> encoded.text()  # '{"id":"…",…,"queries":[{…},{…}],"dropped_queries":0}'
>>> encoded.first(1).text()  # '{"id":"…",…,"queries":[{…}],"dropped_queries":1}'
"""

from __future__ import annotations

import json
import math
from array import array
from json.encoder import encode_basestring_ascii as _string
from typing import Any

from . import config
from ._stack import Frame
from .recorder import ELLIPSIS, JSON_INT_LIMIT, MANY, Run, Unit, json_safe

# Only for what is not built here: JSON-safe copies (parameters and meta values of rare kinds, unit fields).
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, check_circular=False)
_isfinite = math.isfinite
_NOTHING: Any = object()  # what no recorded value is


class EncodedUnit:
    """A unit's JSON in pieces: everything up to its queries, its queries' objects joined in one string (with where
    each one ends), and the queries it dropped. One string for all the queries, not one per query: a unit waiting to
    be sent (while the server is down) then holds a few large blocks of memory instead of hundreds of small ones
    scattered among the application's objects."""

    __slots__ = ("body", "dropped_queries", "ends", "head")

    def __init__(self, head: str, queries: list[str], dropped_queries: int) -> None:
        self.head = head  # '{"id":…,"meta":{…},"queries":['
        self.body = ",".join(queries)
        self.ends = array("q")  # the end of each query's object in body
        end = -1
        for text in queries:
            end += len(text) + 1
            self.ends.append(end)
        self.dropped_queries = dropped_queries

    @property
    def count(self) -> int:
        """How many queries it holds."""
        return len(self.ends)

    def first(self, keep: int) -> EncodedUnit:
        """The same unit with only its first ``keep`` queries; the others count as dropped."""
        keep = max(0, min(keep, self.count))
        cut = EncodedUnit(self.head, [], self.dropped_queries + self.count - keep)
        if keep:
            cut.body = self.body[: self.ends[keep - 1]]
            cut.ends = self.ends[:keep]
        return cut

    def text(self) -> str:
        return f'{self.head}{self.body}],"dropped_queries":{self.dropped_queries}}}'


def encode_unit(unit: Unit) -> EncodedUnit:
    """The wire JSON of a finished unit (DESIGN.md §4)."""
    settings = unit.settings
    queries = list(unit.queries)  # a late thread of the unit may still append
    fields = {
        "id": unit.id,
        "kind": unit.kind,
        "name": _clip(unit.name, 2000) or unit.kind,
        "method": _clip(unit.method, 20),
        "path": _clip(unit.path, 2000),
        "route": _clip(unit.route, 2000),
        "view": _clip(unit.view, 2000),
        "status": unit.status,
        "started_at": round(unit.started_at, 3),
        "duration_ms": round(unit.duration_ms if unit.duration_ms is not None else 0.0, 3),
        "meta": {str(k): json_safe(v, settings.max_param_length) for k, v in unit.meta.items()},
    }
    head = _ENCODER.encode(fields)[:-1] + ',"queries":['
    return EncodedUnit(head, _Encoder(settings).queries(queries, unit._t0), unit.dropped_queries)


class _Encoder:
    """Encodes the queries of one unit, remembering what they share."""

    __slots__ = ("frames", "max_length", "max_sql", "names", "sqls", "stacks", "templates")

    def __init__(self, settings: config.Settings) -> None:
        self.max_length = settings.max_param_length
        self.max_sql = settings.max_sql_length
        self.sqls: dict[str, tuple[str, str]] = {}  # SQL -> (its JSON, ',"sql_truncated":true' or '')
        self.names: dict[tuple[Any, Any], str] = {}  # (db, vendor) -> ',"db":…,"vendor":…,"start_ms":'
        # id(stack tuple) -> ('"callsite":…,"stack":[…]', the tuple): holding the tuple keeps its id from being reused
        self.stacks: dict[int, tuple[str, tuple[Frame, ...]]] = {}
        self.frames: dict[Frame, str] = {}
        self.templates: dict[Any, str] = {}  # (name, line) -> ',"template":{…}'

    def queries(self, queries: list[tuple[Any, ...]], t0: float) -> list[str]:
        """Each query's JSON object, in the key order of DESIGN.md §4."""
        max_length = self.max_length
        string, str_, int_ = _string, str, int  # locals: this loop runs for every query
        int_low, int_high = -JSON_INT_LIMIT, JSON_INT_LIMIT
        out: list[str] = []
        append = out.append
        # The queries of a loop share their Site and Run tuples: compare with the last one. Sites of separate walks can
        # still share their SQL string, stack tuple and template.
        last_site = last_sql = last_run = last_stack = last_template = _NOTHING
        before_params = before_timings = after_error = outcome = ""
        many = False
        for site, params, start, end, run in queries:
            if site is not last_site:
                last_site = site
                sql, stack, template = site
                if sql is not last_sql or stack is not last_stack or template is not last_template:
                    last_sql, last_stack, last_template = sql, stack, template
                    before_params, after_error = self.around(sql, stack, template)
            if run is not last_run:
                last_run, many = run, run[MANY]
                before_timings, outcome = self.run(run)
            if params is None:
                params_json = "null"
            elif params.__class__ is tuple and not many:  # the common case: a few ints and short strings
                parts = []
                add = parts.append
                for value in params:
                    kind = value.__class__
                    if kind is int_ and int_low <= value <= int_high:
                        add(f"{value}")
                    elif kind is str_ and len(value) <= max_length:
                        add(string(value))
                    else:
                        add(_value(value, max_length))
                params_json = f"[{','.join(parts)}]"
            else:
                params_json = _params(params, many, max_length)
            append(
                f"{before_params}{params_json}{before_timings}{(start - t0) * 1000.0:.3f}"
                f',"duration_ms":{(end - start) * 1000.0:.3f}{outcome}{after_error}'
            )
        return out

    def around(self, sql: Any, stack: tuple[Frame, ...], template: Any) -> tuple[str, str]:
        """What comes before a query's parameters ('{"sql":…,"params":') and after its error (',"callsite":…}')."""
        if sql.__class__ is not str:
            sql = str(sql)
        known = self.sqls.get(sql)
        if known is None:
            known = self.sqls[sql] = self.sql(sql)
        sql_json, truncated = known
        stack_json = self.stack(stack)
        template_json = ""
        if template is not None:
            template_json = self.templates.get(template)
            if template_json is None:
                template_json = self.templates[template] = f',"template":{_template(template)}'
        return f'{{"sql":{sql_json},"params":', f",{stack_json}{template_json}{truncated}}}"

    def run(self, run: Run) -> tuple[str, str]:
        """What comes between a query's parameters and its start time (',"db":…,"vendor":…,"start_ms":'), and what
        follows its duration (',"many":…,"error":…')."""
        db, vendor, many, error = run
        before_timings = self.names.get((db, vendor))
        if before_timings is None:
            before_timings = self.names[db, vendor] = (
                f',"db":{_string(_clip(str(db), 200))},"vendor":{_string(_clip(str(vendor), 200))},"start_ms":'
            )
        outcome = f',"many":{"true" if many else "false"},"error":{"null" if error is None else _string(error)}'
        return before_timings, outcome

    def sql(self, sql: str) -> tuple[str, str]:
        limit = self.max_sql
        if len(sql) * 4 > limit:  # only then can its UTF-8 be over the limit
            raw = sql.encode("utf-8", "surrogatepass")
            if len(raw) > limit:
                return _string(raw[:limit].decode("utf-8", "ignore")), ',"sql_truncated":true'
        return _string(sql), ""

    def stack(self, stack: tuple[Frame, ...]) -> str:
        known = self.stacks.get(id(stack))
        if known is not None:
            return known[0]
        frames = self.frames
        parts = []
        for frame in stack:
            part = frames.get(frame)
            if part is None:
                file, line, function = frame
                part = frames[frame] = (
                    f'{{"file":{_json(_clip(file, 2000))},"line":{_json(line)},'
                    f'"function":{_json(_clip(function, 2000))}}}'
                )
            parts.append(part)
        text = f'"callsite":{parts[0] if parts else "null"},"stack":[{",".join(parts)}]'
        self.stacks[id(stack)] = (text, stack)
        return text


def _params(params: Any, many: bool, max_length: int) -> str:
    """The JSON of a query's parameters: a list, a list of rows (``executemany``) or an object (named)."""
    if params is None:
        return "null"
    if isinstance(params, dict):
        if all(key.__class__ is str for key in params):
            return f"{{{','.join([f'{_string(k)}:{_value(v, max_length)}' for k, v in params.items()])}}}"
        return _json({str(k): json_safe(v, max_length) for k, v in params.items()})  # str() may merge keys
    if many:
        return f"[{','.join([_params(row, False, max_length) for row in params])}]"
    return f"[{','.join([_value(value, max_length) for value in params])}]"


def _value(value: Any, max_length: int) -> str:
    """The JSON of one parameter value, made JSON-safe (see :func:`recorder.json_safe`)."""
    kind = value.__class__
    if kind is int and -JSON_INT_LIMIT <= value <= JSON_INT_LIMIT:
        return int.__repr__(value)
    if kind is str:
        if len(value) <= max_length:
            return _string(value)
    elif value is None:
        return "null"
    elif kind is bool:
        return "true" if value else "false"
    elif kind is float and _isfinite(value):
        return float.__repr__(value)
    return _json(json_safe(value, max_length))


def _json(value: Any) -> str:
    """The JSON of a value made of JSON types."""
    kind = value.__class__
    if kind is str:
        return _string(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    return _ENCODER.encode(value)


def _template(template: Any) -> str:
    """A :data:`querysight._stack.Template` as the wire's ``template``: name, line, ``included_from`` and
    ``recursion_depth`` (each left out when empty)."""
    position = _position(template[0], template[1])
    if len(template) < 3:
        return position
    _, _, included_from, depth = template
    outer = ",".join(_position(name, line) for name, line in included_from)
    more = (f',"included_from":[{outer}]' if outer else "") + (f',"recursion_depth":{depth}' if depth else "")
    return f"{position[:-1]}{more}}}"


def _position(name: str, line: int) -> str:
    return f'{{"name":{_json(_clip(name, 2000))},"line":{_json(line)}}}'


def _clip(text: str | None, limit: int) -> str | None:
    if text is None or len(text) <= limit:
        return text
    return text[: limit - 1] + ELLIPSIS
