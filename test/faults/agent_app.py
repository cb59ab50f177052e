"""An app recorded by the querysight agent, driven step by step over stdin by the fault tests.

Usage: agent_app.py '<json settings for querysight.configure>'. Each stdin line is a command, answered by exactly one
JSON line on stdout with the agent's counters:
  serve N    serve N requests of the SQLite bookshop (each one a unit); the answer counts the app's own failures
  flush T    querysight.flush(timeout=T); the answer says whether everything was delivered
  stats      just the counters
"""

from __future__ import annotations

import json
import sys

import querysight
from sqlite_app import DeliveryLog, book_list, open_db


def main() -> None:
    querysight.configure(enabled=True, console=False, **json.loads(sys.argv[1]))
    log = DeliveryLog()
    conn = open_db()
    submitted = app_errors = 0
    for line in sys.stdin:
        command, _, arg = line.strip().partition(" ")
        answer: dict[str, object] = {"command": command}
        if command == "serve":
            for _ in range(int(arg)):
                try:
                    with querysight.capture("GET /books/", kind="request"):
                        if book_list(conn) != 10:
                            app_errors += 1
                except Exception:  # noqa: BLE001 - counted: the app must never fail because of the agent
                    app_errors += 1
                submitted += 1
        elif command == "flush":
            answer["flushed"] = querysight.flush(timeout=float(arg))
        elif command != "stats":
            answer["error"] = f"unknown command {command!r}"
        answer.update(
            submitted=submitted, delivered=len(log.ids), dropped=log.dropped, app_errors=app_errors, ids=log.ids
        )
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
