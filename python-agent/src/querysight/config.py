"""Settings of the agent, resolved from four sources (highest first):

1. ``querysight.configure(**opts)`` (explicit code wins),
2. environment variables ``QUERYSIGHT_URL``, ``QUERYSIGHT_TOKEN``, ``QUERYSIGHT_ENABLED``, ``QUERYSIGHT_OUTPUT``
   (so a CI wrapper can point any app at its own server),
3. the framework's settings, e.g. Django's ``QUERYSIGHT`` dict (registered by the integration through
   :func:`set_framework_settings`),
4. the defaults below.

Keys are case-insensitive: ``configure(max_queries=5)`` and ``QUERYSIGHT = {"MAX_QUERIES": 5}`` are the same setting.
The core knows nothing about any framework: integrations pass their settings dict and whether the app runs in debug
mode, which decides the default of ``enabled`` and ``overlay``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from . import _guard

DEFAULT_URL = "http://127.0.0.1:8321"
DEFAULT_IGNORE_PATHS = ("/static/", "/media/", "/favicon.ico", "/__debug__/", "/__reload__/")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """The resolved settings. See the README for what each one does."""

    enabled: bool = False
    url: str = DEFAULT_URL
    token: str | None = None
    output: str | None = None
    capture_params: bool = True
    overlay: bool = False
    console: bool = False
    ignore_paths: tuple[str, ...] = DEFAULT_IGNORE_PATHS
    max_queries: int = 10_000
    app_name: str | None = None
    # Transport tuning.
    queue_size: int = 1_000
    queue_queries: int = 100_000  # queries in units waiting to be sent; past it new units are dropped
    batch_size: int = 200
    batch_interval: float = 0.1
    http_timeout: float = 5.0
    exit_flush_timeout: float = 2.0
    backoff_initial: float = 1.0
    backoff_max: float = 30.0
    schema_every: float = 300.0
    # Recorder limits.
    max_param_length: int = 256
    max_many_rows: int = 100
    max_sql_length: int = 100 * 1024  # bytes of UTF-8, the server's limit
    max_stack: int = 16
    max_body_bytes: int = 15 * 1024 * 1024  # the server takes 16 MiB a batch

    @property
    def server_url(self) -> str:
        url = self.url.rstrip("/")
        # The ingest endpoint's own URL (copied from the protocol's docs) names the server it belongs to.
        return url.removesuffix("/api/v1/ingest")


class InvalidSetting(_guard.SetupError):
    """A setting (or ``QUERYSIGHT_*`` variable) whose value cannot be used; the message names it."""


class InvalidSettingType(InvalidSetting, TypeError):
    pass


class InvalidSettingValue(InvalidSetting, ValueError):
    pass


_FIELDS = {f.name for f in fields(Settings)}
_DEFAULTS = Settings()
_lock = threading.Lock()
_overrides: dict[str, Any] = {}
_framework: dict[str, Any] = {}
_framework_debug: bool | None = None
_cached: Settings | None = None


def _normalise(opts: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in opts.items():
        name = key.lower()
        if name not in _FIELDS:
            known = ", ".join(sorted(_FIELDS))
            raise InvalidSettingType(f"unknown querysight setting {key!r}; known settings: {known}")
        out[name] = _coerce(name, value, key)
    return out


def _coerce(name: str, value: Any, key: str | None = None) -> Any:
    """The value of setting ``name`` in its declared type: numbers and booleans may be given as strings.

    Raises ``TypeError`` or ``ValueError`` naming the setting when the value cannot be one.
    """
    label = key or name
    given = value
    default = getattr(_DEFAULTS, name)
    if isinstance(default, bool):
        if isinstance(value, str):
            return parse_bool(value, label)
        if not isinstance(value, bool):
            raise InvalidSettingType(f"querysight setting {label}={value!r} must be a boolean (True/False)")
        return value
    if isinstance(default, (int, float)):
        kind = int if isinstance(default, int) else float
        noun = "an integer" if kind is int else "a number"
        if isinstance(value, str):
            try:
                value = kind(value.strip())
            except ValueError:
                raise InvalidSettingValue(f"querysight setting {label}={value!r} is not {noun}") from None
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidSettingType(f"querysight setting {label}={value!r} must be {noun}")
        elif kind is int and isinstance(value, float):
            if not value.is_integer():
                raise InvalidSettingValue(f"querysight setting {label}={value!r} must be a whole number")
            value = int(value)
        else:
            value = kind(value)
        if value < 0 or value != value or value == float("inf"):
            raise InvalidSettingValue(f"querysight setting {label}={given!r} must be a finite number, 0 or more")
        return value
    if name == "ignore_paths":
        if value is None:
            return ()
        if isinstance(value, str):
            return (value,)
        paths = tuple(value)
        if not all(isinstance(path, str) for path in paths):
            raise InvalidSettingType(f"querysight setting {label}={value!r} must be a list of path prefixes (strings)")
        return paths
    if value is None:
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise InvalidSettingType(f"querysight setting {label}={value!r} must be a string")
    return value


def configure(**opts: Any) -> Settings:
    """Set settings from code; they win over the environment and the framework's settings."""
    global _cached
    normalised = _normalise(opts)
    with _lock:
        _overrides.update(normalised)
        _cached = None
    return current()


def reset() -> None:
    """Forget every setting given by code or by a framework (the agent's tests use it)."""
    global _cached, _framework_debug
    with _lock:
        _overrides.clear()
        _framework.clear()
        _framework_debug = None
        _cached = None


def set_framework_settings(values: Mapping[str, Any] | None, *, debug: bool | None) -> None:
    """Called by an integration (Django) with its settings dict and whether the app runs in debug mode."""
    global _cached, _framework_debug
    normalised = _normalise(values or {})
    with _lock:
        _framework.clear()
        _framework.update(normalised)
        _framework_debug = debug
        _cached = None


def parse_bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidSettingValue(f"{name}={value!r} is not a boolean; use 1/0, true/false, yes/no or on/off")


def _from_env(environ: Mapping[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("url", "token", "output"):
        value = environ.get(f"QUERYSIGHT_{name.upper()}")
        if value:
            out[name] = value
    enabled = environ.get("QUERYSIGHT_ENABLED")
    if enabled is not None and enabled.strip():
        out["enabled"] = parse_bool(enabled, "QUERYSIGHT_ENABLED")
    return out


def resolve(
    overrides: Mapping[str, Any],
    environ: Mapping[str, str],
    framework: Mapping[str, Any],
    debug: bool | None,
) -> Settings:
    """Merge the four sources into settings (pure; :func:`current` calls it with the live sources)."""
    merged: dict[str, Any] = {**framework, **_from_env(environ), **overrides}
    explicit_target = any(merged.get(name) for name in ("url", "output"))
    merged.setdefault("enabled", bool(debug) or explicit_target)
    merged.setdefault("overlay", bool(debug))
    if merged.get("url") is None:
        merged.pop("url", None)
    merged = {name: _coerce(name, value) for name, value in merged.items()}
    return replace(Settings(), **merged)


def current() -> Settings:
    """The settings in force now (cached until something changes them)."""
    global _cached
    settings = _cached
    if settings is None:
        with _lock:
            settings = resolve(_overrides, os.environ, _framework, _framework_debug)
            _cached = settings
    return settings


def invalidate() -> None:
    """Re-read the environment on next use (after it changed)."""
    global _cached
    with _lock:
        _cached = None
