"""A tiny SSE reader for tests (kept here so tests do not depend on the code under test)."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import httpx


async def _events(response: httpx.Response) -> AsyncIterator[Any]:
    data: list[str] = []
    lines = response.aiter_lines()
    try:
        async for line in lines:
            if line.startswith("data:"):
                data.append(line[5:].lstrip())
            elif line == "" and data:
                yield json.loads("\n".join(data))
                data = []
        if data:
            yield json.loads("\n".join(data))
    finally:
        await lines.aclose()  # type: ignore[attr-defined]


async def iter_sse_json(response: httpx.Response) -> AsyncIterator[Any]:
    """Yield the JSON payload of each ``data:`` event; read it to the end."""
    async with open_sse_json(response) as events:
        async for event in events:
            yield event


@asynccontextmanager
async def open_sse_json(response: httpx.Response) -> AsyncIterator[AsyncIterator[Any]]:
    """Like :func:`iter_sse_json`, but closed on exit, so the caller may break out early."""
    events = _events(response)
    try:
        yield events
    finally:
        await events.aclose()  # type: ignore[attr-defined]
