"""DEMO_SMOKE's check, over HTTP: the querysight server got a unit for every request of the demo traffic, holds units
with an N+1 and with a duplicate, and the fixed twins (``?fixed=1``) have neither.

    python scripts/demo_check.py --server http://127.0.0.1:8321 [--timeout 60]

Prints what it found; exits 0 when all holds, 1 with the reason otherwise.
"""

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(
    0,
    str(Path(__file__).resolve().parent.parent / "python-agent" / "examples" / "bookshop"),
)

from demo_traffic import visits  # the same list of requests the demo traffic sent

PAGE = 500


def units(server: str, **query: str) -> list[dict]:
    url = f"{server}/api/v1/units?{urllib.parse.urlencode({'limit': PAGE, **query})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)["units"]


def wait_for_every_visit(server: str, timeout: float) -> dict[tuple[str, str], dict]:
    """The newest unit of each planned visit, once all have arrived; exits when some are still missing at the end."""
    expected = {(visit.method, visit.path) for visit in visits()}
    deadline = time.monotonic() + timeout
    while True:
        received = {}
        for unit in reversed(units(server, kind="request")):
            received[(unit["method"], unit["path"])] = unit
        missing = expected - received.keys()
        if not missing:
            return {key: received[key] for key in expected}
        if time.monotonic() > deadline:
            listed = ", ".join(f"{method} {path}" for method, path in sorted(missing))
            sys.exit(
                f"demo_check: after {timeout:.0f} s the server still has no unit for {listed}; is the agent enabled "
                "in the bookshop (DEBUG on, QUERYSIGHT_URL set) and sending to this server?"
            )
        time.sleep(0.2)


def findings_of(server: str, unit_id: str) -> list[dict]:
    with urllib.request.urlopen(f"{server}/api/v1/units/{unit_id}", timeout=10) as response:
        return json.load(response)["unit"]["findings"]


def describe(unit: dict) -> str:
    summary = unit["summary"]
    found = [
        f"{summary['n_plus_one']} N+1" if summary["n_plus_one"] else "",
        f"{summary['duplicates']} duplicated" if summary["duplicates"] else "",
        f"{summary['findings']} finding{'s' if summary['findings'] != 1 else ''}" if summary["findings"] else "clean",
    ]
    return f"{summary['queries']:>4} queries · " + " · ".join(part for part in found if part)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--server",
        required=True,
        help="the querysight server, e.g. http://127.0.0.1:8321",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the units (default 60)",
    )
    args = parser.parse_args(argv)
    server = args.server.rstrip("/")

    try:
        received = wait_for_every_visit(server, args.timeout)
        with_n_plus_one = {unit["id"]: unit for unit in units(server, finding="n_plus_one")}
        with_duplicate = {unit["id"]: unit for unit in units(server, finding="duplicate")}
    except (OSError, ValueError, KeyError) as error:
        print(f"demo_check: cannot read units from {server}: {error}", file=sys.stderr)
        return 1

    print(f"The server holds a unit for each of the {len(received)} requests of the demo traffic:")
    for (method, path), unit in sorted(received.items(), key=lambda item: ("fixed=1" in item[0][1], item[0][1])):
        print(f"  {method:<4} {path:<36} {describe(unit)}")
        for finding in findings_of(server, unit["id"]) if unit["summary"]["findings"] else []:
            print(f"       {finding['kind']} x{finding['count']}: {finding['suggestion']['text']}")

    problems = []
    if not with_n_plus_one:
        problems.append("no unit with an N+1 (GET /api/v1/units?finding=n_plus_one is empty)")
    if not with_duplicate:
        problems.append("no unit with a duplicate (GET /api/v1/units?finding=duplicate is empty)")
    fixed_ids = {unit["id"] for unit in received.values() if "fixed=1" in (unit["path"] or "")}
    for kind, found in (("an N+1", with_n_plus_one), ("a duplicate", with_duplicate)):
        for unit_id in sorted(fixed_ids & found.keys()):
            problems.append(f"the fixed twin {found[unit_id]['method']} {found[unit_id]['path']} has {kind}")

    print(f"units with an N+1: {len(with_n_plus_one)}; units with a duplicate: {len(with_duplicate)}")
    if problems:
        for problem in problems:
            print(f"demo_check: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
