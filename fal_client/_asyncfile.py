"""``anyio.open_file`` whose close also happens when the task is being cancelled.

anyio closes an ``AsyncFile`` in a worker thread. Before anyio 4.13 that close was not shielded,
so in a cancelled task the thread call was never started and the file stayed open until the
garbage collector found it (a ResourceWarning; a leaked descriptor meanwhile). anyio 4.12 is the
last release for Python 3.9, so the shield is ours to add.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, Union

import anyio
import anyio.to_thread

__all__ = ["open_file"]


@asynccontextmanager
async def open_file(path: Union[str, os.PathLike[str]], mode: str) -> AsyncIterator[Any]:
    """``async with open_file(path, mode) as file``: an ``anyio.AsyncFile``, always closed."""
    file = anyio.wrap_file(await anyio.to_thread.run_sync(partial(open, path, mode)))
    try:
        yield file
    finally:
        with anyio.CancelScope(shield=True):
            await file.aclose()
