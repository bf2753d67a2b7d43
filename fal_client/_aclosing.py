"""``aclosing`` for Python 3.9 (``contextlib.aclosing`` arrived in 3.10).

Every async generator this package iterates is closed explicitly, in the task that iterated
it: leaving one to the garbage collector would run its cleanup in another context, too late.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

T = TypeVar("T")


async def aclose(iterator: object) -> None:
    """``iterator.aclose()`` if it has one (an async generator does); an iterator without it
    holds nothing to end."""
    close: Any = getattr(iterator, "aclose", None)
    if close is not None:
        await close()


@asynccontextmanager
async def aclosing(iterator: AsyncIterator[T]) -> AsyncIterator[AsyncIterator[T]]:
    """Yield ``iterator`` and ``aclose()`` it on exit, however the block ends."""
    try:
        yield iterator
    finally:
        await aclose(iterator)
