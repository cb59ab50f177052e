"""What the two agent benchmarks share: the real querysight server, a URL nothing listens on, running the measured
variants in several processes, and the summary.

A figure of a few per cent is smaller than how far one process's figure can lie from the next one's (two identical
hooks timed side by side in one process differ by up to 0.02 over 60 rounds), so each benchmark runs its variants in
``BENCH_PROCESSES`` fresh processes one after the other (9 by default), and in each process interleaves them request
by request, in a new order each round. A variant's ratio is, per process, the median over rounds of its request time
divided by the uninstrumented request of the same round; the figure reported is the median of the processes' ratios,
with their spread. "Server up" and "server down" run in processes of their
own, each beside its own uninstrumented variant, because one process's transport is either sending or backing off.
Between two requests, outside the timed window, the agent's sender finishes with its unit (sends it with the server
up, encodes it and keeps it with the server down) within a pause of 15 ms, the same in every process: the sender's
work (wire JSON, gzip, HTTP) would otherwise land in whichever request comes next, the uninstrumented one included,
and a request that follows a longer pause starts colder than one that follows a shorter one. The sender's work so
runs between requests, as it does under runserver; its CPU is measured on its own thread and reported, and added to
the request thread's for the ratio of all the CPU the agent adds.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

VARIANTS = ["plain", "agent, server up", "agent, server down", "full stacks"]
PROCESSES = int(os.environ.get("BENCH_PROCESSES", "9"))
SAMPLES_PREFIX = "BENCH_SAMPLES "

# (wall seconds, request-thread CPU seconds) of one request
Sample = tuple[float, float]


def start_server(root: Path) -> tuple[subprocess.Popen[str] | None, str | None]:
    """`node dist/cli.js serve --port 0 --db :memory:` and its URL; (None, None) when the server is not built."""
    cli, node = root / "dist" / "cli.js", shutil.which("node")
    if not cli.exists() or node is None:
        return None, None
    proc = subprocess.Popen(
        [node, str(cli), "serve", "--port", "0", "--db", ":memory:"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if " listening on " not in line:
        proc.kill()
        return None, None
    return proc, line.rsplit(" ", 1)[1].strip()


def closed_port_url() -> str:
    """A loopback URL with nothing listening: the agent's "server down"."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def sender_cpu() -> float:
    """CPU seconds the agent's sender thread has used so far (0.0 before it started)."""
    from querysight import transport

    thread = transport.transport._thread
    if thread is None or thread.ident is None:
        return 0.0
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


PAUSE = 0.015  # seconds between two timed requests, the sender's work for the previous one included


def settle() -> None:
    """Between two timed requests: the same pause in every process, 15 ms, within which the agent's sender finishes
    with the last unit (sends it with the server up; encodes it and keeps it while the server is down), so that every
    request, of every variant and mode, starts from the same idle state. (Caches cool during a pause: a longer one
    in one mode would make that mode look costlier.)"""
    import querysight

    deadline = time.perf_counter() + PAUSE
    # Returns once the unit is delivered with the server up; while it is down nothing is ever delivered, so this
    # wakes the sender and waits out the pause while it encodes the unit.
    querysight.flush(PAUSE)
    remaining = deadline - time.perf_counter()
    if remaining > 0:
        time.sleep(remaining)


def run_rounds(
    variants: dict[str, Callable[[], Sample]], rounds: int
) -> tuple[dict[str, list[Sample]], dict[str, float]]:
    """Warms each variant up, then times them interleaved, ``rounds`` times in a new order each round so that no
    variant always pays for the one before it (and a different sequence of orders in each process, so that neither
    does one variant in every process); returns the samples and the sender thread's CPU per round (one agent
    unit a round)."""
    for run in variants.values():  # imports, caches, first connections
        for _ in range(5):
            run()
            settle()
    samples: dict[str, list[Sample]] = {name: [] for name in variants}
    order = list(variants)
    shuffle = random.Random(int(os.environ.get("BENCH_PROCESS_INDEX", "0"))).shuffle
    sender_before = sender_cpu()
    for _ in range(rounds):
        shuffle(order)
        for name in order:
            samples[name].append(variants[name]())
            settle()
    extra = {"sender": (sender_cpu() - sender_before) / rounds}
    return samples, extra


def main(
    script: str,
    root: Path,
    measure: Callable[[str], None],
    queries: int,
    headline: str,
    label: str,
) -> None:
    """A benchmark's entry point: in a worker process, ``measure(mode)``; in the parent, the worker processes, the
    summary and the BENCH_JSON line."""
    mode = worker_mode()
    if mode is not None:
        measure(mode)
        return
    reports = run_processes(script, root)
    rows = summarise(reports, queries, headline, label)
    print("BENCH_JSON " + json.dumps({"rows": rows}, ensure_ascii=False))


def worker_mode() -> str | None:
    """The mode this process was started in by :func:`run_processes` ("up" or "down"), None in the parent."""
    return os.environ.get("BENCH_AGENT_MODE")


def report_samples(
    samples: dict[str, list[Sample]], extra: dict[str, float] | None = None
) -> None:
    """A worker's output: its samples, read back by :func:`run_processes`."""
    print(
        SAMPLES_PREFIX + json.dumps({"samples": samples, "extra": extra or {}}),
        flush=True,
    )


