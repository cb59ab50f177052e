"""Agent overhead: a Django view making 200 primary-key lookups on SQLite, timed side by side.

Variants, interleaved request by request (in a new order each round) so machine noise hits them all alike:
- plain: the same view with no querysight at all (no middleware, no execute wrapper);
- agent, server up: QuerySightMiddleware sending to a real querysight server (node dist/cli.js serve);
- agent, server down: the same, pointed at a port where nothing listens;
- full stacks: a django-debug-toolbar-style recorder that keeps traceback.extract_stack() for every query.

Each variant runs in several fresh processes beside "plain" (see agent_bench_support). Figures: the request time of
each variant and its ratio to plain, plus the ratio of the request thread's own CPU time (time.thread_time), which
leaves out the agent's sender thread and the server; and, with the server up, the sender thread's CPU per request
and the ratio of the request thread's CPU plus the sender's to plain.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "python-agent" / "tests"))
for name in [n for n in os.environ if n.startswith("QUERYSIGHT_")]:
    del os.environ[name]
os.environ["DJANGO_SETTINGS_MODULE"] = "djangoapp.settings"

import django
from django.conf import settings

django.setup()
settings.DEBUG = False  # as in production-like timing: no CursorDebugWrapper

import agent_bench_support
from agent_bench_support import (
    closed_port_url,
    report_samples,
    run_rounds,
)
from django.db import connection
from django.test import Client
from django.test.utils import override_settings, setup_databases
from djangoapp.shop.seed import seed
from querysight import config
from querysight.django import query_hook

QUERIES = 200
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))
PATH = f"/many/{QUERIES}/"


class FullStackRecorder:
    """What django-debug-toolbar's SQL panel does per query: time it and keep the whole stack with source lines."""

    def __init__(self) -> None:
        self.queries: list[tuple[str, object, float, list[traceback.FrameSummary]]] = []

    def __call__(self, execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.queries.append(
                (sql, params, time.perf_counter() - start, traceback.extract_stack())
            )


def timed(client: Client) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.thread_time()
    response = client.get(PATH)
    assert response.status_code == 200, response.status_code
    return time.perf_counter() - wall, time.thread_time() - cpu


def measure(mode: str) -> None:
    """One worker process: "plain" interleaved with the agent ("up": sending to the server, and the full-stacks
    recorder; "down": pointed at a closed port)."""
    setup_databases(verbosity=0, interactive=False, aliases={"default"})
    seed()
    target = os.environ["BENCH_SERVER_URL"] if mode == "up" else closed_port_url()
    wrappers = connection.execute_wrappers
    hook = query_hook(connection.alias, connection.vendor)
    plain_mw = [m for m in settings.MIDDLEWARE if "querysight" not in m]

    def plain() -> tuple[float, float]:
        wrappers[:] = []
        return timed(plain_client)

    def agent() -> tuple[float, float]:
        wrappers[:] = [hook]
        elapsed = timed(agent_client)
        return elapsed

    recorder = FullStackRecorder()

    def full_stacks() -> tuple[float, float]:
        wrappers[:] = [recorder]
        recorder.queries.clear()
        return timed(plain_client)

    plain_client = Client()
    with override_settings(MIDDLEWARE=plain_mw):
        plain_client.get(
            PATH
        )  # the client's handler loads its middleware chain once, on its first request
    config.configure(url=target, enabled=True, console=False, overlay=False)
    agent_client = Client()
    variants = {"plain": plain, f"agent, server {mode}": agent}
    if mode == "up":
        variants["full stacks"] = full_stacks
    samples, extra = run_rounds(variants, ROUNDS)
    report_samples(samples, extra)


if __name__ == "__main__":
    agent_bench_support.main(
        __file__,
        ROOT,
        measure,
        QUERIES,
        f"{QUERIES} primary-key lookups per request on SQLite, {ROUNDS} requests per variant and process, interleaved",
        "django",
    )
