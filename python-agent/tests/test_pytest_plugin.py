"""The pytest plugin, run on a small Django test suite in a separate pytest process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

TESTS_DIR = Path(__file__).resolve().parent

CONFTEST = """
import os
os.environ["DJANGO_SETTINGS_MODULE"] = "djangoapp.settings"
import django
django.setup()
from django.test.utils import setup_databases
setup_databases(verbosity=0, interactive=False, aliases={"default"})
from djangoapp.shop.seed import seed
seed()

import pytest
from djangoapp.shop.models import Author


@pytest.fixture
def first_author():
    return Author.objects.order_by("id").first()
"""

SUITE = """
import pytest
from django.test import Client
from djangoapp.shop.models import Author, Book


def test_counts_books():
    assert Book.objects.count() == 6


def test_uses_a_fixture(first_author):
    assert Author.objects.filter(pk=first_author.pk).exists()


@pytest.mark.querysight(max_queries=5, n_plus_one="allow", duplicate="warn")
def test_with_a_budget():
    for book in Book.objects.all():
        book.author.name


def test_that_fails():
    Book.objects.count()
    assert False


@pytest.mark.querysight(n_plus_one="allow")
class TestRequests:
    def test_a_request_inside_a_test(self):
        assert Client().get("/books/1/").status_code == 200
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_suite=SUITE)
    return pytester


def run(pytester: pytest.Pytester, *args: str, **env: str) -> pytest.RunResult:
    old = dict(os.environ)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS_DIR), old.get("PYTHONPATH")]))
    os.environ.update(env)
    try:
        return pytester.runpytest_subprocess("-p", "no:cacheprovider", *args)
    finally:
        os.environ.clear()
        os.environ.update(old)


def units_in(path: Path) -> list[dict]:
    return [unit for line in path.read_text().splitlines() for unit in json.loads(line)["units"]]


def test_records_one_unit_per_test_named_by_node_id(suite, tmp_path):
    out = tmp_path / "tests.ndjson"
    result = run(suite, QUERYSIGHT_OUTPUT=str(out))
    result.assert_outcomes(passed=4, failed=1)
    units = {u["name"]: u for u in units_in(out) if u["kind"] == "test"}
    assert sorted(units) == [
        "test_suite.py::TestRequests::test_a_request_inside_a_test",
        "test_suite.py::test_counts_books",
        "test_suite.py::test_that_fails",
        "test_suite.py::test_uses_a_fixture",
        "test_suite.py::test_with_a_budget",
    ]
    counts = units["test_suite.py::test_counts_books"]
    assert len(counts["queries"]) == 1
    assert counts["queries"][0]["callsite"]["function"] == "test_counts_books"
    assert counts["meta"] == {"outcome": "passed"}
    assert units["test_suite.py::test_that_fails"]["meta"]["outcome"] == "failed"


def test_includes_the_queries_of_fixtures(suite, tmp_path):
    out = tmp_path / "tests.ndjson"
    run(suite, QUERYSIGHT_OUTPUT=str(out))
    (unit,) = [u for u in units_in(out) if u["name"] == "test_suite.py::test_uses_a_fixture"]
    assert [q["callsite"]["function"] for q in unit["queries"]] == ["first_author", "test_uses_a_fixture"]


def test_carries_the_marker_in_meta(suite, tmp_path):
    out = tmp_path / "tests.ndjson"
    run(suite, QUERYSIGHT_OUTPUT=str(out))
    (unit,) = [u for u in units_in(out) if u["name"] == "test_suite.py::test_with_a_budget"]
    assert unit["meta"] == {
        "querysight": {"max_queries": 5, "n_plus_one": "allow", "duplicate": "warn"},
        "outcome": "passed",
    }
    assert len(unit["queries"]) == 7


def test_records_client_requests_made_by_a_test_as_their_own_units(suite, tmp_path):
    out = tmp_path / "tests.ndjson"
    run(suite, QUERYSIGHT_OUTPUT=str(out))
    requests = [u for u in units_in(out) if u["kind"] == "request"]
    assert [(u["name"], u["route"], len(u["queries"])) for u in requests] == [("GET /books/1/", "books/<int:pk>/", 2)]
    # It names the test that made it, and the test's marker holds for it too.
    assert requests[0]["meta"] == {
        "test": "test_suite.py::TestRequests::test_a_request_inside_a_test",
        "querysight": {"n_plus_one": "allow"},
    }


def test_stays_off_without_a_url_an_output_or_the_flag(pytester):
    pytester.makepyfile(
        """
        def test_recorder_is_not_registered(request):
            assert request.config.pluginmanager.get_plugin("querysight-recorder") is None

        def test_marker_is_still_known(request):
            assert any(line.startswith("querysight(") for line in request.config.getini("markers"))
        """
    )
    run(pytester, "--strict-markers").assert_outcomes(passed=2)
    # The flag alone turns it on; the conftest keeps its units away from any real server on the default port.
    pytester.makeconftest("import querysight\nquerysight.configure(url='http://127.0.0.1:9', exit_flush_timeout=0.1)")
    result = run(pytester, "--querysight")
    result.assert_outcomes(passed=1, failed=1)
    # On a line of its own, not glued to the progress line's "[100%]", with -q too.
    assert "[querysight] could not deliver every test unit to http://127.0.0.1:9" in result.outlines
    quiet = run(pytester, "--querysight", "-q")
    assert "[querysight] could not deliver every test unit to http://127.0.0.1:9" in quiet.outlines
    # Under pytest-xdist the workers' output is not shown: the controller says it, once.
    parallel = run(pytester, "--querysight", "-n", "2")
    assert parallel.outlines.count("[querysight] could not deliver every test unit to http://127.0.0.1:9") == 1


