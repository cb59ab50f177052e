"""The agent's payloads match the golden protocol fixtures shared with the server, and the real server accepts them
and answers with findings."""

from __future__ import annotations

import json
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

import querysight
from querysight import config, transport

GOLDEN = Path(__file__).resolve().parents[2] / "test" / "fixtures" / "protocol" / "valid"
OPAQUE = {"params", "meta"}  # free-form values: only their top-level JSON type is compared


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class Shapes:
    """Per path (``units[].queries[].sql``): the JSON types seen, and whether the key is sometimes absent."""

    def __init__(self) -> None:
        self.types: dict[str, set[str]] = defaultdict(set)
        self.keys: dict[str, set[str]] = defaultdict(set)
        self.objects: dict[str, int] = defaultdict(int)
        self.present: dict[str, int] = defaultdict(int)

    def add(self, value: Any, path: str = "") -> None:
        self.types[path].add(json_type(value))
        if path.rsplit(".", 1)[-1] in OPAQUE:
            return
        if isinstance(value, dict):
            self.objects[path] += 1
            for key, item in value.items():
                self.keys[path].add(key)
                self.present[f"{path}.{key}"] += 1
                self.add(item, f"{path}.{key}")
        elif isinstance(value, list):
            for item in value:
                self.add(item, f"{path}[]")

    def optional(self, path: str) -> bool:
        parent = path.rsplit(".", 1)[0]
        return self.present[path] < self.objects[parent]


def golden_shapes() -> Shapes:
    shapes = Shapes()
    files = sorted(GOLDEN.glob("*.json"))
    assert files, f"no golden payloads in {GOLDEN}"
    for file in files:
        shapes.add(json.loads(file.read_text()))
    return shapes


def check_against(golden: Shapes, ours: Shapes) -> list[str]:
    problems = []
    for path, types in ours.types.items():
        if path not in golden.types:
            problems.append(f"{path}: not in any golden payload")
            continue
        allowed = set(golden.types[path])
        if golden.optional(path):
            allowed.add("null")
        if not types <= allowed:
            problems.append(f"{path}: sends {sorted(types)}, golden payloads have {sorted(allowed)}")
    for path, keys in golden.keys.items():
        for key in keys:
            full = f"{path}.{key}"
            if path in ours.objects and not golden.optional(full) and ours.present[full] < ours.objects[path]:
                problems.append(f"{full}: required by the golden payloads, missing from ours")
    return problems


def real_payloads(client_paths: list[str], output: Path) -> list[dict[str, Any]]:
    config.configure(output=str(output))
    transport.app.schema_provider = None
    client = Client()
    for path in client_paths:
        client.get(path)
    with querysight.capture("bulk import", kind="task"), connection.cursor() as cursor:
        cursor.execute("SELECT %s", ["x"])
    assert querysight.flush(5)
    return [json.loads(line) for line in output.read_text().splitlines()]


PATHS = [
    "/books/",
    "/books/1/",
    "/authors/twice/",
    "/params/",
    "/other-db/",
    "/async/books/",
    "/many/3/",
    "/partial-twice/",
    "/template-places/self-tree/",
]


def test_sends_payloads_with_the_keys_and_types_of_the_golden_fixtures(tmp_path):
    from djangoapp.shop.models import Tag

    try:
        payloads = real_payloads([*PATHS, "/write-many/"], tmp_path / "out.ndjson")
    finally:
        Tag.objects.filter(name__startswith="bulk-").delete()
    ours = Shapes()
    for payload in payloads:
        ours.add(payload)
    assert "schema" in ours.keys[""], "the first batch of a Django process carries the schema"
    assert check_against(golden_shapes(), ours) == []


def test_sends_test_units_like_the_golden_pytest_payload(pytester, tmp_path):
    from test_pytest_plugin import CONFTEST, SUITE, run, units_in

    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    out = tmp_path / "tests.ndjson"
    run(pytester, QUERYSIGHT_OUTPUT=str(out))
    ours = Shapes()
    for line in out.read_text().splitlines():
        ours.add(json.loads(line))
    assert len(units_in(out)) == 6
    assert check_against(golden_shapes(), ours) == []


