"""The background transport against a real local HTTP receiver (and the NDJSON file mode)."""

from __future__ import annotations

import gzip
import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from typing import Any

import pytest

import querysight
from conftest import running_server
from helpers import Receiver, read_ndjson, until
from querysight import config, transport
from querysight.recorder import run_of


def finished_unit(name: str = "unit", sql: str = "SELECT 1") -> querysight.Unit:
    unit = querysight.Unit("block", name)
    unit.record(sql, (1,), run_of("default", "sqlite"), 0.0, 0.0)
    unit.finish()
    return unit


def test_sends_units_submitted_together_in_one_batch(receiver):
    config.configure(batch_interval=5.0)
    for i in range(50):
        transport.submit(finished_unit(f"u{i}"))
    assert querysight.flush(5)
    assert len(receiver.requests) == 1
    assert [u["name"] for u in receiver.units()] == [f"u{i}" for i in range(50)]
    body = receiver.requests[0].body
    assert body["protocol"] == 1
    assert body["agent"] == {"name": "querysight-python", "version": querysight.__version__}
    assert body["app"]["pid"] == os.getpid()


def test_takes_the_ingest_endpoints_own_url_as_the_server_it_belongs_to(receiver):
    # QUERYSIGHT_URL=http://127.0.0.1:8321/api/v1/ingest was refused: the batch went to /api/v1/ingest/api/v1/ingest.
    config.configure(url=f"{receiver.url}/api/v1/ingest/")
    transport.submit(finished_unit("pasted"))
    assert querysight.flush(5)
    assert [u["name"] for u in receiver.units()] == ["pasted"]
    assert [r.path for r in receiver.requests] == ["/api/v1/ingest"]


def test_flush_sends_at_once_a_batch_the_worker_is_still_collecting(receiver):
    config.configure(batch_interval=30.0)
    transport.submit(finished_unit("first"))
    time.sleep(0.2)  # the worker has taken it and waits up to 30 s for more units of its batch
    transport.submit(finished_unit("second"))
    time.sleep(0.2)
    assert querysight.flush(2)
    assert [u["name"] for u in receiver.units()] == ["first", "second"]


def test_splits_batches_at_the_batch_size(receiver):
    config.configure(batch_size=10, batch_interval=5.0)
    for i in range(25):
        transport.submit(finished_unit(f"u{i}"))
    assert querysight.flush(5)
    assert sorted(len(r.body["units"]) for r in receiver.requests) == [5, 10, 10]
    assert len(receiver.units()) == 25


class WakeCountingQueue(queue.SimpleQueue):
    """The transport's queue, counting the units that reached a worker asleep on it: each of those was a wake-up
    the application's thread paid for when it submitted the unit."""

    def __init__(self) -> None:
        self.woken_by_a_unit = 0

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        item = super().get(block, timeout)
        if block and item is not transport._NUDGE:
            self.woken_by_a_unit += 1
        return item


def test_while_units_keep_coming_the_worker_takes_them_every_batch_interval_without_being_woken(receiver):
    config.configure(batch_interval=0.05)
    counted = transport.transport._queue = WakeCountingQueue()  # before the worker starts and takes the queue
    for i in range(20):
        transport.submit(finished_unit(f"u{i}"))
        time.sleep(0.01)
    until(lambda: len(receiver.units()) == 20, what="the units to be sent without a flush")
    assert counted.woken_by_a_unit == 1  # only the first unit woke the idle worker
    assert 2 <= len(receiver.requests) <= 10  # about 200 ms of units, in batches every 50 ms


def test_after_a_quiet_second_the_worker_sleeps_on_the_queue_and_the_next_unit_wakes_it(receiver):
    counted = transport.transport._queue = WakeCountingQueue()
    transport.submit(finished_unit("first"))
    until(lambda: len(receiver.units()) == 1, what="the first unit to be sent")
    time.sleep(1.3)  # no unit for longer than the worker polls
    transport.submit(finished_unit("after a pause"))
    until(lambda: len(receiver.units()) == 2, timeout=2.0, what="the next unit to be sent without a flush")
    assert counted.woken_by_a_unit == 2


