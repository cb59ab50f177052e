"""A plain SQLAlchemy script (no web framework, no Django) run in its own process by the tests:
``python sa_script.py DB_PATH``. It records one ``capture()`` block with an N+1 and flushes before exiting."""

from __future__ import annotations

import sys

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

import querysight
import sa_models
from querysight.sqlalchemy import instrument


def main(path: str) -> None:
    engine = create_engine(f"sqlite:///{path}")
    instrument(engine, base=sa_models.Base)
    sa_models.Base.metadata.create_all(engine)
    with Session(engine) as session:
        sa_models.seed(session)
        with querysight.capture("nightly report", kind="command"):
            sa_models.books_per_author(session)
    querysight.flush(5.0)


if __name__ == "__main__":
    main(sys.argv[1])
