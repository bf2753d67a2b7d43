"""Fixtures for the emulator's protocol-level tests: a live emulator on a loopback port, and
plain httpx clients talking to it, on both AnyIO backends."""

from __future__ import annotations

from typing import AsyncIterator, Iterator

import httpx
import pytest

from fal_client.testing import Emulator


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run every async test on asyncio and on trio."""
    return str(request.param)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A running emulator with the built-in apps, fresh for each test."""
    with Emulator() as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for the emulator, sending the right key."""
    async with httpx.AsyncClient(
        base_url=emulator.url,
        headers={"Authorization": f"Key {emulator.key}"},
        timeout=10,
    ) as http:
        yield http


@pytest.fixture
async def anonymous(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for the emulator without credentials."""
    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as http:
        yield http
