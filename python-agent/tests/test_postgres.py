"""The test project on a throwaway PostgreSQL 15 cluster, served by a real `manage.py runserver`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import read_ndjson, until

TESTS_DIR = Path(__file__).resolve().parent
MANAGE = TESTS_DIR / "djangoapp" / "manage.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read(), dict(response.headers.items())
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers.items())


class Served:
    def __init__(self, base: str, output: Path, proc: subprocess.Popen[str]) -> None:
        self.base = base
        self.output = output
        self.proc = proc

    def units(self) -> list[dict[str, Any]]:
        return [unit for batch in read_ndjson(self.output) for unit in batch["units"]]

    def unit_for(self, unit_id: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            return next((u for u in self.units() if u["id"] == unit_id), None)

        return until(find, timeout=15, what=f"unit {unit_id} in {self.output}")


@pytest.fixture(scope="module")
def pg_site(postgres: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    import psycopg

    with psycopg.connect(
        host=postgres["QS_PG_HOST"], port=postgres["QS_PG_PORT"], user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        for name in ("querysight", "querysight_other"):
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
    output = tmp_path_factory.mktemp("pg") / "units.ndjson"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("QUERYSIGHT_")},
        **postgres,
        "DJANGO_SETTINGS_MODULE": "djangoapp.settings_pg",
        "PYTHONPATH": str(TESTS_DIR),
        "PYTHONUNBUFFERED": "1",
    }
    for alias in ("default", "other"):
        # contenttypes first: the shop app has no migrations, and --run-syncdb creates its tables before it applies
        # the others' migrations, so its FK to django_content_type would name a table PostgreSQL has not got yet.
        for args in (["contenttypes"], ["--run-syncdb"]):
            subprocess.run(
                [sys.executable, str(MANAGE), "migrate", *args, "--database", alias, "-v", "0"],
                check=True,
                env=env,
                capture_output=True,
            )
    subprocess.run([sys.executable, str(MANAGE), "seed"], check=True, env=env, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(MANAGE), "runserver", "--noreload", f"127.0.0.1:{port}"],
        env={**env, "QUERYSIGHT_OUTPUT": str(output)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"runserver exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    until(up, timeout=30, what="runserver to listen")
    served = Served(base, output, proc)
    yield served
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_records_a_template_loop_on_postgresql_under_runserver(pg_site):
    status, body, headers = get(pg_site.base + "/books/")
    assert status == 200 and b"Book 2.1 by Author 2" in body
    assert b"overlay.js" not in body  # no server to load it from in output mode
    unit = pg_site.unit_for(headers["X-QuerySight-Unit"])
    assert (unit["route"], unit["view"], unit["status"]) == ("books/", "djangoapp.shop.views.book_list", 200)
    queries = unit["queries"]
    assert len(queries) == 7
    assert {q["vendor"] for q in queries} == {"postgresql"}
    assert all(q["template"] == {"name": "shop/book_list.html", "line": 8} for q in queries[1:])
    assert queries[1]["params"] == [queries[1]["params"][0]] and isinstance(queries[1]["params"][0], int)


def test_records_async_orm_calls_served_by_runserver(pg_site):
    status, _, headers = get(pg_site.base + "/async/books/")
    assert status == 200
    queries = pg_site.unit_for(headers["X-QuerySight-Unit"])["queries"]
    assert [q["callsite"]["line"] for q in queries] == [108, 109]
    assert all(q["callsite"]["file"] == "djangoapp/shop/views.py" for q in queries)


def test_records_both_postgresql_databases(pg_site):
    status, _, headers = get(pg_site.base + "/other-db/")
    assert status == 200
    queries = pg_site.unit_for(headers["X-QuerySight-Unit"])["queries"]
    assert [q["db"] for q in queries] == ["default", "other"]


def test_records_a_statement_built_with_psycopgs_sql_module_as_the_sql_it_runs(pg_site):
    status, _, headers = get(pg_site.base + "/composed-sql/")
    assert status == 200
    (query,) = pg_site.unit_for(headers["X-QuerySight-Unit"])["queries"]
    assert query["sql"] == 'SELECT "name" FROM "shop_author" WHERE "id" = %s'
    assert query["params"] == [1]


def test_records_a_failing_postgresql_query_and_serves_the_apps_500(pg_site):
    status, body, headers = get(pg_site.base + "/broken/")
    assert status == 500
    assert b"no_such_table" in body  # Django's own debug page, untouched
    (query,) = pg_site.unit_for(headers["X-QuerySight-Unit"])["queries"]
    assert query["error"].startswith('ProgrammingError: relation "no_such_table" does not exist')


def test_the_server_tells_an_iexact_lookup_per_row_on_postgresql_to_read_every_name_at_once(pg_site, querysight_server):
    # PostgreSQL writes iexact as UPPER("shop_author"."name"::text) = UPPER(%s), SQLite as a LIKE.
    status, _, headers = get(pg_site.base + "/authors/by-name/")
    assert status == 200
    unit = pg_site.unit_for(headers["X-QuerySight-Unit"])
    batches = read_ndjson(pg_site.output)
    batch = next(b for b in batches if any(u["id"] == unit["id"] for u in b["units"]))
    schema = next(b["schema"] for b in batches if b.get("schema"))  # sent once per process, with its first batch
    request = urllib.request.Request(
        querysight_server + "/api/v1/analyze",
        data=json.dumps({**batch, "schema": schema, "units": [unit]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        (analysed,) = json.loads(response.read())["units"]
    assert 'UPPER("shop_author"."name"::text) = UPPER(%s)' in unit["queries"][0]["sql"]
    assert [(f["kind"], f["count"], f["suggestion"]["code"]) for f in analysed["findings"]] == [
        ("n_plus_one", 3, "Author.objects.filter(reduce(or_, [Q(name__iexact=v) for v in values]))"),
    ]


def test_prints_the_console_line_under_runserver(pg_site):
    status, _, headers = get(pg_site.base + "/authors/twice/")
    assert status == 200
    pg_site.unit_for(headers["X-QuerySight-Unit"])
    pg_site.proc.send_signal(signal.SIGINT)
    _, err = pg_site.proc.communicate(timeout=15)
    assert "[querysight] GET /authors/twice/ 200 " in err
    assert "· 2 queries · 1 duplicated" in err


def test_closes_a_connection_a_manager_opened_on_the_thread_that_built_the_schema(postgres, monkeypatch):
    # The agent's sender thread builds the schema: a default manager's get_queryset() that queries would otherwise
    # hold a PostgreSQL connection there for the life of the process (Django closes a thread's connections only at
    # the end of a request it serves).
    from django.db import connections, models

    from querysight.django import build_schema

    pg = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "postgres",
        "USER": "postgres",
        "HOST": postgres["QS_PG_HOST"],
        "PORT": postgres["QS_PG_PORT"],
    }
    settings = connections.configure_settings({"default": connections.settings["default"], "pg": pg})
    monkeypatch.setitem(connections.settings, "pg", settings["pg"])
    original = models.Manager.get_queryset

    def querying(self):
        with connections["pg"].cursor() as cursor:
            cursor.execute("SELECT 1")
        return original(self)

    monkeypatch.setattr(models.Manager, "get_queryset", querying)

    def backends() -> int:
        with connections["pg"].cursor() as cursor:  # this thread's own connection: one of the backends
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
            return cursor.fetchone()[0]

    try:
        before = backends()
        thread = threading.Thread(target=build_schema)
        thread.start()
        thread.join()
        assert until(lambda: backends() == before or None, timeout=5, what="the schema thread's connection to close")
        build_schema()  # on this thread, whose connection was open before: left open
        assert connections["pg"].connection is not None
    finally:
        connections["pg"].close()
