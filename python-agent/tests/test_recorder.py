"""The recorder core: units, capture(), JSON-safe params, call sites, limits, settings."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import inspect
import os
import subprocess
import sys
import time
import types
import uuid
import weakref

import pytest
from django.db import connection
from django.utils.safestring import mark_safe

import querysight
from helpers import JSON_SAFE_CASES, read_ndjson
from querysight import _stack, _web, config
from querysight.recorder import SITE, SQL, STACK, Unit, current_unit, json_safe, run_of, uuid7


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *JSON_SAFE_CASES,
        (mark_safe("<b>safe</b>"), "<b>safe</b>"),  # a str subclass whose str() is itself
    ],
)
def test_makes_each_parameter_json_safe(value, expected):
    assert json_safe(value, 256) == expected


def test_truncates_long_text_and_bytes_with_an_ellipsis():
    assert json_safe("x" * 300, 256) == "x" * 256 + "…"
    assert json_safe(b"y" * 300, 256) == "y" * 256 + "…"


def test_makes_time_ordered_version_7_uuids():
    ids = [uuid7() for _ in range(100)]
    parsed = [uuid.UUID(i) for i in ids]
    assert all(p.version == 7 and p.variant == uuid.RFC_4122 for p in parsed)
    assert len(set(ids)) == 100
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)


def test_a_forked_child_makes_other_unit_ids_than_its_parent():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, then out without running the test session's exit hooks
        os.write(write, uuid7().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    parent = uuid7()
    assert len(child) == len(parent) == 36
    assert child[15:] != parent[15:]  # the 74 bits after the timestamp and version: the child's sequence is its own


def test_capture_records_a_block_as_one_unit(recorded):
    with querysight.capture("nightly import", kind="task", meta={"rows": 3}) as unit:
        assert current_unit.get() is unit
        with connection.cursor() as cursor:
            cursor.execute("SELECT %s", [42])
    assert current_unit.get() is None
    wire = recorded.unit()
    assert (wire["kind"], wire["name"], wire["meta"]) == ("task", "nightly import", {"rows": 3})
    assert wire["method"] is None and wire["status"] is None
    (query,) = wire["queries"]
    assert query["params"] == [42]
    assert query["callsite"]["function"] == "test_capture_records_a_block_as_one_unit"
    assert query["callsite"]["file"] == "test_recorder.py"


def test_capture_decorates_sync_and_async_functions(recorded):
    @querysight.capture("sync job", kind="command")
    def job():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"

    @querysight.capture("async job")
    async def ajob():
        assert current_unit.get() is not None
        return "aok"

    assert job() == "ok"
    assert job() == "ok"
    assert asyncio.run(ajob()) == "aok"
    assert [(u["kind"], u["name"], len(u["queries"])) for u in recorded.units()] == [
        ("command", "sync job", 1),
        ("command", "sync job", 1),
        ("block", "async job", 0),
    ]


def select(value: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s", [value])


def test_a_decorated_generator_records_its_own_steps_not_the_code_consuming_it(recorded):
    # Before: the unit was made and sent when the generator object was, with none of its queries.
    @querysight.capture("export rows", kind="task")
    def export():
        for n in range(3):
            select(n)
            yield n
        return "done"

    with querysight.capture("consumer"):
        rows = export()
        for n in rows:
            select(100 + n)  # the consumer's, between the generator's items
    both = {u["name"]: [q["params"] for q in u["queries"]] for u in recorded.units()}
    assert both == {"export rows": [[0], [1], [2]], "consumer": [[100], [101], [102]]}
    assert all("error" not in u["meta"] for u in recorded.units())


def test_a_decorated_generator_passes_sent_and_thrown_values_and_its_return_value_through(recorded):
    @querysight.capture("echo")
    def echo():
        received = yield "ready"
        while received != "stop":
            try:
                received = yield f"got {received}"
            except KeyError as exc:
                received = yield f"caught {exc}"
        return "stopped"

    def drive():
        steps = echo()
        seen = [next(steps), steps.send("a"), steps.throw(KeyError("k"))]
        try:
            steps.send("stop")
        except StopIteration as stop:
            seen.append(stop.value)
        return seen

    assert drive() == ["ready", "got a", "caught 'k'", "stopped"]
    assert [u["name"] for u in recorded.units()] == ["echo"]


def test_a_decorated_generator_left_early_is_finished_without_an_error_and_one_that_raises_notes_it(recorded):
    @querysight.capture("pages")
    def pages():
        for n in range(10):
            select(n)
            yield n

    @querysight.capture("broken")
    def broken():
        select(1)
        yield 1
        raise ValueError("bad row")

    for n in pages():
        if n == 1:
            break
    with pytest.raises(ValueError, match="bad row"):
        list(broken())
    units = {u["name"]: u for u in recorded.units()}
    assert [q["params"] for q in units["pages"]["queries"]] == [[0], [1]]
    assert units["pages"]["meta"] == {}  # a generator closed early (GeneratorExit) has not failed
    assert units["broken"]["meta"] == {"error": "ValueError: bad row"}


def test_a_decorated_async_generator_records_its_own_steps(recorded):
    @querysight.capture("stream")
    async def stream():
        for n in range(2):
            assert current_unit.get() is not None
            yield n

    async def consume():
        seen = []
        async for n in stream():
            assert current_unit.get() is None  # the consumer's own code is not the generator's
            seen.append(n)
        return seen

    assert asyncio.run(consume()) == [0, 1]
    assert [u["name"] for u in recorded.units()] == ["stream"]


def test_a_decorated_generator_function_is_still_one_for_whatever_checks_it():
    # pytest's yield fixtures and FastAPI's yield dependencies tell them apart by inspect: a plain function returning
    # a generator would hand them the generator object instead of its value.
    @querysight.capture("sync")
    def steps():
        yield 1

    @querysight.capture("async")
    async def async_steps():
        yield 1

    assert inspect.isgeneratorfunction(steps) and inspect.isasyncgenfunction(async_steps)
    assert (steps.__name__, async_steps.__name__) == ("steps", "async_steps")


def test_capture_tells_mistakes_in_its_arguments_at_once_and_makes_a_name_a_string(recorded):
    # Before: "internal error while trying to start a unit" with a traceback, and the next mistake not said at all.
    with pytest.raises(
        ValueError, match=r"querysight.capture\(kind='job'\): kind must be one of request, test, task, command, block"
    ):
        querysight.capture("x", kind="job")
    with pytest.raises(
        TypeError, match=r"querysight.capture\(meta=...\): meta must be a mapping with string keys, got \['a'\]"
    ):
        querysight.capture("x", meta=["a"])  # type: ignore[arg-type]
    # A name computed at run time may be anything (None on a rare path): it is made a string, as any mapping a dict.
    with querysight.capture(123, meta=types.MappingProxyType({"rows": 3})):  # type: ignore[arg-type]
        pass
    assert [(u["name"], u["meta"]) for u in recorded.units()] == [("123", {"rows": 3})]


def test_capture_notes_no_error_for_sys_exit_0_and_names_an_interrupt_without_a_message(recorded):
    with pytest.raises(SystemExit), querysight.capture("done"):
        sys.exit(0)
    with pytest.raises(SystemExit), querysight.capture("failed"):
        sys.exit(3)
    with pytest.raises(KeyboardInterrupt), querysight.capture("interrupted"):
        raise KeyboardInterrupt
    assert {u["name"]: u["meta"] for u in recorded.units()} == {
        "done": {},
        "failed": {"error": "SystemExit: 3"},
        "interrupted": {"error": "KeyboardInterrupt"},
    }


def test_capture_passes_the_blocks_exception_through_and_still_sends_the_unit(recorded):
    with pytest.raises(KeyError, match="missing"), querysight.capture("failing"):
        raise KeyError("missing")
    assert recorded.unit()["meta"] == {"error": "KeyError: 'missing'"}


def test_capture_does_nothing_when_disabled(recorded):
    querysight.configure(enabled=False)
    with querysight.capture("off") as unit:
        assert unit is None
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    assert recorded.units() == []


def test_ignores_queries_outside_any_unit(recorded):
    with querysight.capture("inside"):
        pass
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert [len(u["queries"]) for u in recorded.units()] == [0]


def test_inner_capture_takes_the_queries_of_its_block(recorded):
    with querysight.capture("outer"):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        with querysight.capture("inner"), connection.cursor() as cursor:
            cursor.execute("SELECT 2")
    assert {u["name"]: [q["sql"] for q in u["queries"]] for u in recorded.units()} == {
        "inner": ["SELECT 2"],
        "outer": ["SELECT 1"],
    }


def recurse(n: int) -> None:
    if n == 0:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return
    recurse(n - 1)


def test_keeps_at_most_16_application_frames_innermost_first(recorded):
    with querysight.capture("deep"):
        recurse(30)
    (query,) = recorded.unit()["queries"]
    assert len(query["stack"]) == 16
    assert all(f["function"] == "recurse" for f in query["stack"])
    assert query["stack"][0]["line"] == recurse.__code__.co_firstlineno + 3


def test_classifies_each_code_object_once_and_skips_library_frames():
    from _pytest.python import pytest_pyfunc_call

    _stack.clear_cache()
    unit = Unit("block", "x")
    unit.record("SELECT 1", None, run_of("default", "sqlite"), 0.0, 0.0)
    classified = len(_stack._cache)
    for _ in range(3):
        unit.record("SELECT 1", None, run_of("default", "sqlite"), 0.0, 0.0)
    assert len(_stack._cache) == classified
    assert _stack.kind_of(test_classifies_each_code_object_once_and_skips_library_frames.__code__) == "test_recorder.py"
    assert _stack.kind_of(pytest_pyfunc_call.__code__) == _stack._NOT_APP
    stack = unit.queries[0][SITE][STACK]
    assert [f[2] for f in stack] == ["test_classifies_each_code_object_once_and_skips_library_frames"]


def test_truncates_sql_over_100_kb_and_flags_it(recorded):
    with querysight.capture("big") as unit:
        unit.record("SELECT '" + "é" * 60_000 + "'", None, run_of("default", "sqlite"), 0.0, 0.0)
        unit.record("SELECT 1", None, run_of("default", "sqlite"), 0.0, 0.0)
    big, small = recorded.unit()["queries"]
    assert big["sql_truncated"] is True
    assert len(big["sql"].encode("utf-8")) <= 100 * 1024
    assert "sql_truncated" not in small


def test_settings_come_from_code_then_env_then_framework_then_defaults():
    env = {"QUERYSIGHT_URL": "http://env:1", "QUERYSIGHT_ENABLED": "off", "QUERYSIGHT_TOKEN": "t"}
    framework = {"url": "http://settings:2", "max_queries": 7, "capture_params": False}
    settings = config.resolve({"url": "http://code:3"}, env, framework, debug=True)
    assert (settings.url, settings.enabled, settings.token) == ("http://code:3", False, "t")
    assert (settings.max_queries, settings.capture_params, settings.overlay) == (7, False, True)
    defaults = config.resolve({}, {}, {}, debug=None)
    assert (defaults.enabled, defaults.url, defaults.max_queries, defaults.output) == (
        False,
        "http://127.0.0.1:8321",
        10_000,
        None,
    )
    assert config.resolve({}, {"QUERYSIGHT_OUTPUT": "/tmp/x"}, {}, debug=False).enabled is True
    assert config.resolve({}, {}, {"url": "http://x:1"}, debug=False).enabled is True


def test_rejects_unknown_settings_and_unreadable_booleans_with_a_hint():
    with pytest.raises(TypeError, match="unknown querysight setting 'max_query'"):
        querysight.configure(max_query=3)
    with pytest.raises(ValueError, match="QUERYSIGHT_ENABLED='maybe' is not a boolean; use 1/0"):
        config.resolve({}, {"QUERYSIGHT_ENABLED": "maybe"}, {}, debug=None)


def test_reads_numbers_given_as_strings_and_names_the_setting_when_a_value_cannot_be_used():
    settings = config.resolve({}, {}, {"max_queries": "5000", "batch_interval": " 0.5 ", "console": "yes"}, debug=True)
    assert (settings.max_queries, settings.batch_interval, settings.console) == (5000, 0.5, True)
    querysight.configure(MAX_QUERIES="3")
    assert config.current().max_queries == 3
    with pytest.raises(ValueError, match="querysight setting MAX_QUERIES='lots' is not an integer"):
        querysight.configure(MAX_QUERIES="lots")
    assert config.current().max_queries == 3
    with pytest.raises(ValueError, match="querysight setting http_timeout=-1 must be a finite number, 0 or more"):
        querysight.configure(http_timeout=-1)
    with pytest.raises(TypeError, match="querysight setting queue_size=None must be an integer"):
        config.set_framework_settings({"queue_size": None}, debug=True)
    with pytest.raises(TypeError, match="querysight setting url=8321 must be a string"):
        config.resolve({"url": 8321}, {}, {}, debug=None)


def test_without_captured_parameters_counts_only_statements_without_placeholders_as_duplicated():
    querysight.configure(capture_params=False)
    unit = Unit("block", "x")
    for sql, params in [
        ("SELECT * FROM book WHERE id = %s", (1,)),
        ("SELECT * FROM book WHERE id = %s", (2,)),
        ("SELECT * FROM book WHERE id = ?", (3,)),
        ("SELECT * FROM book WHERE id = ?", (3,)),
        ("SELECT * FROM book WHERE id = :id", {"id": 4}),
        ("SELECT * FROM book WHERE id = :id", {"id": 5}),
        ("SELECT count(*)::int FROM book", None),
        ("SELECT count(*)::int FROM book", None),
    ]:
        unit.record(sql, params, run_of("default", "sqlite"), 0.0, 0.0)
    assert unit.repeats()[0] == 1
    querysight.configure(capture_params=True)
    captured = Unit("block", "y")
    captured.record("SELECT * FROM book WHERE id = %s", (1,), run_of("default", "sqlite"), 0.0, 0.0)
    captured.record("SELECT * FROM book WHERE id = %s", (1,), run_of("default", "sqlite"), 0.0, 0.0)
    captured.record("SELECT * FROM book WHERE id = %s", (2,), run_of("default", "sqlite"), 0.0, 0.0)
    assert captured.repeats() == (1, None)


def test_tells_the_console_the_biggest_loop_and_leaves_its_repeated_keys_out_of_the_duplicates():
    unit = Unit("block", "x")
    run = run_of("default", "sqlite")
    unit.record("SELECT * FROM book", None, run, 0.0, 0.0)
    for author in (1, 2, 1, 3, 2):  # an N+1 reading some authors twice: the loop's, as the report counts them
        unit.record("SELECT * FROM author WHERE id = %s", (author,), run, 0.0, 0.0)
    for _ in range(2):  # the same query twice from one line, nothing varies: a duplicate, no loop
        unit.record("SELECT * FROM shop WHERE id = %s", (7,), run, 0.0, 0.0)
    duplicated, (count, site) = unit.repeats()
    assert (duplicated, count, site[0]) == (1, 5, "SELECT * FROM author WHERE id = %s")
    line = _web.console_line(unit, config.current())
    assert f" · 8 queries · 5 from one line (test_recorder.py:{site[1][0][1]}) · 1 duplicated → " in line


def test_tells_the_console_the_loops_of_one_line_as_one():
    # {{ book.author.name }} {{ book.reviews.count }} on one template line: two loops of 3, "6 from one line", not 3.
    unit = Unit("block", "x")
    run = run_of("default", "sqlite")
    template = ("shop/book_list.html", 8)
    author = ("SELECT * FROM author WHERE id = %s", (("shop/views.py", 20, "book_list"),), template)
    reviews = ("SELECT COUNT(*) FROM review WHERE book_id = %s", (("shop/views.py", 20, "book_list"),), template)
    for book in (1, 2, 3):
        unit.queries.append((author, (book,), 0.0, 0.0, run))
        unit.queries.append((reviews, (book,), 0.0, 0.0, run))
    assert unit.repeats() == (0, (6, author))
    assert " · 6 from one line (shop/book_list.html:8) → " in _web.console_line(unit, config.current())


def test_the_console_line_says_an_exception_of_several_lines_on_its_own_line():
    unit = Unit("block", "nightly import")
    unit.meta["error"] = "IntegrityError: duplicate key value\nDETAIL:  Key (id)=(1) already exists."
    unit.finish()
    line = _web.console_line(unit, config.current())
    assert "\n" not in line
    assert " · raised IntegrityError: duplicate key value DETAIL: Key (id)=(1) already exists. → " in line


def test_tells_the_console_a_loop_whose_queries_were_each_walked_to_equal_sites():
    # A model's __str__ called by the admin's changelist template: no frame of the app's below it for the walk's skip
    # to start from, so each query has a Site of its own, equal to the others. Before: no loop, "21 duplicated".
    unit = Unit("block", "x")
    run = run_of("default", "sqlite")
    sql = "SELECT * FROM author WHERE id = %s"
    site = (sql, (("shop/models.py", 24, "__str__"),), ("admin/change_list.html", 69))
    for author in (1, 2, 1, 3, 2, 1):
        unit.queries.append((tuple(list(site)), (author,), 0.0, 0.0, run))
    assert unit.repeats() == (0, (6, site))


def test_counts_repeated_reads_for_the_console_but_not_transaction_control_or_a_read_after_a_write():
    unit = Unit("block", "x")
    run = run_of("default", "sqlite")
    for sql, params in [
        ("BEGIN", None),
        ("SELECT stock FROM book WHERE id = %s", (1,)),
        ('SAVEPOINT "s1"', None),
        ("UPDATE book SET stock = %s WHERE id = %s", (5, 1)),
        ("SELECT stock FROM book WHERE id = %s", (1,)),  # after the write: may see another stock
        ('RELEASE SAVEPOINT "s1"', None),
        ("BEGIN", None),
        ("SELECT stock FROM book WHERE id = %s", (1,)),  # a repeat
    ]:
        unit.record(sql, params, run, 0.0, 0.0)
    assert unit.repeats()[0] == 1


def query_here(unit):
    unit.record("SELECT 1", None, run_of("default", "sqlite"), 0.0, 0.0)


def helper_making_a_query(unit):
    query_here(unit)


def test_gives_each_call_of_a_helper_the_line_it_was_called_from():
    unit = Unit("block", "x")
    for _ in range(2):
        helper_making_a_query(unit)  # line A
        helper_making_a_query(unit)  # line B
    lines = [q[SITE][STACK][2][1] for q in unit.queries]
    assert lines[0] == lines[2] and lines[1] == lines[3] and lines[0] + 1 == lines[1]
    assert [f[2] for f in unit.queries[0][SITE][STACK][:2]] == ["query_here", "helper_making_a_query"]


def test_a_helper_called_once_per_turn_of_a_loop_skips_the_walk_and_keeps_each_lines():
    unit = Unit("block", "x")
    for _ in range(3):
        helper_making_a_query(unit)  # line A
        helper_making_a_query(unit)  # line B
    sites = [q[SITE] for q in unit.queries]
    lines = [site[STACK][2][1] for site in sites]
    assert lines == [lines[0], lines[0] + 1] * 3
    # From the third query on, the site of an earlier walk by the same path (the same Site object): no walk.
    assert sites[1] is sites[3] is sites[5] and sites[2] is sites[4]


def via_one(unit):
    query_here(unit)


def via_another(unit):
    query_here(unit)


def test_a_helper_reached_through_another_function_from_the_same_line_is_walked_again():
    unit = Unit("block", "x")
    for via in (via_one, via_another, via_one, via_another, via_one):
        via(unit)  # the same line and depth each time, through another function every other time
    assert [q[SITE][STACK][1][2] for q in unit.queries] == ["via_one", "via_another"] * 2 + ["via_one"]


def rows_of(unit):
    for i in range(3):
        query_here(unit)
        yield i


def consume_here(gen):
    return next(gen)


def consume_there(gen):
    return next(gen)


def test_gives_a_generators_queries_the_caller_that_resumed_it():
    unit = Unit("block", "x")
    gen = rows_of(unit)
    consume_here(gen)
    consume_there(gen)
    consume_here(gen)
    callers = [[f[2] for f in q[SITE][STACK]][2] for q in unit.queries]
    assert callers == ["consume_here", "consume_there", "consume_here"]


def orm_query(unit, sql):
    unit.record(sql, None, run_of("default", "sqlite"), 0.0, 0.0)


def orm_entry(unit, sql, helper):
    if helper is None:
        return orm_middle(unit, sql)
    return helper(unit, sql)


def orm_middle(unit, sql):
    return orm_query(unit, sql)


def app_helper(unit, sql):
    return orm_query(unit, sql)


def test_a_query_reaching_a_line_through_an_app_helper_keeps_the_helper_though_the_path_is_as_deep():
    for library in (orm_query, orm_entry, orm_middle):  # the ORM frames between the app and the driver
        with _stack._lock:
            _stack._cache[id(library.__code__)] = _stack._NOT_APP
            _stack._classified.append(library.__code__)
    unit = Unit("block", "x")
    for helper in (None, app_helper, None, app_helper, None):
        orm_entry(unit, "SELECT 1" if helper is None else "SELECT 2", helper)
    first_functions = [q[SITE][STACK][0][2] for q in unit.queries]
    here = "test_a_query_reaching_a_line_through_an_app_helper_keeps_the_helper_though_the_path_is_as_deep"
    assert first_functions == [here, "app_helper", here, "app_helper", here]
    assert len({q[SITE][STACK][0][1] for q in unit.queries if q[SITE][STACK][0][2] == here}) == 1


def test_a_loop_alternating_two_paths_of_different_depths_skips_the_walk_for_both():
    for library in (orm_query, orm_middle):
        with _stack._lock:
            _stack._cache[id(library.__code__)] = _stack._NOT_APP
            _stack._classified.append(library.__code__)
    unit = Unit("block", "x")
    for _ in range(3):
        orm_query(unit, "SELECT 1")  # one library frame between this frame and the hook
        orm_middle(unit, "SELECT 2")  # two
    sites = [q[SITE] for q in unit.queries]
    assert [site[SQL] for site in sites] == ["SELECT 1", "SELECT 2"] * 3
    # The same Site object again: the query was given the site a walk found, not walked again.
    assert sites[0] is sites[2] is sites[4] and sites[1] is sites[3] is sites[5]


def loop_of_lookups(unit, n):
    with connection.cursor() as cursor:
        for i in range(n):
            start = time.perf_counter()
            cursor.execute("SELECT %s", [i])
            unit.record("SELECT %s", (i,), run_of("default", "sqlite"), start, time.perf_counter())


def test_the_garbage_collector_lets_go_of_recorded_queries_by_its_second_look():
    # Units wait in the queue while the server is down: queries that stay tracked would be traversed again by every
    # collection. A loop's queries share one stack tuple; they can only be untracked once it is.
    units = []
    for _ in range(2):  # the same path twice, as requests repeat: the second time its frames are known
        gc.collect()
        gc.disable()  # the collection below is the first to see the unit's objects
        try:
            unit = Unit("block", "x")
            loop_of_lookups(unit, 50)
            unit.finish()  # as it waits in the queue: the queries hold the stack, nothing else does
            units.append(unit)
        finally:
            gc.enable()
    stack = units[1].queries[0][SITE][STACK]
    gc.collect()
    assert not gc.is_tracked(stack), "the stack is let go of at the first collection"
    gc.collect()
    assert not any(gc.is_tracked(q) for q in units[1].queries)


def test_a_chain_through_a_template_whose_live_frame_lies_deeper_than_the_stack_is_a_miss():
    # Another thread of the unit may run the same code on a shorter stack: no site, and no error.
    def probe(chain: _stack.Chain) -> object:
        return _stack.chain_site(chain, 0, "SELECT 1")

    here = sys._getframe()
    path = _stack.ChainPath((probe.__code__,), here.f_code, (), (), (), ())  # a template frame where this one is
    chain = _stack.Chain(0, 10_000, path, here)
    assert probe(chain) is None


class QueryingItem:
    """What a template loop calls: a method making a query (a model method, say)."""

    def __init__(self, unit: Unit) -> None:
        self.unit = unit

    def q(self) -> str:
        query_here(self.unit)
        return ""


def render_one(template, items):
    from django.template import Context

    return template.render(Context({"items": items}))


def render_another(template, items):
    from django.template import Context

    return template.render(Context({"items": items}))


def test_a_template_rendered_by_two_functions_from_one_line_keeps_each_function_in_the_stack():
    from django.template import Template

    unit = Unit("block", "x")
    template = Template("{% for item in items %}{{ item.q }}{% endfor %}")
    items = [QueryingItem(unit) for _ in range(3)]
    query_here(unit)
    for render in (render_one, render_another):
        render(template, items)  # the same line, through another function
    renderers = [next(f[2] for f in q[SITE][STACK] if f[2].startswith("render_")) for q in unit.queries[1:]]
    assert renderers == ["render_one"] * 3 + ["render_another"] * 3


def test_identical_helpers_in_two_files_keep_their_own_file(tmp_path):
    source = "def helper(unit, query):\n    query(unit)\n"
    twins = []
    for name in ("twin_a", "twin_b"):
        (tmp_path / f"{name}.py").write_text(source)
        spec = importlib.util.spec_from_file_location(name, tmp_path / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        twins.append(module)
    one, other = twins
    assert one.helper.__code__ == other.helper.__code__  # equal code objects, from two files
    unit = Unit("block", "x")
    for twin in (one, other, one, other, one):
        twin.helper(unit, query_here)
    assert [q[SITE][STACK][1][0].rsplit("/", 1)[-1] for q in unit.queries] == ["twin_a.py", "twin_b.py"] * 2 + [
        "twin_a.py"
    ]


class Payload:
    """Something large a finished function held."""


def process_batch(unit, alive):
    payload = Payload()
    alive.append(weakref.ref(payload))
    query_here(unit)
    helper_making_a_query(unit)


def test_what_a_finished_function_held_is_let_go_by_the_next_walk_though_the_unit_goes_on():
    unit = Unit("block", "x")
    alive: list[weakref.ref[Payload]] = []
    for _ in range(3):
        process_batch(unit, alive)
    query_here(unit)  # walked after they finished
    helper_making_a_query(unit)
    gc.collect()
    assert [ref() for ref in alive] == [None, None, None]


def render_row(template, item):
    from django.template import Context

    return template.render(Context({"item": item}))


def test_a_row_template_rendered_by_a_helper_once_per_turn_skips_the_walk():
    from django.template import Template

    unit = Unit("block", "x")
    row = Template("<tr>{{ item.q }}</tr>")
    query_here(unit)
    for _ in range(4):
        render_row(row, QueryingItem(unit))  # the helper's frame lies between the template's and this one
    sites = [q[SITE] for q in unit.queries[1:]]
    assert {[f[2] for f in site[STACK]][2] for site in sites} == {"render_row"}  # query_here, q, render_row
    assert all(site is sites[1] for site in sites[2:])  # the walk of the second, reused


def deep_query(unit, levels):
    if levels == 0:
        return query_here(unit)
    return deep_query(unit, levels - 1)


def test_a_walk_cut_at_max_stack_keeps_what_the_loop_learnt():
    querysight.configure(max_stack=4)
    unit = Unit("block", "x")
    for _ in range(4):
        unit.record("SELECT 1", None, run_of("default", "sqlite"), 0.0, 0.0)  # this loop's own line
        helper_making_a_query(unit)
        deep_query(unit, 6)  # a walk that stops at max_stack, before any frame of an earlier walk
    helper = [q[SITE] for q in unit.queries[1::3]]
    assert [f[2] for f in helper[0][STACK][:2]] == ["query_here", "helper_making_a_query"]
    assert all(site is helper[1] for site in helper[2:])  # the helper's path, still known after each deep walk


BEFORE_SETUP = """
import django
import querysight
from django.db import connection