def test_sends_a_whole_batch_at_once_without_waiting_out_the_batch_interval(receiver):
    config.configure(batch_size=10, batch_interval=30.0)
    transport.submit(finished_unit("u0"))
    time.sleep(0.2)  # the worker has taken it and sleeps up to 30 s before it takes the next ones
    for i in range(1, 10):
        transport.submit(finished_unit(f"u{i}"))
    until(lambda: len(receiver.units()) == 10, timeout=5.0, what="the batch to be sent without a flush")
    assert len(receiver.requests) == 1


def test_sends_a_burst_of_several_whole_batches_at_once(receiver):
    config.configure(batch_size=10, batch_interval=5.0)
    for i in range(30):
        transport.submit(finished_unit(f"u{i}"))
    until(lambda: len(receiver.units()) == 30, timeout=3.0, what="the three batches to be sent without a flush")
    assert [len(r.body["units"]) for r in receiver.requests] == [10, 10, 10]


def test_compresses_bodies_above_8_kb_only(receiver):
    transport.submit(finished_unit("small"))
    assert querysight.flush(5)
    transport.submit(finished_unit("large", "SELECT '" + "x" * 20_000 + "'"))
    assert querysight.flush(5)
    small, large = receiver.requests
    assert "Content-Encoding" not in small.headers
    assert large.headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(large.raw))["units"][0]["name"] == "large"
    assert small.headers["Content-Type"] == "application/json"


def test_sends_the_token_as_a_bearer_header(receiver, monkeypatch):
    monkeypatch.setenv("QUERYSIGHT_TOKEN", "s3cret")
    config.invalidate()
    transport.submit(finished_unit())
    assert querysight.flush(5)
    assert receiver.requests[0].headers["Authorization"] == "Bearer s3cret"


def test_retries_with_backoff_while_the_server_answers_500_then_delivers_once(receiver):
    receiver.mode = "error"
    transport.submit(finished_unit("kept"))
    until(lambda: receiver.attempts >= 3, what="three attempts")
    assert receiver.units() == []
    receiver.mode = "ok"
    assert querysight.flush(5)
    assert [u["name"] for u in receiver.units()] == ["kept"]


