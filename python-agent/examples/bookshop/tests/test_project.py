"""The project as a whole: its migrations match its models, and the demo traffic gets an answer from every page."""

from io import StringIO

import demo_traffic
import pytest
from django.core.management import call_command
from django.db import connections
from django.test.testcases import LiveServerThread
from shop.scenarios import SCENARIOS


def test_the_committed_migrations_match_the_models():
    call_command("makemigrations", "shop", "--check", "--dry-run", stdout=StringIO())


@pytest.fixture
def live_bookshop():
    """The bookshop served over HTTP from a thread, on the seeded in-memory test database."""
    database = connections["default"]  # the connection itself, not the `connection` proxy that looks it up
    database.inc_thread_sharing()
    no_static_files = lambda app: app  # noqa: E731 - the shop's CSS is inline
    server = LiveServerThread("127.0.0.1", no_static_files, connections_override={"default": database}, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    yield f"http://127.0.0.1:{server.port}"
    server.terminate()
    database.dec_thread_sharing()


def test_demo_traffic_visits_every_scenario_broken_and_fixed_and_each_answers(live_bookshop, capsys):
    assert demo_traffic.main(["--url", live_bookshop]) == 0
    printed = capsys.readouterr().out
    for scenario in SCENARIOS:
        assert f"{scenario.method:<4} {scenario.path} " in printed
        assert f"{scenario.method:<4} {scenario.path}?fixed=1 " in printed
    assert " 200" in printed


def test_demo_traffic_presses_the_restock_button_like_a_browser_with_the_csrf_token(live_bookshop, capsys):
    assert demo_traffic.main(["--url", live_bookshop, "--quiet"]) == 0
    assert f"sent {len(demo_traffic.visits())} requests" in capsys.readouterr().out
