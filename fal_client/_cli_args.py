"""The argument types of ``fal-client``'s options: each checks one value and, refused, lets
argparse name the flag the user typed."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, timedelta
from typing import Union

from ._platform import parse_time

__all__ = ["cost", "count", "moment", "port", "seconds"]


def seconds(text: str) -> float:
    """An argparse type: a finite number of seconds > 0 (argparse names the flag on error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (value > 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, got {text!r}")
    return value


def cost(text: str) -> float:
    """An argparse type: an amount of money >= 0 (``--max-cost``)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an amount like 25 or 2.5, got {text!r}"
        ) from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"must be an amount >= 0, got {text!r}")
    return value


def count(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def port(text: str) -> int:
    """An argparse type: a TCP port (0 picks a free one)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0 to 65535, got {text!r}")
    return value


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def moment(text: str) -> Union[datetime, timedelta]:
    """An argparse type for ``--since``/``--until``: ``90m``, ``24h``, ``7d`` (that long ago)
    or an ISO 8601 time (``2026-11-30`` or ``2026-11-30T12:00:00Z``; UTC when no offset)."""
    match = _DURATION.match(text)
    if match:
        return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    parsed = parse_time(text if "T" in text or " " in text else f"{text}T00:00:00")
    if parsed is None:
        raise argparse.ArgumentTypeError(
            f"expected a duration like 24h or 7d, or an ISO time like 2026-11-30T12:00:00Z, "
            f"got {text!r}"
        )
    return parsed
