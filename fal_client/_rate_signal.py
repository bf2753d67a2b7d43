"""Rate-limit signals from the transport to whoever listens in the current task.

Every 429 the transport receives is reported here, whether its retry policy then absorbs it or
not. ``map`` listens in each of its workers and feeds the signals to its AIMD limit, so a rate
limit slows the whole fan-out down even when each request eventually gets through. The listener
lives in a context variable: it follows the worker into every task it starts, and a request
made outside any ``map`` reports to nobody.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Optional

__all__ = ["listening_for_rate_limits", "report_rate_limited"]

RateLimitListener = Callable[[Optional[float]], None]

_listener: ContextVar[Optional[RateLimitListener]] = ContextVar(
    "fal_client_rate_limit_listener", default=None
)


def report_rate_limited(retry_after: Optional[float]) -> None:
    """A request of the current task was answered 429 (``Retry-After`` in seconds, if sent)."""
    listener = _listener.get()
    if listener is not None:
        listener(retry_after)


@contextmanager
def listening_for_rate_limits(listener: RateLimitListener) -> Iterator[None]:
    """Send the 429s of requests made in this block (and the tasks it starts) to ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)
