"""The wire JSON of a unit (querysight._wire): what each recorded query and unit field becomes, and how a unit too
large for one request body is cut."""

from __future__ import annotations

import datetime
import decimal
import json
import re
import uuid
from typing import Any

import pytest
from django.test import Client
from django.utils.safestring import mark_safe

import querysight
from helpers import JSON_SAFE_CASES, read_ndjson
from querysight import _wire, config, transport
from querysight.recorder import (
    DB,
    END,
    ERROR,
    MANY,
    PARAMS,
    RUN,
    SITE,
    SQL,
    STACK,
    START,
    TEMPLATE,
    VENDOR,
    Unit,
    run_of,
)

VIEWS = ("djangoapp/shop/views.py", 30, "book_list")
HELPER = ("shop/helpers.py", 7, "load")


def hand_built(*queries: tuple[Any, ...], name: str = "hand-built", **fields: Any) -> Unit:
    """A finished unit holding exactly these recorded queries; its clock starts at 0.0 s."""
    unit = Unit("block", name, **fields)
    unit._t0 = 0.0
    unit.queries.extend(queries)
    unit.finish()
    return unit


def query(
    sql: Any = "SELECT 1",
    params: Any = None,
    *,
    db: Any = "default",
    vendor: Any = "sqlite",
    start: float = 0.0015,
    end: float = 0.00175,
    many: bool = False,
    error: str | None = None,
    stack: tuple[tuple[str, int, str], ...] = (VIEWS,),
    template: tuple[str, int] | None = None,
) -> tuple[Any, ...]:
    """A recorded query tuple, as Unit.record stores it."""
    return ((sql, stack, template), params, start, end, (db, vendor, many, error))


def wire(unit: Unit) -> dict[str, Any]:
    text = _wire.encode_unit(unit).text()
    assert text.isascii()
    return json.loads(text)


def wire_query(unit: Unit) -> dict[str, Any]:
    (only,) = wire(unit)["queries"]
    return only


def frame(file: str, line: int, function: str) -> dict[str, Any]:
    return {"file": file, "line": line, "function": function}


def test_writes_the_unit_fields_and_each_query_as_the_protocol_defines():
    unit = hand_built(
        query("SELECT * FROM book WHERE id = %s", (3,)),
        query(
            "SELECT * FROM author WHERE id = %s",
            (7,),
            db="other",
            vendor="postgresql",
            start=0.0125,
            end=0.0131,
            stack=(HELPER, VIEWS),
            template=("shop/book_list.html", 8),
        ),
        query("SELECT * FROM missing", None, error="OperationalError: no such table: missing", stack=()),
        name="GET /books/",
        method="GET",
        path="/books/?page=2",
        route="books/",
        view="shop.views.book_list",
        meta={"n_plus_one": "allow", "when": datetime.date(2024, 1, 2)},
    )
    unit.kind = "request"
    unit.status = 200
    unit.started_at = 1763800000123.4567
    unit.duration_ms = 35.21234
    unit.dropped_queries = 2
    assert wire(unit) == {
        "id": unit.id,
        "kind": "request",
        "name": "GET /books/",
        "method": "GET",
        "path": "/books/?page=2",
        "route": "books/",
        "view": "shop.views.book_list",
        "status": 200,
        "started_at": 1763800000123.457,
        "duration_ms": 35.212,
        "meta": {"n_plus_one": "allow", "when": "2024-01-02"},
        "queries": [
            {
                "sql": "SELECT * FROM book WHERE id = %s",
                "params": [3],
                "db": "default",
                "vendor": "sqlite",
                "start_ms": 1.5,
                "duration_ms": 0.25,
                "many": False,
                "error": None,
                "callsite": frame(*VIEWS),
                "stack": [frame(*VIEWS)],
            },
            {
                "sql": "SELECT * FROM author WHERE id = %s",
                "params": [7],
                "db": "other",
                "vendor": "postgresql",
                "start_ms": 12.5,
                "duration_ms": 0.6,
                "many": False,
                "error": None,
                "callsite": frame(*HELPER),
                "stack": [frame(*HELPER), frame(*VIEWS)],
                "template": {"name": "shop/book_list.html", "line": 8},
            },
            {
                "sql": "SELECT * FROM missing",
                "params": None,
                "db": "default",
                "vendor": "sqlite",
                "start_ms": 1.5,
                "duration_ms": 0.25,
                "many": False,
                "error": "OperationalError: no such table: missing",
                "callsite": None,
                "stack": [],
            },
        ],
        "dropped_queries": 2,
    }