def fetch_unit(server: str, unit_id: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{server}/api/v1/units/{unit_id}", timeout=10) as response:
        return json.loads(response.read())["unit"]


def test_the_real_server_accepts_the_batches_and_finds_the_n_plus_one_and_the_duplicate(querysight_server):
    config.configure(url=querysight_server, batch_interval=0.01)
    client = Client()
    books = client.get("/books/")
    twice = client.get("/authors/twice/")
    assert querysight.flush(10)
    assert transport.transport.sent_batches >= 1 and transport.transport.failed_attempts == 0

    loop = fetch_unit(querysight_server, books["X-QuerySight-Unit"])
    assert loop["route"] == "books/" and loop["summary"]["queries"] == 7
    (n_plus_one,) = [f for f in loop["findings"] if f["kind"] == "n_plus_one"]
    assert n_plus_one["count"] == 6
    assert n_plus_one["template"] == {"name": "shop/book_list.html", "line": 8}
    assert "select_related" in n_plus_one["suggestion"]["text"]

    dup = fetch_unit(querysight_server, twice["X-QuerySight-Unit"])
    assert [f["kind"] for f in dup["findings"]] == ["duplicate"]


def test_the_real_server_finds_no_loop_in_a_partial_included_twice_and_one_in_each_loop_including_it(querysight_server):
    config.configure(url=querysight_server, batch_interval=0.01)
    page = Client().get("/partial-twice/")
    assert querysight.flush(10)

    unit = fetch_unit(querysight_server, page["X-QuerySight-Unit"])
    # The partial included for the first and the second book (lines 3 and 4) is no loop; the two {% for %} loops
    # including it (lines 5 and 6) are two, each fixed on the queryset it iterates. (The books share authors: the
    # authors read again are duplicates.)
    partial = {"name": "shop/_book_author.html", "line": 1}
    loops = [f for f in unit["findings"] if f["kind"] == "n_plus_one"]
    assert [(f["count"], f["template"]) for f in loops] == [
        (3, {**partial, "included_from": [{"name": "shop/partial_twice.html", "line": 5}]}),
        (3, {**partial, "included_from": [{"name": "shop/partial_twice.html", "line": 6}]}),
    ]
    assert all("select_related" in f["suggestion"]["text"] for f in loops)
    assert {f["kind"] for f in unit["findings"]} == {"n_plus_one", "duplicate"}


def the_n_plus_one_of(server: str, path: str) -> dict[str, Any]:
    """The one N+1 the real server finds in the request to ``path``."""
    config.configure(url=server, batch_interval=0.01)
    response = Client().get(path)
    assert querysight.flush(10)
    unit = fetch_unit(server, response["X-QuerySight-Unit"])
    (loop,) = [f for f in unit["findings"] if f["kind"] == "n_plus_one"]
    return loop


def test_the_real_server_tells_a_loop_over_values_rows_to_fetch_the_keys_rows_at_once_not_an_eager_load(
    querysight_server,
):
    # values() rows are no model objects: select_related("author") on them makes Django raise.
    loop = the_n_plus_one_of(querysight_server, "/book-rows/")
    assert loop["suggestion"]["code"] == "Author.objects.in_bulk(ids)"
    assert '(values("title", "author_id")) has no objects' in loop["suggestion"]["text"]


def test_the_real_server_tells_a_tree_a_template_renders_by_including_itself_to_load_it_as_deep_as_it_went(
    querysight_server,
):
    # Told prefetch_related("children") before, one level: the levels below were still a query per node.
    loop = the_n_plus_one_of(querysight_server, "/categories/")
    assert loop["count"] == 5  # the root's children, theirs, and theirs (none): three depths
    assert loop["suggestion"]["code"] == 'Category.objects.prefetch_related("children__children__children")'
    assert "at 3 depths" in loop["suggestion"]["text"]


def test_the_real_server_tells_a_generic_foreign_key_read_per_row_to_prefetch_it_and_the_fix_works(querysight_server):
    from django.contrib.contenttypes.models import ContentType

    config.configure(url=querysight_server, batch_interval=0.01)
    client = Client()
    ContentType.objects.clear_cache()  # each request as the first of a new process: the types are looked up too
    loop = client.get("/comments/")
    ContentType.objects.clear_cache()
    fixed = client.get("/comments/?fixed=1")
    assert querysight.flush(10)

    unit = fetch_unit(querysight_server, loop["X-QuerySight-Unit"])
    # The authors' lookups and the books': each says to prefetch the GenericForeignKey. The two ContentType lookups
    # (one per type, kept by Django for the process) are no finding: the prefetch makes them too.
    assert [(f["kind"], f["count"], f["suggestion"]["code"]) for f in unit["findings"]] == [
        ("n_plus_one", 2, 'Comment.objects.prefetch_related("target")'),
        ("n_plus_one", 2, 'Comment.objects.prefetch_related("target")'),
    ]
    assert unit["summary"]["queries"] == 7

    after = fetch_unit(querysight_server, fixed["X-QuerySight-Unit"])
    assert after["findings"] == []
    assert after["summary"]["queries"] == 5  # the comments, the two types, then one query per content type
    assert loop.json() == fixed.json()


def test_the_real_server_tells_an_iexact_lookup_per_row_to_read_every_name_at_once_and_the_fix_works(querysight_server):
    config.configure(url=querysight_server, batch_interval=0.01)
    client = Client()
    loop = client.get("/authors/by-name/")
    fixed = client.get("/authors/by-name/?fixed=1")
    assert querysight.flush(10)

    unit = fetch_unit(querysight_server, loop["X-QuerySight-Unit"])
    assert [(f["kind"], f["count"], f["suggestion"]["code"]) for f in unit["findings"]] == [
        ("n_plus_one", 3, "Author.objects.filter(reduce(or_, [Q(name__iexact=v) for v in values]))"),
    ]
    after = fetch_unit(querysight_server, fixed["X-QuerySight-Unit"])
    assert (after["findings"], after["summary"]["queries"]) == ([], 1)
    assert loop.json() == fixed.json()


@pytest.mark.parametrize("path", PATHS)
def test_the_real_server_stores_every_kind_of_request_unit(querysight_server, path):
    config.configure(url=querysight_server, batch_interval=0.01)
    response = Client().get(path)
    assert querysight.flush(10)
    assert transport.transport.failed_attempts == 0
    unit = fetch_unit(querysight_server, response["X-QuerySight-Unit"])
    assert unit["name"] == f"GET {path}"
