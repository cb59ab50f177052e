"""Django's admin, end to end: a real admin with the N+1s changelists have, its units sent to the real server, and
the fixes the server names pasted into the ModelAdmins as they are given: the N+1s are gone, the page the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent
PAGES = ["/admin/shop/book/", "/admin/shop/review/", "/admin/shop/author/1/change/"]


def open_pages(server: str, tmp_path: Path, name: str, fixes: dict[str, list[str]]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUERYSIGHT_", "DJANGO_"))}
    env.update(
        PYTHONPATH=str(TESTS_DIR),
        DJANGO_SETTINGS_MODULE="djangoapp.settings_admin",
        ADMIN_TEST_DB=str(tmp_path / f"{name}.sqlite3"),
        ADMIN_FIXES=json.dumps(fixes),
        QUERYSIGHT_URL=server,
    )
    run = subprocess.run(
        [sys.executable, str(TESTS_DIR / "admin_scenario.py"), *PAGES],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    pages = json.loads(run.stdout)
    for page in pages.values():
        assert page["status"] == 200 and page["table"], page
        with urllib.request.urlopen(f"{server}/api/v1/units/{page['unit']}?wait=5000", timeout=30) as response:
            page["report"] = json.load(response)["unit"]
    return pages


def n_plus_ones(page: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in page["report"]["findings"] if f["kind"] == "n_plus_one"]


def test_the_fixes_named_for_admin_changelists_remove_their_n_plus_ones_pasted_as_they_are(querysight_server, tmp_path):
    before = open_pages(querysight_server, tmp_path, "before", {})
    books, reviews = before["/admin/shop/book/"], before["/admin/shop/review/"]
    # Three columns, three N+1s of 6 books: one list for the FK, one get_queryset() for the prefetch and the count.
    assert sorted({f["suggestion"]["code"] for f in n_plus_ones(books)}) == [
        "def get_queryset(self, request):\n    return super().get_queryset(request)"
        '.annotate(reviews_count=Count("reviews", distinct=True)).prefetch_related("tags")',
        'list_select_related = ["author"]',
    ]
    assert len(n_plus_ones(books)) == 3
    # The author of each review's book, read through list_select_related = ["book"]: the list goes one hop further.
    [through_book] = n_plus_ones(reviews)
    assert through_book["suggestion"]["code"] == 'list_select_related = ["book__author"]'
    assert "the ModelAdmin of Review" in through_book["suggestion"]["text"]

    # Each book row of the author's page reads its tags: the inline's rows come from its own get_queryset().
    [inline] = n_plus_ones(before["/admin/shop/author/1/change/"])
    assert inline["suggestion"]["code"] == (
        'def get_queryset(self, request):\n    return super().get_queryset(request).prefetch_related("tags")'
    )
    assert "in get_queryset() of the InlineModelAdmin of Book" in inline["suggestion"]["text"]

    fixes = {
        "BookColumns": sorted({f["suggestion"]["code"] for f in n_plus_ones(books)}),
        "ReviewColumns": [through_book["suggestion"]["code"]],
        "BookRows": [inline["suggestion"]["code"]],
    }
    after = open_pages(querysight_server, tmp_path, "after", fixes)
    for path, page in after.items():
        assert n_plus_ones(page) == [], path
        assert page["table"] == before[path]["table"], f"{path} shows other rows or values with the fixes"
        assert page["report"]["summary"]["queries"] < before[path]["report"]["summary"]["queries"]
