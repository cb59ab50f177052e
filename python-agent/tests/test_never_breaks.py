"""The agent never changes what the application answers or raises: server down, failing, hanging, talking
nonsense, or the agent itself failing."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test import Client

import querysight
from helpers import Receiver, until
from querysight import _wire, config
from querysight.recorder import Unit

EXPECTED_DETAIL = {"title": "Book 0.0", "reviews": [3, 5]}


def assert_app_unchanged() -> None:
    client = Client()
    response = client.get("/books/1/")
    assert response.status_code == 200
    assert response.json() == EXPECTED_DETAIL
    html = client.get("/books/")
    assert html.status_code == 200 and b"Book 2.1 by Author 2" in html.content
    async_response = client.get("/async/books/")
    assert async_response.json()["author"] == "Author 0"
    with pytest.raises(OperationalError, match="no such table: no_such_table"):
        client.get("/broken/")


def test_keeps_the_apps_answers_when_the_server_is_down():
    config.configure(url="http://127.0.0.1:9", backoff_initial=0.05)
    assert_app_unchanged()


@pytest.mark.parametrize("mode", ["error", "garbage", "hang"])
def test_keeps_the_apps_answers_when_the_server_misbehaves(mode):
    receiver = Receiver()
    try:
        receiver.mode = mode
        config.configure(url=receiver.url, http_timeout=0.3, backoff_initial=0.05, batch_interval=0.01)
        assert_app_unchanged()
        until(lambda: receiver.attempts >= 1, what="the agent to try the server")
    finally:
        receiver.release()
        receiver.close()
        config.configure(url="http://127.0.0.1:9")
        querysight.flush(0.1)


def test_keeps_the_apps_answers_when_recording_a_query_fails(recorded, monkeypatch, swallow_internal_errors):
    def broken_record(self, *args, **kwargs):
        raise RuntimeError("injected recorder failure")

    monkeypatch.setattr(Unit, "record", broken_record)
    assert_app_unchanged()
    whats = {what for what, _ in querysight._guard.swallowed()}
    assert whats == {"record a query"}
    assert len(recorded.units()) == 4  # the units still go out, without their queries


def test_keeps_the_apps_answers_when_starting_a_unit_fails(recorded, monkeypatch, swallow_internal_errors):
    def broken_init(self, *args, **kwargs):
        raise RuntimeError("injected unit failure")

    monkeypatch.setattr(Unit, "__init__", broken_init)
    assert_app_unchanged()
    assert {what for what, _ in querysight._guard.swallowed()} == {"start a request unit"}
    assert recorded.units() == []


def test_keeps_the_apps_answers_when_encoding_a_unit_fails(recorded, monkeypatch, swallow_internal_errors):
    def broken_encode_unit(unit):
        raise RuntimeError("injected serialisation failure")

    monkeypatch.setattr(_wire, "encode_unit", broken_encode_unit)
    assert_app_unchanged()
    assert querysight.flush(5)
    assert {what for what, _ in querysight._guard.swallowed()} == {"encode a unit"}


def test_logs_an_internal_error_once(recorded, monkeypatch, swallow_internal_errors, caplog):
    monkeypatch.setattr(Unit, "record", lambda self, *a, **k: 1 / 0)
    querysight._guard._logged.discard("record a query")
    Client().get("/books/1/")
    Client().get("/books/1/")
    warnings = [r for r in caplog.records if r.name == "querysight"]
    assert len(warnings) == 1
    assert "record a query" in warnings[0].getMessage()
