"""Send a little traffic to the running bookshop, so querysight's report is not empty.

Visits every scenario of the demo, broken then fixed (``?fixed=1``), including the restock button's POST.

    python demo_traffic.py [--url http://127.0.0.1:8000]

Exits non-zero when a page does not answer 2xx.
"""

import argparse
import http.cookiejar
import json
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from shop.scenarios import SCENARIOS, Scenario  # plain data, importable without Django

TIMEOUT_S = 30


class Visitor:
    """A browser-like client: keeps cookies (for the CSRF token) and reports each answer."""

    def __init__(self, base_url: str, quiet: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.quiet = quiet
        self.sent = 0
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies))
        self.failures = 0

    def visit(self, method: str, path: str, body: dict | None = None) -> None:
        headers = {"Accept": "text/html,application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers |= {"Content-Type": "application/json", "X-CSRFToken": self.csrf_token()}
        request = urllib.request.Request(self.base_url + path, data=data, headers=headers, method=method)
        try:
            with self.opener.open(request, timeout=TIMEOUT_S) as response:
                response.read()
                status, unit = response.status, response.headers.get("X-QuerySight-Unit", "")
        except urllib.error.HTTPError as error:
            status, unit = error.code, error.headers.get("X-QuerySight-Unit", "")
        except OSError as error:
            sys.exit(f"demo_traffic: cannot reach {self.base_url}{path} ({error}); is the bookshop running?")
        self.sent += 1
        if not 200 <= status < 300:
            self.failures += 1
            print(f"demo_traffic: {method} {path} answered {status}", file=sys.stderr)
        if not self.quiet:
            print(f"  {method:<4} {path:<40} {status}" + (f"  unit {unit}" if unit else ""))

    def csrf_token(self) -> str:
        return next((cookie.value for cookie in self.cookies if cookie.name == "csrftoken"), "")


@dataclass(frozen=True)
class Visit:
    method: str
    path: str
    body: dict | None = None


def visits() -> list[Visit]:
    """The home page, then every scenario broken, then every scenario fixed."""
    planned = [Visit("GET", "/")]
    for suffix in ("", "?fixed=1"):
        for scenario in SCENARIOS:
            planned.extend(visits_of(scenario, suffix))
    return planned


def visits_of(scenario: Scenario, suffix: str) -> list[Visit]:
    if scenario.method == "GET":
        return [Visit("GET", scenario.path + suffix)]
    # Like a person: open the page with the button (it sets the CSRF cookie), then press it.
    return [Visit("GET", scenario.via + suffix), Visit(scenario.method, scenario.path + suffix, {"quantity": 5})]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_url = os.environ.get("DEMO_URL", f"http://127.0.0.1:{os.environ.get('DEMO_PORT', '8000')}")
    parser.add_argument("--url", default=default_url, help=f"the bookshop's address (default {default_url})")
    parser.add_argument("--quiet", action="store_true", help="print one line at the end instead of one per request")
    args = parser.parse_args(argv)
    visitor = Visitor(args.url, quiet=args.quiet)
    for visit in visits():
        visitor.visit(visit.method, visit.path, visit.body)
    if visitor.failures:
        print(f"demo_traffic: {visitor.failures} request(s) did not answer 2xx", file=sys.stderr)
        return 1
    if args.quiet:
        print(f"demo_traffic: sent {visitor.sent} requests to {visitor.base_url}, every scenario broken then fixed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
