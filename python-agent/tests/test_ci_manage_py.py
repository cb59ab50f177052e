"""`querysight ci -- python manage.py test`: Django's own test runner, which has no pytest plugin, under the CI gate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent
REPO = TESTS_DIR.parents[1]


def test_the_gate_checks_the_requests_of_manage_py_test_and_fails_on_their_n_plus_one() -> None:
    cli, node = REPO / "dist" / "cli.js", shutil.which("node")
    if not cli.exists() or node is None:
        if os.environ.get("CI"):
            pytest.fail("dist/cli.js is missing: run `make build` before the agent tests")
        pytest.skip("the querysight server is not built (dist/cli.js missing); run `make build`")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUERYSIGHT_", "DJANGO_"))}
    command = [sys.executable, "djangoapp/manage.py", "test", "djangoapp.shop.tests_for_ci", "-v", "0"]
    run = subprocess.run(
        [node, str(cli), "ci", "--format", "json", "--", *command],
        cwd=TESTS_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr  # the test passed; the gate failed on its request's N+1
    report = json.loads(run.stdout)
    assert [(u["name"], u["outcome"]) for u in report["units"]] == [("GET books/", "fail")]
    assert [(v["unit"], v["kind"]) for v in report["violations"]] == [("GET books/", "n_plus_one")]
