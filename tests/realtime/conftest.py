"""Realtime test fixtures: apps on the session emulator, and one driver for every mode.

A behaviour is written once as an ``async def body(session)`` where ``session(app, **kw)`` opens
a connection with awaitable ``send``/``recv``. Under asyncio and trio that is the
``AsyncClient`` itself; in ``sync`` mode it is the ``SyncClient`` called from a worker thread
(``anyio.to_thread``), so the sync code path, portal included, is what runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from typing import Any, Callable, Optional

import anyio
import anyio.to_thread
import pytest

import fal_client
from fal_client.testing import AppContext, Emulator

TIMEOUT_FRAME_APP = "test/rt-errors"


def _register(emu: Emulator) -> None:
    @emu.app("test/rt-crash", realtime=True)
    async def crash(message: dict[str, Any], ctx: AppContext) -> Optional[dict[str, Any]]:
        if message.get("crash"):
            raise ValueError("bad frame content")
        return {"ok": message}

    @emu.app("test/rt-parts", realtime=True)
    async def parts(message: dict[str, Any], ctx: AppContext) -> AsyncIterator[dict[str, Any]]:
        for n in range(int(message["count"])):
            yield {"part": n, "blob": b"x" * int(message.get("size", 0))}


@pytest.fixture
def rt_emu(emu: Emulator) -> Emulator:
    if "test/rt-crash" not in {a.name for a in emu.apps()}:
        _register(emu)
    return emu


class SyncAdapter:
    """A sync ``RealtimeConnection`` seen through awaitables (each call in a worker thread)."""

    def __init__(self, conn: fal_client.RealtimeConnection):
        self.conn = conn

    async def send(self, message: Any) -> None:
        await anyio.to_thread.run_sync(self.conn.send, message)

    async def recv(self) -> Any:
        return await anyio.to_thread.run_sync(self.conn.recv)

    async def collect(self) -> list[Any]:
        return await anyio.to_thread.run_sync(lambda: list(self.conn))


class AsyncAdapter:
    def __init__(self, conn: fal_client.AsyncRealtimeConnection):
        self.conn = conn

    async def send(self, message: Any) -> None:
        await self.conn.send(message)

    async def recv(self) -> Any:
        return await self.conn.recv()

    async def collect(self) -> list[Any]:
        return [m async for m in self.conn]


Body = Callable[[Callable[..., Any]], Awaitable[None]]


class RealtimeDriver:
    def __init__(self, mode: str, options: dict[str, Any]):
        self.mode = mode
        self.options = options

    def run(self, body: Body, *, options: Optional[dict[str, Any]] = None) -> None:
        opts = options or self.options
        backend = "asyncio" if self.mode == "sync" else self.mode

        async def main() -> None:
            if self.mode == "sync":
                client = fal_client.SyncClient(**opts)

                @asynccontextmanager
                async def session(app: str, **kw: Any) -> AsyncIterator[SyncAdapter]:
                    conn = client.realtime(app, **kw)
                    await anyio.to_thread.run_sync(conn.__enter__)
                    try:
                        yield SyncAdapter(conn)
                    finally:
                        await anyio.to_thread.run_sync(conn.__exit__, None, None, None)

                try:
                    with anyio.fail_after(30):
                        await body(session)
                finally:
                    await anyio.to_thread.run_sync(client.close)
            else:
                async with fal_client.AsyncClient(**opts) as aclient:

                    @asynccontextmanager
                    async def session(app: str, **kw: Any) -> AsyncIterator[AsyncAdapter]:
                        async with aclient.realtime(app, **kw) as conn:
                            yield AsyncAdapter(conn)

                    with anyio.fail_after(30):
                        await body(session)

        anyio.run(main, backend=backend)


@pytest.fixture(params=["asyncio", "trio", "sync"])
def rt(
    request: pytest.FixtureRequest, client_options: dict[str, Any], rt_emu: Emulator
) -> Iterator[RealtimeDriver]:
    yield RealtimeDriver(str(request.param), client_options)
