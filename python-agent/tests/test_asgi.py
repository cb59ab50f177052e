"""The test project served over ASGI by a real uvicorn process, on a SQLite file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import read_ndjson, until

TESTS_DIR = Path(__file__).resolve().parent
MANAGE = TESTS_DIR / "djangoapp" / "manage.py"


class Site:
    def __init__(self, base: str, output: Path) -> None:
        self.base = base
        self.output = output

    def get(self, path: str) -> tuple[int, bytes, Any]:
        with urllib.request.urlopen(self.base + path, timeout=30) as response:
            return response.status, response.read(), response.headers

    def unit(self, unit_id: str) -> dict[str, Any]:
        def find() -> dict[str, Any] | None:
            units = [u for batch in read_ndjson(self.output) for u in batch["units"]]
            return next((u for u in units if u["id"] == unit_id), None)

        return until(find, timeout=15, what=f"unit {unit_id}")


@pytest.fixture(scope="module")
def asgi_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    pytest.importorskip("uvicorn")
    base_dir = tmp_path_factory.mktemp("asgi")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("QUERYSIGHT_")},
        "DJANGO_SETTINGS_MODULE": "djangoapp.settings",
        "QUERYSIGHT_TEST_DB_DIR": str(base_dir),
        "PYTHONPATH": str(TESTS_DIR),
    }
    for alias in ("default", "other"):
        subprocess.run(
            [sys.executable, str(MANAGE), "migrate", "--run-syncdb", "--database", alias, "-v", "0"],
            check=True,
            env=env,
            capture_output=True,
        )
    subprocess.run([sys.executable, str(MANAGE), "seed"], check=True, env=env, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    output = base_dir / "units.ndjson"
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "djangoapp.asgi:application", "--port", str(port), "--log-level", "warning"],
        env={**env, "QUERYSIGHT_OUTPUT": str(output)},
        cwd=TESTS_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"uvicorn exited: {proc.stderr.read() if proc.stderr else b''!r}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    until(up, timeout=30, what="uvicorn to listen")
    yield Site(f"http://127.0.0.1:{port}", output)
    proc.terminate()
    proc.wait(timeout=15)


def test_records_async_orm_calls_with_the_awaiting_call_site_under_uvicorn(asgi_site):
    status, body, headers = asgi_site.get("/async/books/")
    assert status == 200 and b"Book 0.0" in body
    unit = asgi_site.unit(headers["x-querysight-unit"])
    assert (unit["route"], unit["view"]) == ("async/books/", "djangoapp.shop.views.async_books")
    assert [(q["callsite"]["file"], q["callsite"]["line"]) for q in unit["queries"]] == [
        ("djangoapp/shop/views.py", 108),
        ("djangoapp/shop/views.py", 109),
    ]


def test_records_sync_to_async_helpers_with_their_frames_then_the_awaiting_view(asgi_site):
    _, _, headers = asgi_site.get("/async/helper/")
    (query,) = asgi_site.unit(headers["x-querysight-unit"])["queries"]
    assert [f["function"] for f in query["stack"][:2]] == ["_count_books_sync", "async_helper"]


def test_records_sync_views_and_templates_under_uvicorn(asgi_site):
    status, body, headers = asgi_site.get("/books/")
    assert status == 200
    assert body.count(b"overlay.js") == 0  # output mode: no server to load the overlay from
    unit = asgi_site.unit(headers["x-querysight-unit"])
    assert len(unit["queries"]) == 7
    assert unit["queries"][1]["template"] == {"name": "shop/book_list.html", "line": 8}
    assert unit["queries"][1]["callsite"]["function"] == "book_list"


def test_records_both_databases_under_uvicorn(asgi_site):
    _, _, headers = asgi_site.get("/other-db/")
    assert [q["db"] for q in asgi_site.unit(headers["x-querysight-unit"])["queries"]] == ["default", "other"]
