"""Checks of caller input, run before anything is sent. Each raises naming what was wrong."""

from __future__ import annotations

import json as jsonlib
from collections.abc import Mapping
from typing import Any, Callable, Optional
from urllib.parse import urlsplit

PRIORITIES = ("normal", "low")


def positive_number(
    name: str, value: Any, *, minimum: float = 0.0, optional: bool = True
) -> Optional[float]:
    """``value`` as a float > ``minimum`` (``None`` passes when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    if not value > minimum or value != value or value == float("inf"):
        raise ValueError(f"{name} must be a finite number greater than {minimum:g}, got {value!r}")
    return float(value)


def required_positive(name: str, value: Any, *, minimum: float = 0.0) -> float:
    """``value`` as a float > ``minimum``; ``None`` is rejected."""
    result = positive_number(name, value, minimum=minimum, optional=False)
    assert result is not None
    return result


def start_timeout(value: Any) -> Optional[float]:
    """fal requires the server-side start timeout to exceed one second."""
    return positive_number("start_timeout", value, minimum=1.0)


def priority(value: Any) -> Optional[str]:
    """``normal`` or ``low`` (or ``None``: the server's default)."""
    if value is None:
        return None
    if value not in PRIORITIES:
        raise ValueError(f"priority must be one of {PRIORITIES}, got {value!r}")
    return str(value)


def header_map(name: str, value: Any) -> dict[str, str]:
    """A mapping of str to str without line breaks (header injection)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{name} must be a mapping of header names to strings, got {type(value).__name__}"
        )
    out = {}
    for k, v in value.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise TypeError(f"{name}: header names and values must be str, got {k!r}: {v!r}")
        if any(c in k + v for c in "\r\n\0"):
            raise ValueError(f"{name}: header {k!r} contains a line break or NUL")
        out[k] = v
    return out


def flag(name: str, value: Any) -> bool:
    """A bool option, refused loudly when it is anything else (``validate="no"`` is true)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def optional_str(name: str, value: Any) -> Optional[str]:
    """A string without line breaks, or ``None``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"{name} must not contain line breaks")
    return value


def http_url(name: str, value: Any) -> Optional[str]:
    """An absolute http(s) URL, or ``None``."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str URL, got {type(value).__name__}")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name} must be an absolute http(s) URL, got {value!r}")
    return value


def request_id(value: Any) -> str:
    """A non-empty request id that is safe to put in a URL path."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"request_id must be a non-empty str, got {value!r}")
    if any(c in value for c in "/?#\r\n\0 "):
        raise ValueError(f"request_id {value!r} contains characters not allowed in an id")
    return value


def validate_json(
    arguments: Any, what: str = "arguments", *, placeholder: Optional[Callable[[Any], bool]] = None
) -> bytes:
    """Serialise ``arguments`` now, so bad input fails before anything is sent.

    Values for which ``placeholder`` is true (files to upload first) are accepted as stand-ins.
    """

    def stand_in(value: Any) -> Any:
        if placeholder is not None and placeholder(value):
            return None
        raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")

    try:
        return jsonlib.dumps(
            arguments, allow_nan=False, separators=(",", ":"), default=stand_in
        ).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} must be JSON-serialisable: {exc}") from exc