def test_sends_the_units_to_the_server_at_querysight_url(suite, receiver):
    result = run(suite, QUERYSIGHT_URL=receiver.url)
    result.assert_outcomes(passed=4, failed=1)
    names = sorted(u["name"] for u in receiver.units() if u["kind"] == "test")
    assert len(names) == 5
    assert all(body.body["app"]["framework"] == "django" for body in receiver.requests)


def test_records_without_debug_when_querysight_url_is_set(suite, receiver):
    suite.makeconftest(
        CONFTEST.replace("django.setup()", "django.setup()\nfrom django.conf import settings\nsettings.DEBUG = False")
    )
    result = run(suite, "--querysight", QUERYSIGHT_URL=receiver.url)
    result.assert_outcomes(passed=4, failed=1)
    assert len([u for u in receiver.units() if u["kind"] == "test"]) == 5


def test_rejects_a_marker_with_unknown_arguments_before_any_test_runs(pytester, tmp_path):
    ran = tmp_path / "ran"
    pytester.makepyfile(
        f"""
        import pytest

        def test_first():
            open({str(ran)!r}, "w").write("ran")

        @pytest.mark.querysight(max_querys=3)
        def test_typo():
            pass
        """
    )
    result = run(pytester, QUERYSIGHT_OUTPUT=str(tmp_path / "x.ndjson"))
    result.stderr.fnmatch_lines(["*@pytest.mark.querysight takes keyword arguments*max_querys*"])
    assert not ran.exists()  # found at collection: a long suite does not run up to it first


def test_a_marker_with_unknown_arguments_fails_its_test_with_the_message_under_xdist(pytester, tmp_path):
    # A pytest-xdist worker that raised at collection would end the run in an INTERNALERROR without the message.
    pytester.makepyfile(
        """
        import pytest

        def test_fine():
            pass

        @pytest.mark.querysight(max_query=3)
        def test_typo():
            pass
        """
    )
    result = run(pytester, "-n", "2", QUERYSIGHT_OUTPUT=str(tmp_path / "x.ndjson"))
    result.assert_outcomes(passed=1, errors=1)  # in its setup
    result.stdout.fnmatch_lines(["*test_typo*@pytest.mark.querysight takes keyword arguments*got max_query*"])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


SHARED_FIXTURES_SUITE = """
import pytest
from djangoapp.shop.models import Author, Book


@pytest.fixture(scope="session")
def catalogue():
    Book.objects.count()
    Author.objects.count()
    yield
    Book.objects.exists()


@pytest.fixture(scope="module")
def authors():
    yield list(Author.objects.all())
    Author.objects.exists()


@pytest.fixture
def first_book():
    return Book.objects.order_by("id").first()


def test_first(catalogue, authors, first_book):
    Book.objects.filter(pk=first_book.pk).exists()


def test_last(catalogue, authors):
    Book.objects.filter(author=authors[0]).count()
"""


def test_leaves_the_queries_of_shared_fixtures_out_of_the_tests_that_set_them_up_and_tear_them_down(pytester, tmp_path):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_shared=SHARED_FIXTURES_SUITE)
    out = tmp_path / "tests.ndjson"
    run(pytester, QUERYSIGHT_OUTPUT=str(out)).assert_outcomes(passed=2)
    units = {u["name"]: u for u in units_in(out) if u["kind"] == "test"}
    functions = {name: [q["callsite"]["function"] for q in unit["queries"]] for name, unit in units.items()}
    assert functions == {
        "test_shared.py::test_first": ["first_book", "test_first"],
        "test_shared.py::test_last": ["test_last"],
    }


LATE_SETUP_CONFTEST = """
import os

import pytest

os.environ["DJANGO_SETTINGS_MODULE"] = "djangoapp.settings"


@pytest.fixture(scope="session", autouse=True)
def django_db():
    # Django set up by a fixture, after the first test's unit began.
    import django

    django.setup()
    from django.test.utils import setup_databases
    from djangoapp.shop.seed import seed

    setup_databases(verbosity=0, interactive=False, aliases={"default"})
    seed()
"""

LATE_SETUP_SUITE = """
def test_first():
    from djangoapp.shop.models import Author
    for author in Author.objects.order_by("id"):
        author.book_set.count()


def test_second():
    from djangoapp.shop.models import Author
    for author in Author.objects.order_by("id"):
        author.book_set.count()
"""


def test_records_the_first_test_after_a_fixture_that_sets_django_up(pytester, tmp_path):
    pytester.makeconftest(LATE_SETUP_CONFTEST)
    pytester.makepyfile(test_late=LATE_SETUP_SUITE)
    out = tmp_path / "tests.ndjson"
    run(pytester, QUERYSIGHT_OUTPUT=str(out)).assert_outcomes(passed=2)
    counts = {u["name"]: len(u["queries"]) for u in units_in(out) if u["kind"] == "test"}
    assert counts == {"test_late.py::test_first": 4, "test_late.py::test_second": 4}
