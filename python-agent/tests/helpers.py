"""Small helpers shared by the agent's tests (no sleeping: wait for conditions)."""

from __future__ import annotations

import datetime
import decimal
import enum
import gzip
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


class Color(enum.IntEnum):
    """A parameter of an int subclass."""

    RED = 1


class Opaque:
    """A parameter JSON cannot hold, shown by its str()."""

    def __str__(self) -> str:
        return "opaque!"


class Unprintable:
    """A parameter whose str() fails."""

    def __str__(self) -> str:
        raise ValueError("nope")


# Parameter values of every kind and what their JSON-safe form is (querysight.recorder.json_safe, max length 256).
_RELEASED = memoryview(b"gone")
_RELEASED.release()  # (the app released it after the query)

JSON_SAFE_CASES: list[tuple[Any, Any]] = [
    ("text", "text"),
    (3, 3),
    (2.5, 2.5),
    (True, True),
    (None, None),
    (float("nan"), "nan"),
    (float("inf"), "inf"),
    (Color.RED, 1),
    (decimal.Decimal("1.10"), "1.10"),
    (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    (datetime.datetime(2024, 1, 2, 3, 4, 5), "2024-01-02T03:04:05"),
    (datetime.date(2024, 1, 2), "2024-01-02"),
    (datetime.time(3, 4), "03:04:00"),
    (datetime.timedelta(seconds=90), "0:01:30"),
    (2**53 - 1, 2**53 - 1),
    (-(2**53) + 1, -(2**53) + 1),
    (2**53, "9007199254740992"),  # beyond JavaScript's safe integers: a string, or the server loses its last digits
    (-(2**64) - 1, "-18446744073709551617"),
    (b"abc", "abc"),
    (bytearray(b"\xff\x00"), "base64:/wA="),
    (memoryview(b"xy"), "xy"),
    (_RELEASED, "<memoryview>"),
    (("é" * 200).encode(), "é" * 200),  # 400 bytes: cut (at 4 bytes a character) in the middle of none
    (("é" * 600).encode(), "é" * 256 + "…"),  # cut in the middle of a character: still text
    ([1, "a", [decimal.Decimal("2")]], [1, "a", ["2"]]),
    ({"k": uuid.UUID(int=2)}, {"k": "00000000-0000-0000-0000-000000000002"}),
    (Opaque(), "opaque!"),
    (Unprintable(), "<Unprintable>"),
]


def until(predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    """The batches written so far: complete lines only, since a test may read while the agent of another process is
    still appending one (a line is written with one ``os.write``, which readers can see half done)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]


class Received:
    def __init__(self, headers: dict[str, str], raw: bytes, body: Any, path: str = "/api/v1/ingest") -> None:
        self.path = path
        self.headers = headers
        self.raw = raw
        self.body = body


class Receiver:
    """A real HTTP server on 127.0.0.1 that stands in for the querysight server in transport tests.

    ``mode`` decides the answer: ``ok`` (202 + JSON), ``error`` (500), ``garbage`` (200, not JSON),
    ``reject`` (400), ``not found`` (404, HTML), ``bad request`` (400, HTML), ``other protocol`` (400 for a
    protocol version), ``hang`` (holds the request until ``release()``, then closes it
    unanswered), ``slow`` (holds it until ``release()``, then answers as ``ok``). ``script`` lists the modes of the
    next requests, one each, before ``mode`` applies again.
    """

    def __init__(self) -> None:
        self.mode = "ok"
        self.script: list[str] = []
        self.requests: list[Received] = []
        self.attempts = 0
        self._released = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                with receiver._lock:
                    receiver.attempts += 1
                    mode = receiver.script.pop(0) if receiver.script else receiver.mode
                if mode in ("hang", "slow"):
                    receiver._released.wait(30)
                    if mode == "hang":
                        return
                if mode == "error":
                    self._answer(500, b'{"error":{"code":"internal","message":"boom"}}')
                    return
                if mode == "reject":
                    self._answer(400, b'{"error":{"code":"invalid_payload","message":"no"}}')
                    return
                if mode == "not found":  # what an app that is not querysight answers
                    self._answer(404, b"<h1>Not Found</h1>")
                    return
                if mode == "bad request":  # Django's DisallowedHost, say
                    self._answer(400, b"<h1>Bad Request (400)</h1>")
                    return
                if mode == "other protocol":
                    message = (
                        b"protocol: this server speaks protocol 9, got 1; use an agent and server of matching versions"
                    )
                    self._answer(400, b'{"error":{"code":"invalid_payload","message":"' + message + b'"}}')
                    return
                data = gzip.decompress(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
                body = json.loads(data)
                with receiver._lock:
                    receiver.requests.append(Received(dict(self.headers.items()), raw, body, self.path))
                if mode == "garbage":
                    self._answer(200, b"<html>surprise</html>")
                    return
                self._answer(202, json.dumps({"accepted": len(body["units"]), "duplicates": 0}).encode())

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def release(self) -> None:
        self._released.set()

    def units(self) -> list[dict[str, Any]]:
        with self._lock:
            return [unit for request in self.requests for unit in request.body["units"]]

    def close(self) -> None:
        self.release()
        self.server.shutdown()
        self.server.server_close()
