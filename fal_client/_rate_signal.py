"""Answers from the transport to whoever listens in the current task: how ``map`` hears 429s.

The transport reports the status of every answer it receives here, whether its retry policy then
retries the request or not. ``map`` listens in each of its jobs: it counts the 429s, and tells a
real rate limit (a large share of recent answers refused) from scattered ones, which needs the
answers that were not refused too. The listener lives in a context variable: it follows the job
into every task it starts, and a request made outside any ``map`` reports to nobody (the cost
is one context-variable lookup per answer).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Callable, Optional

__all__ = ["listening_for_answers", "report_answer"]

AnswerListener = Callable[[int], None]

_listener: ContextVar[Optional[AnswerListener]] = ContextVar(
    "fal_client_answer_listener", default=None
)


def report_answer(status_code: int) -> None:
    """A request of the current task was answered with ``status_code`` (retried or not)."""
    listener = _listener.get()
    if listener is not None:
        listener(status_code)


@contextmanager
def listening_for_answers(listener: AnswerListener) -> Iterator[None]:
    """Send the answers to requests made in this block (and the tasks it starts) to
    ``listener``."""
    token = _listener.set(listener)
    try:
        yield
    finally:
        _listener.reset(token)