def test_writes_timings_in_milliseconds_with_three_decimals():
    unit = hand_built(query(start=0.001234567, end=0.0099), query(start=2.5, end=2.5))
    queries = _wire.encode_unit(unit).text().split('"queries":')[1]
    assert re.findall(r'"(start_ms|duration_ms)":([^,]*)', queries) == [
        ("start_ms", "1.235"),
        ("duration_ms", "8.665"),
        ("start_ms", "2500.000"),
        ("duration_ms", "0.000"),
    ]


def test_writes_a_unit_without_queries():
    unit = hand_built(name="", meta=None)
    unit.dropped_queries = 3
    assert wire(unit) | {"id": None} == {
        "id": None,
        "kind": "block",
        "name": "block",  # an empty name reads as the unit's kind
        "method": None,
        "path": None,
        "route": None,
        "view": None,
        "status": None,
        "started_at": round(unit.started_at, 3),
        "duration_ms": round(unit.duration_ms, 3),
        "meta": {},
        "queries": [],
        "dropped_queries": 3,
    }


def test_clips_long_names_paths_frames_and_templates_with_an_ellipsis():
    long_file = "app/" + "d" * 2500 + ".py"
    unit = hand_built(
        query(db="d" * 300, vendor=None, stack=((long_file, 1, "f" * 2001),), template=("t" * 2001, 4)),
        name="n" * 2001,
        method="PROPFIND-EXTENDED-LONG",
        path="/p" * 1500,
    )
    unit.duration_ms = None
    out = wire(unit)
    assert (out["name"], out["method"], out["path"]) == (
        "n" * 1999 + "…",
        "PROPFIND-EXTENDED-L…",
        ("/p" * 1500)[:1999] + "…",
    )
    assert out["duration_ms"] == 0.0
    (q,) = out["queries"]
    assert (q["db"], q["vendor"]) == ("d" * 199 + "…", "None")
    assert q["stack"] == [{"file": long_file[:1999] + "…", "line": 1, "function": "f" * 1999 + "…"}]
    assert q["template"] == {"name": "t" * 1999 + "…", "line": 4}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *JSON_SAFE_CASES,
        ("", ""),
        (-(2**70), str(-(2**70))),
        (1e100, 1e100),
        (-0.0, -0.0),
        (False, False),
        (float("-inf"), "-inf"),
        ("x" * 256, "x" * 256),
        ("x" * 257, "x" * 256 + "…"),
        (b"y" * 300, "y" * 256 + "…"),
        ("héllo ☃ 𝄞 \u2028", "héllo ☃ 𝄞 \u2028"),
        ("lone \udc80 surrogate", "lone \udc80 surrogate"),
        ('quote " backslash \\ newline \n nul \x00', 'quote " backslash \\ newline \n nul \x00'),
        (mark_safe("safe <b>"), "safe <b>"),
        ([[[[1]]]], [[["[1]"]]]),
        ({"k": uuid.UUID(int=2), 3: None}, {"k": "00000000-0000-0000-0000-000000000002", "3": None}),
    ],
)
def test_makes_each_parameter_json_safe(value, expected):
    param = wire_query(hand_built(query(params=(value,))))["params"]
    assert param == [expected]
    if isinstance(expected, float) and expected == 0:
        assert str(param[0]) == str(expected)  # -0.0 keeps its sign


def test_writes_an_int_longer_than_python_writes_out_as_its_first_digits_and_keeps_the_unit():
    huge = -(10**5000) - 7  # more digits than int_max_str_digits lets str() write: it used to lose the whole unit
    unit = hand_built(query(params=(huge,)), query("SELECT 2", params=(2,)))
    assert [q["params"] for q in wire(unit)["queries"]] == [["-1" + "0" * 254 + "…"], [2]]


def test_cuts_a_huge_int_where_python_can_write_it_when_the_parameter_length_is_longer():
    querysight.configure(max_param_length=10_000)
    ((param,),) = [q["params"] for q in wire(hand_built(query(params=(10**20_000,))))["queries"]]
    assert param.startswith("1000") and param.endswith("0…") and len(param) <= 4_300


