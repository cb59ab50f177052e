"""Fixtures shared by the SQLAlchemy, Flask and FastAPI tests (imported by those test modules)."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session

import sa_models
from querysight import sqlalchemy as qs_sqlalchemy
from querysight import transport


@pytest.fixture(autouse=True)
def fresh_app_info() -> Iterator[transport.AppInfo]:
    """Each test starts with an app that no integration has described yet (the Django tests of the same process
    describe it as a Django app), and leaves it as it found it."""
    info = transport.app
    saved = dict(vars(info))
    saved_bases, saved_all = list(qs_sqlalchemy._bases), qs_sqlalchemy._all_models
    for name in ("name", "framework", "framework_version", "origin", "schema_provider", "schema_version"):
        setattr(info, name, None)
    qs_sqlalchemy._bases.clear()
    qs_sqlalchemy._all_models = False
    yield info
    vars(info).update(saved)
    qs_sqlalchemy._bases[:] = saved_bases
    qs_sqlalchemy._all_models = saved_all


def uninstrument(engine: Any) -> None:
    qs_sqlalchemy.uninstrument(engine)


def seeded_sqlite(path: Path) -> Engine:
    """A file SQLite database with the test models and their seed rows (seeded before instrumenting)."""
    engine = create_engine(f"sqlite:///{path}")
    sa_models.Base.metadata.create_all(engine)
    with Session(engine) as session:
        sa_models.seed(session)
    return engine


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def post_json(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())
