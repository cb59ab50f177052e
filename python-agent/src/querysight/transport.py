"""Getting finished units to the server without ever making the application wait.

The application's thread only calls :func:`submit`, which puts the unit in a queue with ``put_nowait``; past
``queue_size`` units or ``queue_queries`` queries waiting, new units are dropped and counted. One daemon worker thread
per process takes units off the queue, turns each into wire JSON (``_wire``) as soon as it arrives, and sends them in
batches: every 100 ms, or as soon as 200 units are waiting.

- HTTP: ``POST <url>/api/v1/ingest`` through ``http.client``, gzip above 8 KB, ``Authorization: Bearer <token>``
  when a token is set. A batch that cannot be delivered (connection refused, timeout, 5xx, an answer that is not
  JSON) is retried with a backoff of 1 s, 2 s, 4 s … up to 30 s while the server is down; meanwhile new units are
  encoded as they come and wait as JSON text, not as the application's objects. A 4xx answer means the body itself
  is wrong: it is dropped (and logged once), never retried. A batch above ``max_body_bytes`` goes as several bodies
  (see :func:`_bodies`); a retry sends only those that did not go.
- ``QUERYSIGHT_OUTPUT``: each batch is appended as one NDJSON line to that file instead (one ``write`` per line, so
  several processes can share the file).
- The schema (``app`` integration's ``schema_provider``) goes with the first batch of the process, again with the
  first batch after a delivery failure (the server may have restarted with an empty store), again when the models
  changed (``schema_version``: SQLAlchemy models configured after the first batch, a second declarative base), and again
  every ``schema_every`` seconds (300 by default) in case a restart went unnoticed between two batches.
- Fork safety: the child of a ``fork()`` gets a fresh queue and starts its own worker on its first unit.
- :func:`flush` waits until everything queued so far is delivered or the timeout passes; it never hangs. It runs
  at exit with ``exit_flush_timeout`` (2 s).
"""

from __future__ import annotations

import atexit
import contextlib
import gzip
import http.client
import json
import os
import queue
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from . import _guard, _wire, config
from .recorder import Unit

PROTOCOL_VERSION = 1
AGENT_NAME = "querysight-python"
GZIP_ABOVE = 8 * 1024


def _agent_version() -> str:
    from . import __version__

    return __version__


class AppInfo:
    """What the integration tells about the application (framework-neutral)."""

    def __init__(self) -> None:
        self.name: str | None = None
        self.framework: str | None = None
        self.framework_version: str | None = None
        self.origin: str | None = None
        self.schema_provider: Callable[[], dict[str, Any] | None] | None = None
        # Something cheap that changes when the schema would (the number of configured models), asked before each batch.
        self.schema_version: Callable[[], Any] | None = None
        # The program's name, taken when the first unit is handed over: at exit, when a short script's units are
        # sent, ``__main__`` may no longer say which program it was.
        self.program: str | None = None

    def to_wire(self, settings: config.Settings) -> dict[str, Any]:
        return {
            "name": settings.app_name or self.name or self.program or _default_app_name(),
            "framework": self.framework,
            "framework_version": self.framework_version,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "origin": self.origin,
        }


def _default_app_name() -> str:
    """The program's name, or under a server or runner that loads the app (``uvicorn shop.main:app``, ``flask --app
    shop run``), the app's top package: one project is then one app whichever way it runs. Else the directory."""
    main = sys.modules.get("__main__")
    parts = re.split(r"[\\/]", getattr(main, "__file__", None) or os.getcwd())  # (either separator: Windows paths)
    name = os.path.splitext(parts[-1])[0]
    if name == "__main__" and len(parts) > 1:  # python -m a.package, or a Windows script's uvicorn.exe\\__main__.py
        name = parts[-2]
    if name.lower().endswith(".exe"):
        name = name[:-4]
    if name in _LAUNCHERS:
        name = _app_in_argv(name, sys.argv[1:]) or ""
    if name in ("manage", "__main__", "pytest", ""):
        name = os.path.basename(os.getcwd())
    return name or "app"


