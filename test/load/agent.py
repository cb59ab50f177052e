"""One load-test agent: a Python process serving "requests" (the SQLite bookshop) at a steady rate for a while,
recorded by the querysight agent and sent to the server in QUERYSIGHT_URL.

Usage: agent.py <name> <seconds> <units per second>. Prints one JSON line at the end:
{"name", "submitted", "delivered", "dropped", "flushed", "app_errors", "ids": [delivered unit ids]}.
"""

from __future__ import annotations

import json
import sys
import time

import querysight
from sqlite_app import DeliveryLog, book_list, open_db


def main() -> None:
    name, seconds, rate = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    querysight.configure(enabled=True, app_name=name, console=False)
    log = DeliveryLog()
    conn = open_db()
    submitted = app_errors = 0
    start = time.monotonic()
    end = start + seconds
    while (now := time.monotonic()) < end:
        # A steady rate: the n-th request starts at start + n / rate (the load is paced, nothing waits on a condition).
        due = start + submitted / rate
        if due > now:
            time.sleep(due - now)
        try:
            with querysight.capture(f"GET /books/?page={submitted % 7}", kind="request"):
                if book_list(conn) != 10:
                    app_errors += 1
        except Exception:  # noqa: BLE001 - counted: the app must never fail because of the agent
            app_errors += 1
        submitted += 1
    flushed = querysight.flush(timeout=60.0)
    print(
        json.dumps(
            {
                "name": name,
                "submitted": submitted,
                "delivered": len(log.ids),
                "dropped": log.dropped,
                "flushed": flushed,
                "app_errors": app_errors,
                "ids": log.ids,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
