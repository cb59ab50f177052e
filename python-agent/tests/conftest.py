"""Fixtures of the agent's tests: a real Django project on SQLite, a local HTTP receiver, the real querysight
server, and a throwaway PostgreSQL 15 cluster."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The suite must not be redirected by an outer `querysight ci` run: each test configures the agent itself.
for _name in [name for name in os.environ if name.startswith("QUERYSIGHT_")]:
    del os.environ[_name]
os.environ["DJANGO_SETTINGS_MODULE"] = "djangoapp.settings"

import django  # noqa: E402

django.setup()

from helpers import Receiver, read_ndjson, until  # noqa: E402
from querysight import _guard, config, transport  # noqa: E402

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def django_databases() -> Iterator[None]:
    from django.test.utils import setup_databases, teardown_databases

    from djangoapp.shop.seed import seed

    old = setup_databases(verbosity=0, interactive=False, aliases={"default", "other"})
    seed("default")
    seed("other")
    yield
    teardown_databases(old, verbosity=0)


@pytest.fixture(autouse=True)
def agent_state(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fresh settings and transport per test, and any error the guard swallowed fails the test."""
    config.reset()
    transport.transport.reset()
    transport.app.origin = None
    _guard.clear_swallowed()
    swallowing = "swallow_internal_errors" in request.fixturenames
    _guard.set_raise_internal(not swallowing)
    yield
    _guard.set_raise_internal(False)
    transport.flush(2.0)
    errors = _guard.swallowed()
    _guard.clear_swallowed()
    transport.transport.reset()
    config.reset()
    if errors and not swallowing:
        what, exc = errors[0]
        raise AssertionError(f"querysight swallowed an internal error while trying to {what}") from exc


@pytest.fixture
def swallow_internal_errors() -> Iterator[list[tuple[str, BaseException]]]:
    """For tests that inject failures into the agent: the guard swallows them; the test inspects them."""
    yield _guard.swallowed()


class Recorded:
    def __init__(self, path: Path) -> None:
        self.path = path

    def batches(self) -> list[dict[str, Any]]:
        assert transport.flush(10.0), "the transport did not flush"
        return read_ndjson(self.path)

    def units(self) -> list[dict[str, Any]]:
        return [unit for batch in self.batches() for unit in batch["units"]]

    def unit(self) -> dict[str, Any]:
        units = self.units()
        assert len(units) == 1, f"expected one unit, got {[u['name'] for u in units]}"
        return units[0]


@pytest.fixture
def recorded(tmp_path: Path) -> Recorded:
    """Units written as NDJSON by the real transport (QUERYSIGHT_OUTPUT mode)."""
    path = tmp_path / "units.ndjson"
    config.configure(output=str(path))
    return Recorded(path)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    config.configure(url=r.url, batch_interval=0.02, http_timeout=1.0, backoff_initial=0.05, backoff_max=0.2)
    yield r
    transport.flush(5.0)
    r.close()


@pytest.fixture
def client() -> Any:
    from django.test import Client

    return Client()


# ---- the real querysight server -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def querysight_server() -> Iterator[str]:
    """The real server (`node dist/cli.js serve --port 0 --db :memory:`); yields its URL."""
    with running_server() as url:
        yield url


@contextlib.contextmanager
def running_server(*args: str) -> Iterator[str]:
    """`node dist/cli.js serve --port 0 --db :memory: ARGS...` for the length of the block; its URL."""
    cli = REPO / "dist" / "cli.js"
    node = shutil.which("node")
    if not cli.exists() or node is None:
        if os.environ.get("CI"):
            pytest.fail("dist/cli.js is missing: run `node server/build.mjs` (make build) before the agent tests")
        pytest.skip("the querysight server is not built (dist/cli.js missing); run `make build`")
    proc = subprocess.Popen(
        [node, str(cli), "serve", "--port", "0", "--db", ":memory:", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if " listening on " not in line:
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"the querysight server did not start: {line!r} {err[-2000:]}")
        yield line.rsplit(" ", 1)[1].strip()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


# ---- PostgreSQL -----------------------------------------------------------------------------------------------


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def postgres() -> Iterator[dict[str, str]]:
    """A throwaway PostgreSQL cluster (run as the `postgres` user when we are root); yields connection settings."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed (initdb missing): `make postgres` installs it")
        pytest.skip("PostgreSQL tests need initdb/pg_ctl (apt-get install postgresql); skipped outside CI")
    as_root = os.geteuid() == 0
    run_as = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="querysight-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    if as_root:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    subprocess.run(
        [*run_as, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        env=env,
    )
    options = f"-k {sockets} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*run_as, pg_ctl, "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"],
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        yield {"QS_PG_HOST": "127.0.0.1", "QS_PG_PORT": str(port), "QS_PG_USER": "postgres"}
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "stop", "-m", "fast"], capture_output=True, env=env)
        shutil.rmtree(base, ignore_errors=True)


__all__ = ["Recorded", "until"]