def submit_split_batch(names: list[str], monkeypatch) -> None:
    """Units that go in one batch, which is too large for one body: one body a unit (no schema: it would make the
    first body the largest)."""
    monkeypatch.setattr(transport.app, "schema_provider", None)
    units = [finished_unit(name) for name in names]
    encoded = querysight._wire.encode_unit(units[0])
    one_body = len(transport._encode(transport.transport._envelope(config.current()), [encoded]))
    config.configure(batch_interval=30.0, max_body_bytes=one_body + len(encoded.text()) // 2)
    for unit in units:
        transport.submit(unit)


def test_a_split_batch_cut_short_by_a_failed_body_retries_only_the_bodies_that_did_not_go(receiver, monkeypatch):
    receiver.script = ["ok", "error"]
    submit_split_batch(["a", "b", "c"], monkeypatch)
    assert querysight.flush(10)
    assert [[u["name"] for u in r.body["units"]] for r in receiver.requests] == [["a"], ["b"], ["c"]]
    assert receiver.attempts == 4  # a, b (500), then b and c on the retry
    assert transport.transport.failed_attempts == 1


def test_a_body_the_server_refuses_loses_only_its_own_units(receiver, swallow_internal_errors, monkeypatch):
    receiver.script = ["ok", "reject"]
    submit_split_batch(["a", "b", "c"], monkeypatch)
    assert querysight.flush(10)
    assert [u["name"] for u in receiver.units()] == ["a", "c"]
    assert receiver.attempts == 3
    assert transport.transport.refused == 1
    # A payload the server finds invalid is the agent's fault: an internal error, which fails the agent's tests.
    assert [what for what, _ in querysight._guard.swallowed()] == ["send a batch the server accepts"]
    assert "refused a batch (400: invalid_payload: no)" in str(querysight._guard.swallowed()[0][1])


def test_a_url_that_is_not_http_given_while_backing_off_drops_the_batch_as_refused(receiver, caplog):
    receiver.mode = "error"
    transport.submit(finished_unit("first"))
    until(lambda: transport.transport.failed_attempts >= 1, what="a failed attempt")
    config.configure(url="ftp://nowhere")  # checked before the next body, by the probe of a server that was down
    assert querysight.flush(5)
    assert "QUERYSIGHT_URL 'ftp://nowhere' is not an http(s) URL like http://127.0.0.1:8321; 1 unit dropped" in (
        caplog.text
    )
    assert not transport.transport._backing_off  # a new unit's whole batch wakes the worker again


def test_a_server_started_with_a_token_refuses_batches_without_it_and_says_what_to_set(caplog):
    with running_server("--token", "s3cret") as url:
        config.configure(url=url)
        transport.submit(finished_unit("without"))
        transport.submit(finished_unit("without either"))
        assert querysight.flush(10)
        config.configure(token="s3cret")
        with querysight.capture("with") as unit:  # a real unit: the real server checks every field
            unit.record("SELECT 1", None, run_of("default", "sqlite"), time.perf_counter(), time.perf_counter())
        assert querysight.flush(10)
        listed = json.loads(
            urllib.request.urlopen(
                urllib.request.Request(f"{url}/api/v1/units", headers={"Authorization": "Bearer s3cret"}), timeout=10
            ).read()
        )
    assert [u["name"] for u in listed["units"]] == ["with"]
    assert transport.transport.refused == 2
    warnings = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(warnings) == 1  # once per kind of refusal, however many batches
    assert warnings[0].startswith(f"querysight: the server at {url} refused a batch (401: unauthorized: ")
    assert "QUERYSIGHT_TOKEN (or the TOKEN setting) must be the token the server was started with" in warnings[0]
    assert not any(r.exc_info for r in caplog.records)  # a refusal is not an internal error: no traceback


def count_connections(receiver) -> list[int]:
    """A list whose length is the number of TCP connections the receiver has accepted."""
    accepted: list[int] = []
    server = receiver.server
    accept = type(server).get_request

    def get_request():
        request = accept(server)
        accepted.append(1)
        return request

    server.get_request = get_request
    return accepted


def test_opens_one_connection_a_batch_and_probes_the_server_only_while_backing_off(receiver):
    connections = count_connections(receiver)
    for name in ("a", "b", "c"):
        transport.submit(finished_unit(name))
        assert querysight.flush(5)
    assert len(receiver.requests) == 3
    assert len(connections) == 3

    receiver.mode = "error"
    transport.submit(finished_unit("retried"))
    until(lambda: receiver.attempts >= 5, what="a failed delivery and a retry")
    receiver.mode = "ok"
    assert querysight.flush(5)
    retries = receiver.attempts - 4  # the posts of the retried batch after its first failure
    assert len(connections) == 3 + 1 + 2 * retries  # each retry is probed first

    transport.submit(finished_unit("after"))
    assert querysight.flush(5)
    assert len(connections) == 3 + 1 + 2 * retries + 1


def test_treats_an_answer_that_is_not_json_as_a_failed_delivery(receiver):
    receiver.mode = "garbage"
    transport.submit(finished_unit("again"))
    until(lambda: len(receiver.requests) >= 2, what="a retry after a garbage answer")
    receiver.mode = "ok"
    assert querysight.flush(5)
    assert [u["name"] for u in receiver.units()].count("again") >= 3


def test_flush_gives_up_at_its_timeout_while_the_server_hangs(receiver):
    config.configure(http_timeout=30.0)
    receiver.mode = "hang"
    unit = finished_unit()
    transport.submit(unit)  # returns at once: the app's thread never waits on the network
    until(lambda: receiver.attempts == 1, what="the worker to be stuck in the request")
    assert querysight.flush(0.2) is False
    receiver.mode = "ok"
    receiver.release()
    assert querysight.flush(5)
    assert [u["id"] for u in receiver.units()] == [unit.id]


def test_drops_and_counts_units_when_the_queue_is_full(receiver):
    config.configure(queue_size=3)
    transport.transport.reset()
    receiver.mode = "hang"
    transport.submit(finished_unit("first"))
    until(lambda: receiver.attempts == 1, what="the worker to be stuck in the request")
    for i in range(10):
        transport.submit(finished_unit(f"queued{i}"))
    assert transport.transport.dropped == 7
    receiver.mode = "ok"
    receiver.release()
    assert querysight.flush(5)
    assert sorted(u["name"] for u in receiver.units()) == ["first", "queued0", "queued1", "queued2"]


@pytest.mark.parametrize(
    ("mode", "said"),
    [
        ("not found", "(404: b'<h1>Not Found</h1>'); 1 unit dropped; is QUERYSIGHT_URL the querysight server's"),
        ("bad request", "(400: b'<h1>Bad Request (400)</h1>'); 1 unit dropped"),
        ("other protocol", "(400: invalid_payload: protocol: this server speaks protocol 9, got 1; use an agent"),
    ],
)
def test_a_refusal_of_the_setup_gets_a_warning_not_an_internal_error(receiver, caplog, mode, said):
    """Another server at QUERYSIGHT_URL (the app itself), or a querysight server of another protocol version."""
    receiver.mode = mode
    transport.submit(finished_unit())
    assert querysight.flush(5)
    assert transport.transport.refused == 1
    [warning] = [r for r in caplog.records if "refused" in r.getMessage()]
    assert said in warning.getMessage()
    assert warning.exc_info is None


def test_a_flush_that_times_out_while_the_server_is_up_leaves_the_exit_its_whole_wait(receiver):
    config.configure(batch_interval=0.3)
    transport.submit(finished_unit("job"))
    assert querysight.flush(0.0) is False  # the batch interval has not passed: not given up on
    assert transport.transport.stop(5.0) is True
    assert [u["name"] for u in receiver.units()] == ["job"]


def test_drops_a_batch_the_server_refuses_without_retrying(receiver, swallow_internal_errors):
    receiver.mode = "reject"
    transport.submit(finished_unit())
    assert querysight.flush(5)
    assert receiver.attempts == 1
    assert transport.transport.refused == 1


def test_sends_the_schema_first_and_again_after_the_server_comes_back(receiver):
    transport.app.schema_provider = lambda: {"models": []}
    try:
        transport.submit(finished_unit("a"))
        assert querysight.flush(5)
        transport.submit(finished_unit("b"))
        assert querysight.flush(5)
        receiver.mode = "error"
        transport.submit(finished_unit("c"))
        until(lambda: receiver.attempts >= 4, what="a failed attempt")
        receiver.mode = "ok"
        assert querysight.flush(5)
        transport.submit(finished_unit("d"))
        assert querysight.flush(5)
    finally:
        transport.app.schema_provider = None
    with_schema = [("schema" in r.body, [u["name"] for u in r.body["units"]]) for r in receiver.requests]
    assert with_schema == [(True, ["a"]), (False, ["b"]), (True, ["c"]), (False, ["d"])]


def test_sends_the_schema_again_when_the_app_is_known_by_another_name(receiver):
    """A script's units go out under its name; its Flask app's first request names the app (the server keeps a
    schema per app name, so the app's units would meet none)."""
    transport.app.schema_provider = lambda: {"models": []}
    try:
        transport.submit(finished_unit("script block"))
        assert querysight.flush(5)
        transport.app.name = "shop.flask_app"
        transport.submit(finished_unit("request"))
        assert querysight.flush(5)
        transport.submit(finished_unit("another request"))
        assert querysight.flush(5)
    finally:
        transport.app.schema_provider = None
        transport.app.name = None
    sent = [(r.body["app"]["name"], "schema" in r.body) for r in receiver.requests]
    assert sent[1:] == [("shop.flask_app", True), ("shop.flask_app", False)]
    assert sent[0][1] is True


def stuck_worker_left_behind_by_a_reset(receiver: Receiver) -> threading.Thread:
    """Submits a unit whose request the receiver holds, then resets the transport: its worker is left behind, still
    in that request."""
    config.configure(http_timeout=30.0)
    transport.submit(finished_unit("before the reset"))
    until(lambda: receiver.attempts == 1, what="the worker to be stuck in the request")
    left_behind = transport.transport._thread
    assert left_behind is not None
    transport.transport.reset()
    return left_behind


def test_a_failed_request_of_a_worker_left_behind_by_a_reset_is_not_counted_for_the_new_one(receiver):
    receiver.mode = "hang"
    left_behind = stuck_worker_left_behind_by_a_reset(receiver)
    receiver.release()  # the request ends unanswered: a failed delivery, for the worker left behind
    left_behind.join(5)
    assert not left_behind.is_alive()
    assert transport.transport.failed_attempts == 0
    assert transport.transport._backing_off is False  # else the new worker would probe before its first batch
    receiver.mode = "ok"
    transport.submit(finished_unit("after the reset"))
    assert querysight.flush(5)
    assert [u["name"] for u in receiver.units()] == ["after the reset"]


def test_a_batch_a_worker_left_behind_by_a_reset_delivers_does_not_count_for_the_new_one(receiver):
    transport.app.schema_provider = lambda: {"models": []}
    try:
        receiver.mode = "slow"
        left_behind = stuck_worker_left_behind_by_a_reset(receiver)
        receiver.release()  # the old worker's batch, with the schema, is delivered after the reset
        left_behind.join(5)
        assert not left_behind.is_alive()
        assert transport.transport.sent_batches == 0
        receiver.mode = "ok"
        transport.submit(finished_unit("after the reset"))
        assert querysight.flush(5)
    finally:
        transport.app.schema_provider = None
    with_schema = [("schema" in r.body, [u["name"] for u in r.body["units"]]) for r in receiver.requests]
    assert with_schema == [(True, ["before the reset"]), (True, ["after the reset"])]


def test_a_flush_waiting_across_a_reset_of_the_transport_waits_for_the_new_units(receiver):
    receiver.mode = "hang"
    config.configure(http_timeout=30.0)
    transport.submit(finished_unit("held"))
    until(lambda: receiver.attempts == 1, what="the worker to be stuck in the request")
    outcome: list[object] = []
    waiting = threading.Thread(target=lambda: outcome.append(querysight.flush(5)))
    waiting.start()
    time.sleep(0.2)  # the flush waits for the held unit
    transport.transport.reset()
    transport.submit(finished_unit("after the reset"))
    until(lambda: receiver.attempts == 2, what="the new worker to be stuck in its request too")
    time.sleep(0.1)  # a turn of the flush's wait, now for the new generation's unit
    receiver.mode = "ok"  # for the new worker's retry
    receiver.release()
    waiting.join(5)
    assert outcome == [True]
    assert [u["name"] for u in receiver.units()] == ["after the reset"]


def test_a_forked_child_sends_its_own_units_with_its_own_pid(receiver):
    transport.submit(finished_unit("parent-before"))
    assert querysight.flush(5)
    pid = os.fork()
    if pid == 0:  # the child: a fresh queue and worker, started by its first unit
        try:
            with querysight.capture("child"):
                pass
            os._exit(0 if querysight.flush(5) else 3)
        finally:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    transport.submit(finished_unit("parent-after"))
    assert querysight.flush(5)
    by_name = {u["name"]: r.body["app"]["pid"] for r in receiver.requests for u in r.body["units"]}
    assert by_name == {"parent-before": os.getpid(), "child": pid, "parent-after": os.getpid()}


def test_writes_ndjson_batches_to_querysight_output(tmp_path, monkeypatch):
    out = tmp_path / "batches.ndjson"
    monkeypatch.setenv("QUERYSIGHT_OUTPUT", str(out))
    config.invalidate()
    config.configure(batch_size=2)
    for i in range(3):
        with querysight.capture(f"block {i}"):
            pass
    assert querysight.flush(5)
    batches = read_ndjson(out)
    assert [len(b["units"]) for b in batches] in ([2, 1], [1, 2], [1, 1, 1])
    assert all(b["protocol"] == 1 for b in batches)


SCRIPT = """
import pytest

import querysight
from querysight.recorder import run_of
with querysight.capture("at exit") as unit:
    unit.record("SELECT 1", None, run_of("default", "sqlite"), 0.0, 0.0)
print("done", flush=True)
"""


def test_flushes_at_exit(tmp_path):
    out = tmp_path / "exit.ndjson"
    env = {**os.environ, "QUERYSIGHT_OUTPUT": str(out)}
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [u["name"] for b in read_ndjson(out) for u in b["units"]] == ["at exit"]


def test_exits_promptly_when_the_server_is_down(tmp_path):
    script = SCRIPT + textwrap.dedent(
        """
        from querysight import config
        config.configure(exit_flush_timeout=0.2)
        """
    )
    env = {**os.environ, "QUERYSIGHT_URL": "http://127.0.0.1:9"}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    # Said, not silent: the outage once, and what was lost at exit.
    assert result.stderr.count("querysight: could not reach http://127.0.0.1:9") == 1, result.stderr
    assert "querysight: 1 unit was not delivered to http://127.0.0.1:9 before exit" in result.stderr


def test_a_setting_it_cannot_use_is_said_in_one_line_and_the_script_runs_on():
    # Before: "internal error while trying to start a unit" and again "... to flush at exit", each with a traceback.
    script = "import querysight\nwith querysight.capture('nightly') as unit:\n    print('done', unit)\n"
    env = {**os.environ, "QUERYSIGHT_ENABLED": "maybe", "QUERYSIGHT_OUTPUT": os.devnull}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done None\n"
    assert result.stderr == (
        "querysight: QUERYSIGHT_ENABLED='maybe' is not a boolean; use 1/0, true/false, yes/no or on/off;"
        " nothing is recorded until it is fixed\n"
    )


def test_an_output_file_it_cannot_write_is_said_with_the_units_lost(tmp_path):
    missing = tmp_path / "no-such-folder" / "run.ndjson"
    env = {**os.environ, "QUERYSIGHT_OUTPUT": str(missing)}
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "done\n"
    assert (
        f"querysight: cannot write QUERYSIGHT_OUTPUT='{missing}': No such file or directory; 1 unit dropped"
        in result.stderr
    )
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_the_exit_does_not_wait_again_for_units_a_flush_already_waited_for_in_vain():
    config.configure(url="http://127.0.0.1:9")
    transport.submit(finished_unit("undeliverable"))
    assert querysight.flush(0.2) is False  # pytest's session end, with the server down
    stopped = threading.Event()
    exiting = threading.Thread(target=lambda: (transport.transport.stop(60.0), stopped.set()), daemon=True)
    exiting.start()
    assert stopped.wait(10), "the exit waited its whole timeout again"


def test_the_exit_waits_for_units_submitted_after_a_flush_gave_up(receiver):
    config.configure(url="http://127.0.0.1:9")
    transport.submit(finished_unit("undeliverable"))
    assert querysight.flush(0.2) is False
    config.configure(url=receiver.url)
    transport.submit(finished_unit("later"))
    assert transport.transport.stop(10.0) is True
    assert "later" in [u["name"] for u in receiver.units()]


def test_backs_off_from_one_second_doubling_up_to_thirty():
    delays = transport.backoff(1.0, 30.0)
    assert [next(delays) for _ in range(8)] == [1, 2, 4, 8, 16, 30, 30, 30]


def test_drops_units_when_the_waiting_queries_pass_their_limit(receiver):
    config.configure(queue_queries=5)
    receiver.mode = "hang"
    transport.submit(finished_unit("first"))
    until(lambda: receiver.attempts == 1, what="the worker to be stuck in the request")
    for i in range(8):
        transport.submit(finished_unit(f"queued{i}"))  # one query each
    assert transport.transport.dropped == 4
    receiver.mode = "ok"
    receiver.release()
    assert querysight.flush(5)
    assert len(receiver.units()) == 5


def test_keeps_waiting_units_as_json_not_as_the_apps_objects_while_the_server_is_down(receiver):
    receiver.mode = "error"
    transport.submit(finished_unit("first"))
    until(lambda: receiver.attempts >= 1, what="a failed delivery")
    waiting = [finished_unit(f"waiting{i}") for i in range(3)]
    held_here = sys.getrefcount(waiting[0])  # the list's reference and the argument's
    for i in range(3):
        transport.submit(waiting[i])
    # The sender encodes them while it backs off: it no longer holds the units, their queries or their parameters.
    until(lambda: [sys.getrefcount(u) for u in waiting] == [held_here + 1] * 3, what="the units to be encoded")
    assert receiver.units() == []
    receiver.mode = "ok"
    assert querysight.flush(10)
    assert sorted(u["name"] for u in receiver.units()) == ["first", "waiting0", "waiting1", "waiting2"]


@pytest.mark.parametrize(
    ("program", "argv", "name"),
    [
        ("/venv/bin/uvicorn", ["shop.main:app", "--port", "8000"], "shop"),
        ("/venv/bin/gunicorn", ["-b", "127.0.0.1:8000", "-k", "uvicorn.workers.UvicornWorker", "shop.asgi:a"], "shop"),
        ("/venv/lib/python3.11/site-packages/uvicorn/__main__.py", ["--port", "1", "store:create_app()"], "store"),
        ("/venv/bin/flask", ["--app", "shop.wsgi", "report"], "shop"),
        ("/venv/bin/celery", ["-A", "shop", "worker", "--pool=solo"], "shop"),
        ("/venv/bin/fastapi", ["run", "api.py"], "api"),
        ("/venv/bin/gunicorn", ["-c", "gunicorn.conf.py", "shop.wsgi:application"], "shop"),
        ("/venv/bin/gunicorn", ["--bind", "unix:myproject.sock", "-m", "007", "wsgi:app"], "wsgi"),
        ("/venv/bin/gunicorn", ["--config", "python:shop.gunicorn_conf", "shop.wsgi:app"], "shop"),
        ("/venv/bin/hypercorn", ["-c", "file:hypercorn_conf.py", "shop.main:app"], "shop"),
        ("C:\\venv\\Scripts\\uvicorn.exe\\__main__.py", ["shop.main:app"], "shop"),
        ("/srv/bookshop/manage.py", ["runserver"], "cwd"),
        ("/srv/tools/import_books.py", [], "import_books"),
    ],
)
def test_the_default_app_name_is_the_app_a_launcher_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, program: str, argv: list[str], name: str
) -> None:
    # One project is one app in the UI, whether uvicorn, gunicorn or flask started it.
    import types

    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setitem(sys.modules, "__main__", types.SimpleNamespace(__file__=program))
    monkeypatch.setattr(sys, "argv", [program, *argv])
    assert transport._default_app_name() == name


def test_a_short_script_sent_at_exit_is_named_after_itself(tmp_path):
    # At exit __main__ no longer names the program: units sent then were named after the directory.
    script = tmp_path / "nightly_job.py"
    script.write_text("import querysight\nwith querysight.capture('import'):\n    pass\n")
    out = tmp_path / "out.ndjson"
    env = {**os.environ, "QUERYSIGHT_OUTPUT": str(out)}
    result = subprocess.run(
        [sys.executable, str(script)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert [b["app"]["name"] for b in read_ndjson(out)] == ["nightly_job"]