def test_writes_named_parameters_as_an_object_with_string_keys():
    named = {"id": 3, "name": "x" * 300, "when": datetime.date(2024, 1, 2), "none": None}
    assert wire_query(hand_built(query(params=named)))["params"] == {
        "id": 3,
        "name": "x" * 256 + "…",
        "when": "2024-01-02",
        "none": None,
    }
    odd_keys = {1: "one", None: "none", "1": "string one"}  # str() makes two keys one: the last value wins
    assert wire_query(hand_built(query(params=odd_keys)))["params"] == {"1": "string one", "None": "none"}


def test_writes_the_rows_of_an_executemany():
    rows = ((1, "a"), (2, decimal.Decimal("2.5")), {"id": 3}, None)
    q = wire_query(hand_built(query("INSERT INTO t VALUES (%s, %s)", rows, many=True)))
    assert (q["many"], q["params"]) == (True, [[1, "a"], [2, "2.5"], {"id": 3}, None])


def test_honours_the_parameter_length_setting():
    querysight.configure(max_param_length=3)
    q = wire_query(hand_built(query(params=("abcd", "abc", b"abcd", {"k": "abcd"}))))
    assert q["params"] == ["abc…", "abc", "abc…", {"k": "abc…"}]


def test_keeps_non_ascii_and_lone_surrogates_everywhere_as_ascii_escapes():
    odd = "é☃𝄞\ud800"
    unit = hand_built(
        query(f"SELECT '{odd}'", (odd,), db=odd, error=f"Error: {odd}", stack=((odd, 1, odd),), template=(odd, 2)),
        name=odd,
        meta={odd: odd},
    )
    out = wire(unit)
    assert (out["name"], out["meta"]) == (odd, {odd: odd})
    (q,) = out["queries"]
    assert (q["sql"], q["params"], q["db"], q["error"]) == (f"SELECT '{odd}'", [odd], odd, f"Error: {odd}")
    assert q["stack"] == [{"file": odd, "line": 1, "function": odd}] and q["template"] == {"name": odd, "line": 2}


def test_truncates_sql_over_the_limit_at_a_character_boundary_and_flags_it():
    accented = "SELECT '" + "é" * 60_000 + "'"  # 120,009 bytes of UTF-8
    surrogate = "SELECT '\ud800" + "x" * 200_000 + "'"
    unit = hand_built(query(accented), query("SELECT 1"), query(surrogate), query(accented))
    big, small, odd, again = wire(unit)["queries"]
    assert big["sql"] == "SELECT '" + "é" * 51_196 and big["sql_truncated"] is True
    assert again == big
    assert "sql_truncated" not in small
    assert odd["sql"] == "SELECT '" + "x" * (100 * 1024 - 11) and odd["sql_truncated"] is True  # the surrogate is cut


def test_writes_sql_that_is_not_a_str_by_its_str():
    class Composed:
        def __str__(self) -> str:
            return "SELECT 2"

    assert wire_query(hand_built(query(Composed())))["sql"] == "SELECT 2"


def test_gives_queries_sharing_a_stack_tuple_or_equal_stacks_the_same_stack():
    shared = (HELPER, VIEWS)
    unit = hand_built(query(stack=shared), query(stack=shared), query(stack=(HELPER, VIEWS)), query(stack=(VIEWS,)))
    stacks = [(q["callsite"], q["stack"]) for q in wire(unit)["queries"]]
    both = (frame(*HELPER), [frame(*HELPER), frame(*VIEWS)])
    assert stacks == [both, both, both, (frame(*VIEWS), [frame(*VIEWS)])]


def capture_units(monkeypatch) -> list[Unit]:
    """The units the app submits, still submitted to the real transport."""
    units: list[Unit] = []
    submit = transport.transport.submit

    def keep(unit: Unit) -> None:
        units.append(unit)
        submit(unit)

    monkeypatch.setattr(transport.transport, "submit", keep)
    return units


