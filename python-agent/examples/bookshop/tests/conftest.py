"""Run the bookshop's tests with plain pytest (no pytest-django): Django is set up here, and a test database is
created and seeded once for the session with Django's own test utilities."""

import os
import sys
from io import StringIO
from pathlib import Path

import django
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "bookshop.settings"
# DEBUG off, as under Django's test runner: querysight then records only when QUERYSIGHT_URL asks it to.
os.environ.setdefault("BOOKSHOP_DEBUG", "0")
django.setup()

from django.conf import settings  # noqa: E402

if settings.SETTINGS_MODULE != "bookshop.settings":
    raise RuntimeError(
        f"Django is already set up with {settings.SETTINGS_MODULE} in this pytest process; one process holds one "
        "Django project, so run the bookshop's tests on their own: pytest python-agent/examples/bookshop/tests"
    )

from django.core.management import call_command  # noqa: E402 - needs django.setup()
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment, teardown_test_environment  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def seeded_database():
    """A fresh test database with the demo data of ``manage.py seed``."""
    setup_test_environment()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    call_command("seed", stdout=StringIO())
    yield
    connection.creation.destroy_test_db(old_name, verbosity=0)
    teardown_test_environment()


@pytest.fixture
def client() -> Client:
    return Client()
