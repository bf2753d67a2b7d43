"""Shared fixtures: one emulator per session, clients pointed at it, and a mode driver.

Every behaviour test is written once and runs in three modes: the async client under asyncio,
under trio, and the sync client (which drives the same engine through its portal thread).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from functools import partial
from typing import Any, Callable

import anyio
import pytest

import fal_client
from fal_client.testing import AppContext, AppError, Emulator, Gate


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _register_test_apps(emu: Emulator) -> None:
    @emu.app("test/echo", workers=16)
    async def echo(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        return {"echo": arguments, "request_id": ctx.request_id}

    @emu.app("test/logs", workers=4)
    async def logs(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        for i in range(int(arguments.get("n", 3))):
            ctx.log(f"step {i}")
        return {"ok": True}

    @emu.app("test/tokens", workers=8)
    async def tokens(arguments: dict[str, Any], ctx: AppContext) -> AsyncIterator[dict[str, Any]]:
        for i in range(int(arguments.get("n", 3))):
            yield {"token": i}

    @emu.app("test/invalid", workers=4)
    async def invalid(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        raise AppError(
            status_code=422,
            detail=[
                {"loc": ["body", "prompt"], "msg": "field required", "type": "value_error.missing"}
            ],
        )

    @emu.app("test/hold", workers=8)
    async def hold(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        ctx.log("holding")
        await GATES[arguments["gate"]].wait()
        return {"released": True}

    @emu.app("test/hold-stream", workers=8)
    async def hold_stream(
        arguments: dict[str, Any], ctx: AppContext
    ) -> AsyncIterator[dict[str, Any]]:
        yield {"token": 0}
        await GATES[arguments["gate"]].wait()
        yield {"token": 1}

    @emu.app("test/delay", workers=32)
    async def delay(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        # Durations chosen by the test make completion order differ from input order.
        await anyio.sleep(float(arguments.get("delay", 0)))
        return {"i": arguments.get("i")}

    @emu.app("test/maybe-fail", workers=32)
    async def maybe_fail(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        if arguments.get("fail"):
            raise AppError(status_code=422, detail=f"input {arguments.get('i')} is bad")
        if "gate" in arguments:
            await GATES[arguments["gate"]].wait()
        return {"i": arguments.get("i")}

    @emu.app("test/crash", workers=4)
    async def crash(arguments: dict[str, Any], ctx: AppContext) -> dict[str, Any]:
        raise RuntimeError("boom")


# Gates that the hold apps wait on, by name: a test opens one to let its job finish.
GATES: dict[str, Gate] = {}


@pytest.fixture
def new_gate(emu: Emulator) -> Callable[[], tuple[str, Gate]]:
    def make() -> tuple[str, Gate]:
        gate = emu.gate()
        name = f"g{len(GATES)}"
        GATES[name] = gate
        return name, gate

    return make


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    emu = Emulator()
    _register_test_apps(emu)
    with emu:
        yield emu


@pytest.fixture
def emu(emulator: Emulator) -> Iterator[Emulator]:
    """The session emulator, reset before each test (apps stay registered)."""
    emulator.reset()
    yield emulator
    emulator.reset()


@pytest.fixture
def client_options(emu: Emulator) -> dict[str, Any]:
    env = emu.env
    return {
        "key": env["FAL_KEY"],
        "run_url": env["FAL_RUN_URL"],
        "queue_url": env["FAL_QUEUE_URL"],
        "rest_url": env["FAL_REST_URL"],
        "cdn_url": env["FAL_CDN_URL"],
        "api_url": env["FAL_API_URL"],
    }


@pytest.fixture
def async_client(client_options: dict[str, Any]) -> fal_client.AsyncClient:
    return fal_client.AsyncClient(**client_options)


@pytest.fixture
def sync_client(client_options: dict[str, Any]) -> Iterator[fal_client.SyncClient]:
    client = fal_client.SyncClient(**client_options)
    yield client
    client.close()


class Driver:
    """Runs one client operation in the chosen mode and returns plain results."""

    def __init__(self, mode: str, options: dict[str, Any]):
        self.mode = mode
        self.options = options
        self._sync: fal_client.SyncClient | None = None

    @property
    def is_sync(self) -> bool:
        return self.mode == "sync"

    def sync_client(self) -> fal_client.SyncClient:
        if self._sync is None:
            self._sync = fal_client.SyncClient(**self.options)
        return self._sync

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()

    def _run_async(self, fn: Callable[[fal_client.AsyncClient], Any]) -> Any:
        async def main() -> Any:
            async with fal_client.AsyncClient(**self.options) as client:
                with anyio.fail_after(30):
                    return await fn(client)

        return anyio.run(main, backend=self.mode)

    def call(self, op: str, *args: Any, **kwargs: Any) -> Any:
        """``client.<op>(*args, **kwargs)``; handles come back wrapped for ``handle_call``."""
        if self.is_sync:
            return getattr(self.sync_client(), op)(*args, **kwargs)

        async def run(client: fal_client.AsyncClient) -> Any:
            return await getattr(client, op)(*args, **kwargs)

        return self._run_async(run)

    def collect(self, op: str, *args: Any, **kwargs: Any) -> list[Any]:
        """All items of an iterating operation (``stream``)."""
        if self.is_sync:
            return list(getattr(self.sync_client(), op)(*args, **kwargs))

        async def run(client: fal_client.AsyncClient) -> list[Any]:
            return [item async for item in getattr(client, op)(*args, **kwargs)]

        return self._run_async(run)

    def on_handle(self, app: str, request_id: str, op: str, *args: Any, **kwargs: Any) -> Any:
        """``get_handle(app, request_id).<op>(...)``; iterators are collected into lists."""
        if self.is_sync:
            value = getattr(self.sync_client().get_handle(app, request_id), op)(*args, **kwargs)
            return list(value) if op == "iter_events" else value

        async def run(client: fal_client.AsyncClient) -> Any:
            handle = await client.get_handle(app, request_id)
            value = getattr(handle, op)(*args, **kwargs)
            if op == "iter_events":
                return [item async for item in value]
            return await value

        return self._run_async(run)


@pytest.fixture(params=["asyncio", "trio", "sync"])
def mode(request: pytest.FixtureRequest, client_options: dict[str, Any]) -> Iterator[Driver]:
    driver = Driver(str(request.param), client_options)
    yield driver
    driver.close()


def threads_named(prefix: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(prefix)]


__all__ = ["Driver", "partial", "threads_named"]