def run_processes(script: str, root: Path) -> list[dict[str, Any]]:
    """Runs ``script`` in "up" and "down" processes, alternately, ``PROCESSES`` times each, and returns their
    reports (without a built server, only the "down" processes run)."""
    server, url = start_server(root)
    reports: list[dict[str, Any]] = []
    try:
        modes = (["up"] if url else []) + ["down"]
        for index in range(PROCESSES):
            for mode in modes:
                env = {
                    **os.environ,
                    "BENCH_AGENT_MODE": mode,
                    "BENCH_PROCESS_INDEX": str(index),
                    "BENCH_SERVER_URL": url or "",
                }
                run = subprocess.run(
                    [sys.executable, script],
                    env=env,
                    cwd=root,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                lines = [
                    line
                    for line in run.stdout.splitlines()
                    if line.startswith(SAMPLES_PREFIX)
                ]
                if run.returncode != 0 or not lines:
                    sys.stderr.write(run.stdout + run.stderr)
                    raise SystemExit(
                        f"the {mode} benchmark process failed (exit {run.returncode})"
                    )
                reports.append(
                    {"mode": mode, **json.loads(lines[-1][len(SAMPLES_PREFIX) :])}
                )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    return reports


def _paired_ratios(samples: dict[str, list[Sample]], name: str, index: int) -> float:
    """Median over rounds of the variant's request divided by the uninstrumented request of the same round."""
    return statistics.median(
        s[index] / p[index]
        for s, p in zip(samples[name], samples["plain"], strict=True)
    )


def summarise(
    reports: list[dict[str, Any]],
    queries: int,
    headline: str,
    label: str,
) -> list[dict[str, Any]]:
    """Prints one line per variant and returns the BENCH_JSON rows: the request time with its ratio, and for each
    instrumented variant the request thread's extra CPU per query with its ratio."""
    rows: list[dict[str, Any]] = []
    print(headline)
    plain = [statistics.median(s[0] for s in r["samples"]["plain"]) for r in reports]
    base_wall = statistics.median(plain)
    plain_cpu = [
        statistics.median(s[1] for s in r["samples"]["plain"]) for r in reports
    ]
    print(
        f"  {'plain':20s} {base_wall * 1e3:7.2f} ms/request  (median of {len(reports)} processes)"
    )
    rows.append(
        {
            "metric": f"{label} request, plain",
            "value": round(base_wall * 1e3, 3),
            "unit": "ms",
            "ratio": 1,
        }
    )
    for name in VARIANTS[1:]:
        mine = [r for r in reports if name in r["samples"]]
        if not mine:
            print(
                f"  {name:20s} skipped: the server is not built (node server/build.mjs)"
            )
            continue
        walls = [statistics.median(s[0] for s in r["samples"][name]) for r in mine]
        ratios = sorted(_paired_ratios(r["samples"], name, 0) for r in mine)
        cpu_ratios = sorted(_paired_ratios(r["samples"], name, 1) for r in mine)
        ratio, cpu_ratio = statistics.median(ratios), statistics.median(cpu_ratios)
        cpu_per_query_us = (
            (cpu_ratio - 1) * statistics.median(plain_cpu) / queries * 1e6
        )
        spread = f"{len(mine)} processes: " + ", ".join(f"{x:.3f}" for x in ratios)
        print(
            f"  {name:20s} {statistics.median(walls) * 1e3:7.2f} ms/request  x{ratio:.3f} ({spread})"
            f"  request thread CPU x{cpu_ratio:.3f}, {cpu_per_query_us:+.1f} µs per query"
        )
        rows.append(
            {
                "metric": f"{label} request, {name}",
                "value": round(statistics.median(walls) * 1e3, 3),
                "unit": "ms",
                "ratio": round(ratio, 3),
                "note": f"median of per-round ratios in each process; {spread}",
            }
        )
        cpu_spread = f"{len(mine)} processes: " + ", ".join(
            f"{x:.3f}" for x in cpu_ratios
        )
        rows.append(
            {
                "metric": f"{label} request thread CPU per query, {name}",
                "value": round(cpu_per_query_us, 2),
                "unit": "µs",
                "ratio": round(cpu_ratio, 3),
                "note": f"extra CPU of the request thread (excludes the agent's sender thread); {cpu_spread}",
            }
        )
        senders = (
            [r["extra"]["sender"] for r in mine if "sender" in r["extra"]]
            if name.startswith("agent")
            else []
        )
        if senders:
            totals = sorted(
                (
                    statistics.median(s[1] for s in r["samples"][name])
                    + r["extra"]["sender"]
                )
                / statistics.median(s[1] for s in r["samples"]["plain"])
                for r in mine
            )
            sender = statistics.median(senders)
            print(
                f"  {'':20s} sender thread CPU {sender * 1e3:.2f} ms per request; request thread + sender CPU"
                f" x{statistics.median(totals):.3f}"
            )
            rows.append(
                {
                    "metric": f"{label} sender thread CPU per request, {name}",
                    "value": round(sender * 1e3, 3),
                    "unit": "ms",
                    "note": "on the agent's own thread: the wire JSON of each unit, and gzip and HTTP while the server is up",
                }
            )
            rows.append(
                {
                    "metric": f"{label} request thread + sender CPU, {name}",
                    "value": None,
                    "ratio": round(statistics.median(totals), 3),
                    "note": "all the CPU the agent adds per request, as a ratio to the uninstrumented request; "
                    + f"{len(mine)} processes: "
                    + ", ".join(f"{x:.3f}" for x in totals),
                }
            )
    return rows