def expected_query(q: tuple[Any, ...], t0: float) -> dict[str, Any]:
    sql, frames, template = q[SITE][SQL], q[SITE][STACK], q[SITE][TEMPLATE]
    stack = [frame(*f) for f in frames]
    out = {
        "sql": sql,
        "params": None if q[PARAMS] is None else list(q[PARAMS]),
        "db": q[RUN][DB],
        "vendor": q[RUN][VENDOR],
        "start_ms": float(f"{(q[START] - t0) * 1000:.3f}"),
        "duration_ms": float(f"{(q[END] - q[START]) * 1000:.3f}"),
        "many": q[RUN][MANY],
        "error": q[RUN][ERROR],
        "callsite": stack[0],
        "stack": stack,
    }
    if template is not None:
        out["template"] = {"name": template[0], "line": template[1]}
    return out


def test_sends_a_django_request_with_its_template_loop_as_recorded(recorded, monkeypatch):
    units = capture_units(monkeypatch)
    response = Client().get("/books/")
    assert response.status_code == 200
    sent = recorded.unit()
    (unit,) = units
    assert len(unit.queries) == 7
    assert sent["queries"] == [expected_query(q, unit._t0) for q in unit.queries]
    assert [q["params"] for q in sent["queries"][1:]] == [[1], [1], [2], [2], [3], [3]]  # one author per book
    assert {q["template"]["name"] for q in sent["queries"][1:]} == {"shop/book_list.html"}
    assert sent["queries"][1]["callsite"]["function"] == "book_list"


def encoded_unit(queries: int) -> _wire.EncodedUnit:
    return _wire.encode_unit(hand_built(*[query(f"SELECT {i}") for i in range(queries)]))


def test_keeps_the_first_queries_of_a_unit_and_counts_the_rest_as_dropped():
    encoded = encoded_unit(5)
    encoded.dropped_queries = 2
    first = json.loads(encoded.first(2).text())
    assert [q["sql"] for q in first["queries"]] == ["SELECT 0", "SELECT 1"]
    assert first["dropped_queries"] == 2 + 3
    assert json.loads(encoded.first(0).text())["queries"] == []
    assert json.loads(encoded.text())["dropped_queries"] == 2


def test_splits_a_batch_over_the_body_limit_by_units_and_sends_the_schema_once():
    envelope = {"protocol": 1, "schema": {"models": []}}
    units = [encoded_unit(3) for _ in range(4)]
    [(one_body, carried)] = transport._bodies(envelope, units[:1], 10**9)
    assert carried == 1
    split = transport._bodies(envelope, units, len(one_body) + 50)
    assert [count for _, count in split] == [1, 1, 1, 1]
    bodies = [json.loads(body) for body, _ in split]
    assert [[unit["id"] for unit in body["units"]] for body in bodies] == [[json.loads(u.text())["id"]] for u in units]
    assert ["schema" in body for body in bodies] == [True, False, False, False]
    assert [len(body["units"][0]["queries"]) for body in bodies] == [3, 3, 3, 3]


def test_a_unit_that_cannot_fit_a_body_keeps_its_place_in_the_split(tmp_path):
    """With a schema larger than the body limit the first unit (the schema goes with it) cannot be sent: it gets no
    body, but still counts, so that the bodies after it are known to carry the units they carry."""
    units = [encoded_unit(1) for _ in range(3)]
    one_body = len(transport._encode({"protocol": 1}, units[:1]))
    envelope = {"protocol": 1, "schema": {"models": ["x" * (2 * one_body)]}}
    split = transport._bodies(envelope, units, one_body + 10)
    assert [(body is None, count) for body, count in split] == [(True, 1), (False, 1), (False, 1)]
    assert [json.loads(body)["units"][0]["id"] for body, _ in split[1:]] == [
        json.loads(unit.text())["id"] for unit in units[1:]
    ]


def test_sends_the_first_half_of_the_queries_of_a_unit_over_the_body_limit(tmp_path):
    out = tmp_path / "split.ndjson"
    sql = "SELECT " + "x" * 2000  # the queries make almost all of the body: 20 are over a third of it, 10 not
    unit = Unit("block", "huge")
    for i in range(40):
        unit.record(sql, (i,), run_of("default", "sqlite"), 0.0, 0.0)
    config.configure(output=str(out), max_body_bytes=len(_wire.encode_unit(unit).text()) // 3)
    unit.dropped_queries = 1
    unit.finish()
    transport.submit(unit)
    assert querysight.flush(5)
    ((sent,),) = [batch["units"] for batch in read_ndjson(out)]
    assert [q["params"] for q in sent["queries"]] == [[i] for i in range(10)]
    assert sent["dropped_queries"] == 1 + 30