_LAUNCHERS = frozenset(
    {"uvicorn", "gunicorn", "hypercorn", "daphne", "granian", "flask", "celery", "fastapi", "waitress-serve"}
)
# An app given as module:attribute (`shop.main:app`, `shop:create_app()`), not host:port.
_APP_SPEC = re.compile(r"^([A-Za-z_][\w.]*):[A-Za-z_][\w.]*(\(.*\))?$")
# What a launcher takes in the same shape that is not the app: a socket (unix:), a config (python:, file:).
_NOT_AN_APP = ("unix:", "python:", "file:", "fd:", "tcp:")
# Options whose value is the next argument and never the app (a config file, an address, a class, a directory).
_OPTION_VALUES = frozenset(
    {
        "-c",
        "--config",
        "-b",
        "--bind",
        "-k",
        "--worker-class",
        "--log-config",
        "--uds",
        "--host",
        "--port",
        "-w",
        "--workers",
        "--app-dir",
        "--root-path",
        "--env-file",
        "--chdir",
        "--pid",
        "--pythonpath",
        "--name",
        "-n",
    }
)


def _app_in_argv(launcher: str, args: list[str]) -> str | None:
    """The top package of the app a launcher was told to load: ``--app``/``-A`` (Flask, Celery), a ``module:attr``
    argument (uvicorn, gunicorn, hypercorn, daphne, granian) or, for ``fastapi run``, a script."""
    skip = False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        value = None
        if arg in ("--app", "-A") and i + 1 < len(args):
            value = args[i + 1]
        elif arg.startswith("--app="):
            value = arg[len("--app=") :]
        elif arg in _OPTION_VALUES:
            skip = True
        elif _APP_SPEC.match(arg) and not arg.startswith(_NOT_AN_APP):
            value = arg
        elif launcher == "fastapi" and arg.endswith(".py") and not arg.startswith("-"):
            return os.path.splitext(os.path.basename(arg))[0]
        if value:
            return value.split(":")[0].split(".")[0] or None
    return None


app = AppInfo()


class DeliveryError(Exception):
    """The body did not reach the server; retry later."""


