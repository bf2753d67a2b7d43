"""Concurrency shapes used by several operations (AnyIO, no HTTP)."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Callable, Optional

import anyio

__all__ = ["until_first_failure"]


async def until_first_failure(jobs: Iterable[Callable[[], Awaitable[object]]]) -> None:
    """Run every job concurrently; the first to fail cancels the others, and its exception is
    raised as it is once they have all ended (never wrapped in an ``ExceptionGroup``, which
    callers should not have to unpack). Cancellation from outside is not caught."""
    failure: Optional[BaseException] = None

    async def guarded(job: Callable[[], Awaitable[object]], scope: anyio.CancelScope) -> None:
        nonlocal failure
        try:
            await job()
        except Exception as exc:
            if failure is None:
                failure = exc
            scope.cancel()

    async with anyio.create_task_group() as group:
        for job in jobs:
            group.start_soon(guarded, job, group.cancel_scope)
    if failure is not None:
        raise failure
