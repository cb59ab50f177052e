"""What the two agent benchmarks share: the real querysight server, a URL nothing listens on, and the summary of
interleaved samples (median wall and request-thread CPU per variant, as ratios to the uninstrumented variant)."""

from __future__ import annotations

import shutil
import socket
import statistics
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

VARIANTS = ["plain", "agent, server up", "agent, server down", "full stacks"]


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


def summarise(
    samples: dict[str, list[tuple[float, float]]],
    queries: int,
    headline: str,
    request_metric: str,
    cpu_row: Callable[[str, float, float, float], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Prints one line per variant and returns the BENCH_JSON rows: the request time with its ratio, and for each
    instrumented variant the row `cpu_row(name, cpu, base_cpu, cpu_per_query_us)` makes."""
    base_wall = statistics.median(s[0] for s in samples["plain"])
    base_cpu = statistics.median(s[1] for s in samples["plain"])
    rows: list[dict[str, Any]] = []
    print(headline)
    for name in VARIANTS:
        if name not in samples:
            print(
                f"  {name:20s} skipped: the server is not built (node server/build.mjs)"
            )
            continue
        wall = statistics.median(s[0] for s in samples[name])
        cpu = statistics.median(s[1] for s in samples[name])
        per_query_us = (wall - base_wall) / queries * 1e6
        cpu_per_query_us = (cpu - base_cpu) / queries * 1e6
        print(
            f"  {name:20s} {wall * 1e3:7.2f} ms/request  x{wall / base_wall:.3f}  {per_query_us:+.1f} µs per query"
            f"  (request thread CPU x{cpu / base_cpu:.3f}, {cpu_per_query_us:+.1f} µs per query)"
        )
        rows.append(
            {
                "metric": f"{request_metric}, {name}",
                "value": round(wall * 1e3, 3),
                "unit": "ms",
                "ratio": round(wall / base_wall, 3),
            }
        )
        if name != "plain":
            rows.append(cpu_row(name, cpu, base_cpu, cpu_per_query_us))
    return rows