with querysight.capture("import books"):
    django.setup()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
with querysight.capture("after setup"):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 2")
print("done")
"""


def test_a_capture_begun_before_django_setup_says_its_queries_were_not_recorded(tmp_path):
    # Before: its unit came with 0 queries (or none came), said nowhere.
    tests = os.path.dirname(os.path.abspath(__file__))
    out = tmp_path / "out.ndjson"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUERYSIGHT_", "DJANGO_"))}
    env.update(QUERYSIGHT_OUTPUT=str(out), PYTHONPATH=tests, DJANGO_SETTINGS_MODULE="djangoapp.settings")
    result = subprocess.run([sys.executable, "-c", BEFORE_SETUP], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert result.stderr == (
        "querysight: capture('import books') began before Django was set up (django.setup()), so none of its queries"
        " were recorded: begin it after setup\n"
    )
    units = [u for b in read_ndjson(out) for u in b["units"]]
    assert [(u["name"], len(u["queries"])) for u in units] == [("import books", 0), ("after setup", 1)]
    # With querysight off, beginning the block after setup would record nothing either: no warning.
    off = subprocess.run(
        [sys.executable, "-c", BEFORE_SETUP],
        env={**env, "QUERYSIGHT_ENABLED": "0"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (off.returncode, off.stdout, off.stderr) == (0, "done\n", "")
