"""pytest plugin: one querysight unit per test (entry point ``pytest11``; off unless enabled).

It turns on when ``QUERYSIGHT_URL`` or ``QUERYSIGHT_OUTPUT`` is set (``querysight ci -- pytest`` sets the URL) or
``--querysight`` is given. Each test then becomes a unit of kind ``test`` named by its node id, covering its setup
(fixtures), call and teardown. ``@pytest.mark.querysight(max_queries=5, n_plus_one="allow", duplicate="warn")``
travels in the unit's ``meta["querysight"]`` for the CI gate; ``meta["outcome"]`` says how the test ended.

When Django is configured, its connections are instrumented for every test, so a Django test suite is recorded
without the middleware (requests made with the test client become their own ``request`` units inside the test).
At the end of the session the plugin flushes what is left.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Generator
from typing import Any

import pytest

from . import _guard, config, transport
from .recorder import Unit, current_unit

MARKER_KEYS = ("max_queries", "n_plus_one", "duplicate", "repeated_write", "slow_query")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("querysight")
    group.addoption(
        "--querysight",
        action="store_true",
        default=False,
        help="record the SQL queries of every test with querysight (also on when QUERYSIGHT_URL/_OUTPUT is set)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "querysight(max_queries=None, n_plus_one=None, duplicate=None, repeated_write=None, slow_query=None): "
        "query budget of this test for `querysight ci` (levels: 'error', 'warn', 'allow')",
    )
    wanted = config.getoption("--querysight") or bool(
        os.environ.get("QUERYSIGHT_URL") or os.environ.get("QUERYSIGHT_OUTPUT")
    )
    if wanted:
        config.pluginmanager.register(QuerySightPlugin(), "querysight-recorder")


def marker_meta(item: pytest.Item) -> dict[str, Any] | None:
    """The keyword arguments of the closest ``querysight`` marker (test, then class, then module), checked when the
    tests were collected (see ``pytest_collection_modifyitems``)."""
    marker = item.get_closest_marker("querysight")
    return None if marker is None else dict(marker.kwargs)


def marker_error(item: pytest.Item) -> str | None:
    """What is wrong with the test's ``querysight`` marker: an argument it does not take."""
    marker = item.get_closest_marker("querysight")
    if marker is None:
        return None
    unknown = sorted(set(marker.kwargs) - set(MARKER_KEYS))
    if not unknown and not marker.args:
        return None
    return (
        f"{item.nodeid}: @pytest.mark.querysight takes keyword arguments {', '.join(MARKER_KEYS)};"
        f" got {', '.join(unknown) or repr(marker.args)}"
    )