class RejectedError(Exception):
    """The server refused the body itself (4xx), or its URL is not one to send to; retrying would not help."""

    def __init__(self, message: str, status: int | None = None, *, agents_fault: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.agents_fault = agents_fault  # a payload the querysight server finds invalid: a bug of the agent's


# What to do about a refusal that comes from how the agent or the server is set up, when the server's own message
# may not say it. Every refusal is one (a URL that is not http, a unit over max_body_bytes, a token, another server)
# but the querysight server's 400 for a payload it finds invalid, the agent's fault (a protocol version apart).
_REFUSAL_HINTS: dict[int, str] = {
    401: "QUERYSIGHT_TOKEN (or the TOKEN setting) must be the token the server was started with",
    404: "is QUERYSIGHT_URL the querysight server's address (not the app's)?",
    405: "is QUERYSIGHT_URL the querysight server's address (not the app's)?",
    413: "a batch is over the server's size limit: lower max_body_bytes",
}


_AGENT_FAULTS = ("invalid_payload", "invalid_json", "invalid_gzip")  # error codes of the querysight server's 400s


class Transport:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reset_state()

    def _reset_state(self, *, end_previous: bool = True) -> None:
        previous: queue.SimpleQueue[Any] | None = getattr(self, "_queue", None)
        previous_wake: threading.Event | None = getattr(self, "_wake", None)
        # Bounded by submit() (see there). A SimpleQueue: its put() is one C call, on the application's thread.
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._wake = threading.Event()
        self._idle = threading.Condition(threading.Lock())
        self._later: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()  # see finish_later()
        self._pending = 0  # units submitted and neither delivered nor given up on
        self._pending_queries = 0  # the queries those units hold (memory while the server is down)
        self._in_flight = 0  # of those, the units of the batch being sent
        self.dropped = 0
        self.sent_batches = 0
        self.failed_attempts = 0
        self.refused = 0  # units dropped because the server refused their body (see _refused)
        self._refusals_logged: set[int | str] = set()
        self._schema_due = True
        self._schema_sent_at = 0.0
        # The app name the last schema went with, and the one the batch being sent carries it for: the server keeps a
        # schema per app, and the name can change (a script's, then its Flask app's at the first request).
        self._schema_app: str | None = None
        self._schema_app_sending: str | None = None
        self._schema_version: Any = None  # app.schema_version() when the last schema was built, likewise
        self._schema_version_sending: Any = None
        self._backing_off = False  # the last delivery failed: probe the server before encoding the next attempt
        self._shutdown_said = False  # flush_before_shutdown() warned of undelivered units once
        self._stopping = False
        self._flush_gave_up = False  # a flush gave up while the server was unreachable, and no unit came since
        self._generation = getattr(self, "_generation", 0) + 1
        if previous is not None and end_previous:
            # The worker left behind waits on one of them: it wakes, sees the new generation and ends.
            _nudge(previous)
            if previous_wake is not None:
                previous_wake.set()

    # ---- application side -------------------------------------------------------------------------------------

    def submit(self, unit: Unit) -> None:
        """Hand a finished unit to the worker; never blocks and never touches the network."""
        if self._pid != os.getpid():  # a fork() that register_at_fork did not see (e.g. os.fork in C code)
            self._after_fork()
        if not self._later.empty():
            self._run_later()
        if app.program is None:
            app.program = _default_app_name()
        size = len(unit.queries)
        settings = config.current()
        with self._idle:
            self._flush_gave_up = False
            # The worker takes units off the queue as they come, so what is bounded is the units it holds that are not
            # being sent yet (queued or encoded), and the queries of all it holds.
            waiting = self._pending - self._in_flight
            full = self._pending > 0 and (
                self._pending_queries + size > settings.queue_queries or waiting >= settings.queue_size
            )
            if full:
                self.dropped += 1
            else:
                self._pending += 1
                self._pending_queries += size
            batch_ready = waiting + 1 >= settings.batch_size and not self._backing_off
        if full:
            if self.dropped == 1:
                _guard.logger.warning(
                    "querysight: %s (%d queries) wait to be sent to %s; dropping new ones until it answers",
                    _units(self._pending),
                    self._pending_queries,
                    settings.server_url,
                )
            return
        self._queue.put_nowait(unit)  # wakes the worker only while it sleeps on the queue (see _collect)
        if batch_ready:
            self._wake.set()  # a whole batch waits: the polling worker sends it now
        self._ensure_worker()

    def unreachable(self) -> bool:
        """The last delivery did not reach the server (it is retried with backoff); False before the first one."""
        return self._backing_off

    def finish_later(self, finish: Callable[[], None]) -> None:
        """Have ``finish`` (which ends a unit and submits it) run soon, by the worker or the next submit or flush.

        For finalizers: one may run inside any code, the agent's own sections that hold a lock included, so it must
        not submit a unit itself. ``SimpleQueue.put`` is safe there (it takes no lock a Python thread could hold)."""
        self._later.put_nowait(finish)
        _nudge(self._queue)

    def _run_later(self) -> None:
        while True:
            try:
                finish = self._later.get_nowait()
            except queue.Empty:
                return
            with _guard.guard("finish a unit left behind"):
                finish()

    def flush(self, timeout: float = 2.0, *, while_answering: bool = False) -> bool:
        """Wait until all submitted units are delivered (or given up on); False when the timeout passed first, or, with
        ``while_answering``, as soon as the server is found down (refused, say) rather than slow."""
        self._run_later()
        deadline = time.monotonic() + max(timeout, 0.0)
        idle = self._idle  # the one it holds, should a reset() (tests) replace it while it waits
        with idle:
            if self._pending > 0:
                _nudge(self._queue)  # a worker asleep on the queue wakes and sends what there is
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (while_answering and self._backing_off):
                    # While the server is unreachable (not merely slower than the timeout), the exit need not wait
                    # for these units again.
                    self._flush_gave_up = self._backing_off
                    return False
                if self._pending > self._in_flight:  # not while the worker sends the last batch: nothing to take
                    self._wake.set()  # again each turn: the worker clears it when it takes units
                idle.wait(min(remaining, 0.05))
        return True

    def _ensure_worker(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            thread = threading.Thread(target=self._run, name="querysight-transport", daemon=True)
            self._thread = thread
            thread.start()

    def _after_fork(self) -> None:
        self._lock = threading.Lock()
        # The parent's worker is not in this process, and the lock of its event may have been held at the fork.
        self._reset_state(end_previous=False)

    def reset(self) -> None:
        """Start over with an empty queue and counters (the agent's tests use it between tests)."""
        with self._lock:
            self._reset_state()

    # ---- worker side ------------------------------------------------------------------------------------------

    def _run(self) -> None:
        """Take units off the queue and turn them into wire JSON at once, then deliver them in batches.

        Units are encoded as soon as they are collected, also while the server is down: a waiting unit is then a few
        strings instead of the application's objects (its query tuples, parameters and floats), so the memory the
        application's thread allocated for them goes back to it for its next request, and there is nothing in them
        for its garbage collector to look at. While deliveries fail, the worker waits for new units or the next
        retry, whichever comes first.
        """
        own_queue, own_wake, generation = self._queue, self._wake, self._generation
        outbox: list[tuple[_wire.EncodedUnit, int]] = []  # encoded, not yet delivered: (unit, its queries)
        delays: Iterator[float] | None = None  # the backoff, while deliveries fail
        retry_at = 0.0
        last_unit_at = -_QUIET_AFTER  # when the worker last took a unit: it starts asleep on the queue
        while not self._stale(generation):  # stop(), or a reset (fork, tests) that leaves this worker behind
            self._run_later()
            settings = config.current()
            retry_in = max(retry_at - time.monotonic(), 0.0) if outbox else None
            polling = time.monotonic() - last_unit_at < _QUIET_AFTER
            units = self._collect(own_queue, own_wake, retry_in, settings, polling=polling)
            if units:
                last_unit_at = time.monotonic()
            self._encode_into(outbox, units, generation)
            while outbox and time.monotonic() >= retry_at and self._generation == generation:
                settings = config.current()
                if self._deliver(outbox, settings, generation):
                    delays, retry_at = None, 0.0
                    continue
                if self._stale(generation):
                    return
                delays = delays or backoff(settings.backoff_initial, settings.backoff_max)
                retry_at = time.monotonic() + next(delays)

    def _collect(
        self,
        own_queue: queue.SimpleQueue[Any],
        own_wake: threading.Event,
        retry_in: float | None,
        settings: config.Settings,
        *,
        polling: bool,
    ) -> list[Unit]:
        """The units of the next batch, up to a batch: those queued within the batch interval, or by the time the
        outbox's next retry is due (``retry_in`` seconds; None when nothing waits for a retry).

        While units keep coming (``polling``: the last one came less than a second ago), the worker does not wait on
        the queue: it sleeps out the batch interval on its ``_wake`` Event and then takes what is queued, so that the
        application's thread, putting a unit in the queue, wakes nobody. (Waking a thread that sleeps on another CPU
        costs the waker tens of microseconds in a virtual machine, on every request.) The Event ends the sleep early
        when a flush waits or a whole batch is queued. Once units stop coming, the worker sleeps on the queue itself,
        so that an idle process has an idle worker, and the next unit wakes it.
        """
        batch: list[Unit] = []
        interval = settings.batch_interval
        sleep = interval if retry_in is None else min(retry_in, interval)
        if not polling or interval <= 0:  # (an interval of 0 sends each unit at once: nothing to poll for)
            timeout = 0.5 if retry_in is None else retry_in  # (0.5: a stale worker looks at its generation)
            try:
                first = own_queue.get(timeout=timeout) if timeout > 0 else own_queue.get_nowait()
            except queue.Empty:
                return batch
            if first is _NUDGE:  # a flush, a reset or stop(): take what is there, without waiting
                sleep = 0.0
            else:
                batch.append(first)
        if sleep > 0:
            own_wake.wait(sleep)
        own_wake.clear()  # before taking units: a flush or a whole batch arriving from now on is seen next turn
        while len(batch) < max(settings.batch_size, 1):
            try:
                unit = own_queue.get_nowait()
            except queue.Empty:
                break
            if unit is not _NUDGE:
                batch.append(unit)
        if len(batch) >= settings.batch_size and not own_queue.empty():
            own_wake.set()  # another batch is already waiting: no sleep before taking it
        return batch

    def _encode_into(self, outbox: list[tuple[_wire.EncodedUnit, int]], units: list[Unit], generation: int) -> None:
        """Encode each unit into the outbox (no reference to the units is left once this returns)."""
        while units:
            unit = units.pop(0)
            size = len(unit.queries)
            encoded = None
            with _guard.guard("encode a unit"):
                encoded = _wire.encode_unit(unit)
            del unit  # the application's objects go now, not when the next unit comes
            if encoded is not None:
                outbox.append((encoded, size))
            else:
                self._done(1, size, generation)

    # The worker changes the transport's state only through these three, each under the lock that reset() holds
    # while it starts a new generation: a worker left behind by a reset (tests) still finishing a request must not
    # change the counters or flags of the generation after it. (It may still read them, which only decides what it
    # sends itself.)

    def _done(self, units: int, queries: int, generation: int) -> None:
        with self._lock, self._idle:
            if self._generation == generation:
                self._pending -= units
                self._pending_queries -= queries
                self._idle.notify_all()

    def _set_in_flight(self, units: int, generation: int) -> None:
        with self._lock, self._idle:
            if self._generation == generation:
                self._in_flight = units

    def _after_attempt(
        self, generation: int, *, answered: bool, delivered: bool = False, schema_sent: bool = False
    ) -> None:
        """What a delivery attempt tells: whether it ended without reaching the server (``answered`` False: back off)
        or with an answer or a refusal that retrying would not change, and whether the batch and its schema went."""
        with self._lock:
            if self._generation != generation:
                return
            if not answered:
                self.failed_attempts += 1
                self._schema_due = True  # it may come back as a new server with an empty store
                self._backing_off = True
                return
            self._backing_off = False
            if delivered:
                self.sent_batches += 1
            if schema_sent:
                self._schema_due = False
                self._schema_sent_at = time.monotonic()
                self._schema_app = self._schema_app_sending
                self._schema_version = self._schema_version_sending

    def _stale(self, generation: int) -> bool:
        return self._stopping or self._generation != generation

    def _deliver(self, outbox: list[tuple[_wire.EncodedUnit, int]], settings: config.Settings, generation: int) -> bool:
        """Send the first batch of the outbox; True when it is done with (delivered, or refused and dropped), False
        when it could not be delivered and stays for a retry: all of it, or the part after the bodies that went when
        it was split (see :func:`_bodies`)."""
        batch = outbox[: max(settings.batch_size, 1)]
        self._set_in_flight(len(batch), generation)
        went = 0  # units of the batch in bodies the server took or refused (a retry would not change those)
        rest_waits = False  # a body could not be delivered after others went: those after it wait for the retry
        try:
            envelope = None
            with _guard.guard("build a batch"):
                envelope = self._envelope(settings)
            if envelope is not None:
                taken: list[bool] = []
                for count, body_taken in self._send(envelope, [unit for unit, _ in batch], settings):
                    went += count
                    taken.append(body_taken)
                first_taken = taken[:1] == [True]  # the schema travels in the first body
                # sent_batches counts the batches whose every body the server took
                self._after_attempt(
                    generation, answered=True, delivered=all(taken), schema_sent=first_taken and "schema" in envelope
                )
        except DeliveryError as exc:
            if not self._backing_off:  # once per outage: the app's console keeps printing links meanwhile
                _guard.logger.warning(
                    "querysight: %s; units wait (up to %d) and are sent when it answers", exc, settings.queue_size
                )
            self._after_attempt(generation, answered=False)
            if not went:
                return False
            batch, rest_waits = batch[:went], True  # from here on, `batch` is the part done with
        except RejectedError as exc:  # before any body: the URL is not one to send to
            self._after_attempt(generation, answered=True)
            self._refused(exc, len(batch))
        except Exception as exc:  # noqa: BLE001 - the worker must survive anything
            _guard.report("send a batch", exc)
        finally:
            self._set_in_flight(0, generation)
        del outbox[: len(batch)]
        self._done(len(batch), sum(size for _, size in batch), generation)
        return not rest_waits

    def _envelope(self, settings: config.Settings) -> dict[str, Any]:
        """Everything of a batch but its units."""
        envelope: dict[str, Any] = {
            "protocol": PROTOCOL_VERSION,
            "agent": {"name": AGENT_NAME, "version": _agent_version()},
            "app": app.to_wire(settings),
        }
        now = time.monotonic()
        name = envelope["app"].get("name")
        if app.schema_provider is None:
            return envelope
        version = None
        if app.schema_version is not None:
            with _guard.guard("read the schema's version"):
                version = app.schema_version()
        if (
            self._schema_due
            or name != self._schema_app
            or version != self._schema_version
            or now - self._schema_sent_at >= settings.schema_every
        ):
            schema = None
            with _guard.guard("build the schema"):
                schema = app.schema_provider()
            if schema is not None:
                envelope["schema"] = schema
                self._schema_app_sending = name
                self._schema_version_sending = version
        return envelope

    def _send(
        self, envelope: dict[str, Any], units: list[_wire.EncodedUnit], settings: config.Settings
    ) -> Iterator[tuple[int, bool]]:
        """Send the batch's bodies in order; for each, how many of ``units`` it carried and whether the server took it
        (False: it refused the body, which a retry would not change; reported, and its units dropped). A body that
        could not be delivered raises DeliveryError: the bodies before it went, it and the rest did not."""
        if not settings.output and self._backing_off:
            self._reachable(settings)  # while the server is down, do not assemble bodies nobody will take
        for body, count in _bodies(envelope, units, settings.max_body_bytes):
            if body is None:
                self._refused(RejectedError(f"a unit is over the body limit ({settings.max_body_bytes} bytes)"), count)
                yield count, False
                continue
            try:
                if settings.output:
                    self._write_ndjson(settings.output, body)
                else:
                    self._post(settings, body)
            except RejectedError as exc:
                self._refused(exc, count)
                yield count, False
            else:
                yield count, True

    @staticmethod
    def _write_ndjson(path: str, body: bytes) -> None:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:  # a folder that does not exist, a path without write permission: the setup's to fix
            raise RejectedError(f"cannot write QUERYSIGHT_OUTPUT={path!r}: {exc.strerror or exc}") from exc
        try:
            data = body + b"\n"
            while data:
                written = os.write(fd, data)
                data = data[written:]
        finally:
            os.close(fd)

    @staticmethod
    def _reachable(settings: config.Settings) -> None:
        """Raise DeliveryError when nothing accepts a connection at the server's address."""
        url = _server_address(settings)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            socket.create_connection((url.hostname, port), timeout=settings.http_timeout).close()
        except OSError as exc:
            raise DeliveryError(f"could not reach {settings.server_url}: {exc}") from exc

    @staticmethod
    def _post(settings: config.Settings, body: bytes) -> None:
        url = _server_address(settings)
        headers = {"Content-Type": "application/json", "User-Agent": f"{AGENT_NAME}/{_agent_version()}"}
        if len(body) > GZIP_ABOVE:
            body = gzip.compress(body, compresslevel=1)  # SQL and stacks repeat: level 1 gets most of it, fast
            headers["Content-Encoding"] = "gzip"
        if settings.token:
            headers["Authorization"] = f"Bearer {settings.token}"
        conn_class = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
        conn = conn_class(url.hostname, url.port, timeout=settings.http_timeout)
        try:
            conn.request("POST", url.path.rstrip("/") + "/api/v1/ingest", body=body, headers=headers)
            response = conn.getresponse()
            answer = response.read(1024 * 1024)
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            raise DeliveryError(f"could not reach {settings.server_url}: {exc}") from exc
        finally:
            conn.close()
        if 400 <= status < 500:
            code, text = _error_of(answer)
            raise RejectedError(
                f"the server at {settings.server_url} refused a batch ({status}: {text})",
                status,
                # The querysight server's refusals of what the agent wrote; its protocol check is the setup's.
                agents_fault=code in _AGENT_FAULTS and not text.startswith("invalid_payload: protocol:"),
            )
        if status != 202 and not 200 <= status < 300:
            raise DeliveryError(f"the server at {settings.server_url} answered {status}")
        try:
            json.loads(answer)
        except ValueError as exc:
            raise DeliveryError(f"{settings.server_url} answered {status} with a body that is not JSON") from exc

    def _refused(self, exc: RejectedError, units: int) -> None:
        """A body the server refused (or that cannot be sent): its units are dropped, which a retry would not change.
        A refusal of the setup's (a token, a URL, a size, another server) is a warning saying what to do, once per
        kind (the units are counted); a payload the querysight server finds invalid is an error of the agent's."""
        self.refused += units
        if exc.agents_fault:
            _guard.report("send a batch the server accepts", exc)
            return
        kind = exc.status or str(exc)
        if kind in self._refusals_logged:
            return
        self._refusals_logged.add(kind)
        hint = _REFUSAL_HINTS.get(exc.status or 0)
        _guard.logger.warning(
            "querysight: %s; %s dropped%s (further refusals like it are counted, not logged)",
            exc,
            _units(units),
            f"; {hint}" if hint else "",
        )

    def stop(self, timeout: float) -> bool:
        """Flush, then make a worker stuck in backoff give up (at exit). The flush does not wait again for units an
        earlier flush already waited for in vain (pytest's session end, then exit): ``timeout`` bounds the exit."""
        done = self.flush(0.0 if self._flush_gave_up else timeout)
        self._stopping = True
        _nudge(self._queue)  # a worker waiting for its next retry wakes and gives up
        self._wake.set()
        return done


def _error_of(answer: bytes) -> tuple[str | None, str]:
    """The code and the text of the server's error answer (``{"error": {"code": ..., "message": ...}}``); no code
    and the answer's start when it is not one (another server answered)."""
    try:
        error = json.loads(answer)["error"]
        return str(error["code"]), f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return None, repr(answer[:500])


def _server_address(settings: config.Settings) -> Any:
    url = urlsplit(settings.server_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise RejectedError(f"QUERYSIGHT_URL {settings.url!r} is not an http(s) URL like http://127.0.0.1:8321")
    return url


_NUDGE = object()  # put in a worker's queue to wake it (never a unit)
_QUIET_AFTER = 1.0  # seconds without a unit after which the worker sleeps on its queue instead of polling it


def _nudge(own_queue: queue.SimpleQueue[Any]) -> None:
    own_queue.put_nowait(_NUDGE)


def backoff(initial: float, maximum: float) -> Iterator[float]:
    """Seconds to wait before each retry: 1, 2, 4, 8, 16, 30, 30, ... with the defaults."""
    delay = initial
    while True:
        yield min(delay, maximum)
        delay = min(delay * 2, maximum)


def _encode(envelope: dict[str, Any], units: list[_wire.EncodedUnit]) -> bytes:
    # ASCII output, as the units' texts: lone surrogates in app strings become escapes such as \\udc80 instead of
    # failing to encode. No circular check: the envelope is built by the agent.
    # One unit at a time: a single C call encoding a whole batch would hold the GIL for milliseconds, and the app's
    # threads (which give it up around every query) would wait for it; between units they get it back. The last
    # join and encode only copy.
    head = _ENCODER.encode(envelope)
    texts = [unit.text() for unit in units]
    return f'{head[:-1]}{"," if len(head) > 2 else ""}"units":[{",".join(texts)}]}}'.encode("ascii")


_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, check_circular=False)


def _bodies(envelope: dict[str, Any], units: list[_wire.EncodedUnit], limit: int) -> list[tuple[bytes | None, int]]:
    """The batch as one body, or split into several when it is larger than the server takes; each with how many of
    ``units`` it carries (in order: the first bodies carry the first units). None for a unit that does not fit even
    without its queries (the schema beside it can be that large with a tiny limit): it is dropped."""
    body = _encode(envelope, units)
    if len(body) <= limit:
        return [(body, len(units))]
    if len(units) > 1:
        half = len(units) // 2
        rest = {key: value for key, value in envelope.items() if key != "schema"}
        return _bodies(envelope, units[:half], limit) + _bodies(rest, units[half:], limit)
    (unit,) = units
    if not unit.count:
        return [(None, 1)]  # never send what the server must refuse
    return _bodies(envelope, [unit.first(unit.count // 2)], limit)


transport = Transport()


def submit(unit: Unit) -> None:
    transport.submit(unit)


def flush(timeout: float = 2.0) -> bool:
    return transport.flush(timeout)


def overlay_wanted(settings: config.Settings) -> bool:
    """Whether pages get the overlay's script tag: when asked for (``OVERLAY``), units go to a server (not to an
    ``OUTPUT`` file), and that server answered the last delivery. While it does not (not started, stopped), the
    browser could not load the script, and every page would print the failed load in its console; the tag comes back
    with the first delivery the server takes (the transport's retry, within ``backoff_max``, 30 s)."""
    return settings.overlay and not settings.output and not transport.unreachable()


def finish_later(finish: Callable[[], None]) -> None:
    transport.finish_later(finish)


def flush_before_shutdown() -> None:
    """Deliver what waits, before a server ends the process without running ``atexit`` (uvicorn re-raises SIGTERM
    after its lifespan shutdown, and the default handler ends the process there). Waits up to the exit timeout while
    the server answers; not for a server already found down, which an app's repeated lifespans (a test client per test)
    would otherwise wait for each time. Says once what could not be delivered."""
    with _guard.guard("flush before shutdown"):
        settings = config.current()
        if not transport.flush(settings.exit_flush_timeout, while_answering=True) and not transport._shutdown_said:
            transport._shutdown_said = True
            _warn_undelivered("before the server shut down", settings)


def _at_exit() -> None:
    with contextlib.suppress(Exception), _guard.guard("flush at exit"):
        settings = config.current()
        said = transport._flush_gave_up  # an earlier flush said so already (the pytest plugin's)
        if not transport.stop(settings.exit_flush_timeout) and not said:
            _warn_undelivered("before exit", settings)


def _warn_undelivered(when: str, settings: config.Settings) -> None:
    _guard.logger.warning(
        "querysight: %s not delivered to %s %s (a batch already sent may still arrive)",
        _units(transport._pending, "was", "were"),
        settings.server_url,
        when,
    )


def _units(count: int, one: str = "", many: str = "") -> str:
    """``1 unit was``, ``3 units were``: a count of units with the verb after it, if any."""
    verb = one if count == 1 else many
    return f"{count} unit{'' if count == 1 else 's'}{' ' + verb if verb else ''}"


def _after_fork_in_child() -> None:
    with _guard.guard("reset the transport after fork"):
        transport._after_fork()


atexit.register(_at_exit)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
