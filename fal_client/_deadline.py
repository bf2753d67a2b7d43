"""A caller's overall deadline, carried across the calls one operation is made of.

``subscribe(client_timeout=)`` is a ``submit`` and then a wait, each made through the public
methods of its surface (so wrappers on them see it, as with the official client); neither has
room in its signature for the deadline of the whole. It travels in a context variable instead,
as a ``time.monotonic()`` instant, the one clock that means the same on the caller's thread and
in either event loop: ``submit`` reads it to stop waiting for a POST in flight at the deadline,
and the sync portal bounds each call it runs by it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Optional

import anyio

__all__ = ["DeadlinePassed", "adopted", "bounded", "current", "in_loop_time"]

_DEADLINE: ContextVar[Optional[float]] = ContextVar("fal_client_overall_deadline", default=None)


class DeadlinePassed(Exception):
    """The overall deadline passed while a portal call ran: the call was cancelled."""


def current() -> Optional[float]:
    """The ``time.monotonic()`` deadline in force here, if any."""
    return _DEADLINE.get()


@contextmanager
def bounded(seconds: Optional[float]) -> Iterator[None]:
    """Within the block, the deadline is ``seconds`` from now (or an earlier one in force)."""
    if seconds is None:
        yield
        return
    deadline = time.monotonic() + seconds
    outer = _DEADLINE.get()
    token = _DEADLINE.set(deadline if outer is None else min(outer, deadline))
    try:
        yield
    finally:
        _DEADLINE.reset(token)


@contextmanager
def adopted(deadline: Optional[float]) -> Iterator[None]:
    """Make ``deadline`` (read on another thread) the one in force in this task."""
    token = _DEADLINE.set(deadline)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def in_loop_time() -> Optional[float]:
    """The deadline in force, on the running event loop's clock (for cancel scopes)."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return None
    return anyio.current_time() + (deadline - time.monotonic())