class QuerySightPlugin:
    def __init__(self) -> None:
        config.invalidate()
        self.asked_off = False
        self.django_hooked = False
        self.undelivered: list[str] = []  # what to say at the end: this process's failure, its xdist workers'

    def _hook_django(self) -> None:
        """Hook Django's connections once it is set up (again for each test: connections opened since)."""
        if "django.db" in sys.modules:
            from django.apps import apps
            from django.conf import settings

            if settings.configured and apps.ready:
                from .django import instrument

                instrument()
                self.django_hooked = True

    def _prepare(self) -> bool:
        """Hook Django when it is set up; make sure recording is on (the plugin was asked for)."""
        with _guard.guard("prepare a test unit"):
            self._hook_django()
            settings = config.current()
            if not settings.enabled and not self.asked_off:
                # Asked for on the command line or by the environment: record even without DEBUG.
                self.asked_off = os.environ.get("QUERYSIGHT_ENABLED", "").strip().lower() in ("0", "false", "no", "off")
                if not self.asked_off:
                    config.configure(enabled=True)
            return config.current().enabled
        return False

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """A marker with an unknown argument stops the run once the tests are collected, before the first runs. A
        pytest-xdist worker cannot stop the run (xdist reports an internal error, and the message is lost): there the
        test with the marker fails with it."""
        for item in items:
            error = marker_error(item)
            if error is None:
                continue
            if not hasattr(config, "workerinput"):
                raise pytest.UsageError(error)
            item.stash[_MARKER_ERROR] = error

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        error = item.stash.get(_MARKER_ERROR, None)
        if error is not None:
            pytest.fail(error, pytrace=False)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
        unit: Unit | None = None
        token = None
        if self._prepare():
            meta: dict[str, Any] = {}
            marker = None if _MARKER_ERROR in item.stash else marker_meta(item)
            if marker is not None:
                meta["querysight"] = marker
            with _guard.guard("start a test unit"):
                unit = Unit("test", item.nodeid, meta=meta)
                item.stash[_UNIT] = unit
                token = current_unit.set(unit)
        try:
            yield
        finally:
            if unit is not None and token is not None:
                with _guard.guard("finish a test unit"):
                    current_unit.reset(token)
                    unit.finish()
                    unit.meta["outcome"] = item.stash.get(_OUTCOME, "passed")
                    transport.submit(unit)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_fixture_setup(
        self, fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
    ) -> Generator[None]:
        """Keep fixtures shared by several tests (session, package, module, class) out of the test that sets them up.

        Their setup runs with no current unit; their teardown too, through two finalizers that bracket the ones the
        fixture registers (finalizers run last in, first out).
        """
        if fixturedef.scope == "function":
            yield  # (a hookwrapper's yield does not raise: the fixture's exception stays in the outcome)
        else:
            fixturedef.addfinalizer(_restore_unit)
            token = current_unit.set(None)
            try:
                yield
            finally:
                current_unit.reset(token)
                fixturedef.addfinalizer(_leave_unit)
        if not self.django_hooked:
            # A fixture that sets Django up (django.setup() in a session fixture) runs after the test's unit began:
            # hook it now, or the test's own queries (and the next fixtures') would go unrecorded.
            with _guard.guard("instrument Django set up by a fixture"):
                self._hook_django()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None]:
        outcome = yield
        with _guard.guard("read a test outcome"):
            report = outcome.get_result()
            if report.failed:
                item.stash[_OUTCOME] = "failed"
            elif report.skipped and item.stash.get(_OUTCOME, "passed") == "passed":
                item.stash[_OUTCOME] = "skipped"

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist's controller: a worker ended, saying whether it could deliver its units (see below)."""
        message = getattr(node, "workeroutput", {}).get(_UNDELIVERED)
        if message and message not in self.undelivered:
            self.undelivered.append(message)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        with _guard.guard("flush at the end of the test session"):
            settings = config.current()
            if not transport.flush(settings.exit_flush_timeout):
                message = f"[querysight] could not deliver every test unit to {settings.server_url}"
                worker_output = getattr(session.config, "workeroutput", None)
                if worker_output is not None:  # a pytest-xdist worker, whose output nobody sees: its controller says it
                    worker_output[_UNDELIVERED] = message
                    return
                if message not in self.undelivered:
                    self.undelivered.append(message)
            terminal = session.config.pluginmanager.get_plugin("terminalreporter")
            for message in self.undelivered:
                if terminal is not None:
                    # On a line of its own, not after the progress dots: with -q, pytest leaves that line open.
                    if getattr(getattr(terminal, "_tw", None), "width_of_current_line", 0):
                        terminal.write("\n")
                    terminal.write_line(message)
                else:
                    sys.stderr.write(f"\n{message}\n")


_SAVED_UNITS: list[Any] = []


def _leave_unit() -> None:
    _SAVED_UNITS.append(current_unit.set(None))


def _restore_unit() -> None:
    if _SAVED_UNITS:
        current_unit.reset(_SAVED_UNITS.pop())


_UNIT = pytest.StashKey[Unit]()
_OUTCOME = pytest.StashKey[str]()
_MARKER_ERROR = pytest.StashKey[str]()
_UNDELIVERED = "querysight_undelivered"  # the key of a worker's failure in pytest-xdist's workeroutput
